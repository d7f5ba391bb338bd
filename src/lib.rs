//! recaux: trains an LSTM music-genre classifier with an input-reconstruction auxiliary loss
//! (loss = CE + λ·L1), many λ/seed replicas in one run, on hand-written CUDA kernels or the CPU
//! reference. See README.md and shared design notes for the architecture.

pub mod audio;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod data;
pub mod error;
pub mod gradcheck;
pub mod interop;
pub mod limits;
pub mod model;
pub mod profile;
pub mod rng;
pub mod safetensors_io;
pub mod train;

pub use error::{Error, Result};
