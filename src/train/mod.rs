//! Training: optimiser, schedule, trainer, evaluation, checkpoints, metrics.

pub mod adam;
pub mod crc32c;
pub mod plots;
pub mod tensorboard;

pub use adam::{Adam, AdamConfig};
