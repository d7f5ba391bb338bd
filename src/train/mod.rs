//! Training: optimiser schedule, trainer, evaluation, checkpoints, metrics.
