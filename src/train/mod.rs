//! Training: optimiser, schedule, trainer, evaluation, checkpoints, metrics.

pub mod adam;

pub use adam::{Adam, AdamConfig};
