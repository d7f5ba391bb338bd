//! Training: optimiser, config, trainer, evaluation, checkpoints, metrics.

pub mod adam;
pub mod checkpoint;
pub mod config;
pub mod results;
pub mod trainer;

pub use adam::{Adam, AdamConfig};
pub use config::TrainConfig;
