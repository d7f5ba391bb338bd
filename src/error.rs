//! The crate's one error type. Library code returns `Result<T>`; the CLI turns an error into
//! one line and a non-zero exit.

use std::path::PathBuf;

/// Everything that can go wrong in recaux, by domain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor or op argument has the wrong shape or length.
    #[error("shape error: {0}")]
    Shape(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content is malformed (safetensors, csv, npy, store...).
    #[error("{0}")]
    Format(String),
    /// A required tensor is missing or has the wrong dtype/shape in a safetensors file.
    #[error("tensor `{name}`: {msg}")]
    Tensor { name: String, msg: String },
    /// A configuration value (a config field, a flag, a limit) is invalid; names it.
    #[error("`{field}`: {msg}")]
    Config { field: String, msg: String },
    /// Audio decoding or feature extraction failed.
    #[error("audio: {0}")]
    Audio(String),
    /// Dataset or feature store problem.
    #[error("data: {0}")]
    Data(String),
    /// The CUDA backend is unavailable (no kernels built, no driver, no device) or failed.
    #[error("cuda: {0}")]
    Cuda(String),
    /// An operation is not supported by this backend / dtype / build.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An error about the content of a file (a config field, a tensor...), with the file.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    /// A NaN or Inf appeared where a finite number is required.
    #[error("numerical fault: {0}")]
    Numeric(String),
}

/// Result with the crate's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error tagged with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// A shape error from a formatted message.
    pub fn shape(msg: impl Into<String>) -> Self {
        Error::Shape(msg.into())
    }
    /// A config error naming the field.
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }
    /// This error, said to be about the content of the file `path`.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        Error::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }
    /// A tensor error naming the tensor.
    pub fn tensor(name: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Tensor {
            name: name.into(),
            msg: msg.into(),
        }
    }
}
