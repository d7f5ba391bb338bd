//! Training: optimiser, config, trainer, evaluation, checkpoints, metrics sinks (TensorBoard
//! event files, PNG plots) and the final results.

pub mod adam;
pub mod checkpoint;
pub mod config;
pub mod crc32c;
pub mod feature_record;
pub mod plots;
pub mod report;
pub mod results;
pub mod run_dir;
pub mod step;
pub mod tensorboard;
pub mod trainer;

pub use adam::{Adam, AdamConfig};
pub use config::TrainConfig;
