//! `--backend auto|cpu|cuda|emu`: resolving the choice and running a command on it.

/// Which backend a command runs on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// CUDA when a usable GPU and embedded kernels exist, else the CPU.
    #[default]
    Auto,
    /// The CPU reference.
    Cpu,
    /// The CUDA kernels on GPU 0.
    Cuda,
    /// The CUDA kernels compiled for the host and run thread by thread (slow; for testing).
    Emu,
}

/// A resolved backend choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    Cpu,
    Cuda,
    Emu,
}

/// Resolve `auto` (saying what it chose and why on stderr).
pub fn resolve(choice: BackendChoice) -> anyhow::Result<Resolved> {
    Ok(match choice {
        BackendChoice::Cpu => Resolved::Cpu,
        BackendChoice::Cuda => Resolved::Cuda,
        BackendChoice::Emu => Resolved::Emu,
        BackendChoice::Auto => match crate::backend::cuda::cuda_available() {
            Ok(name) => {
                eprintln!("backend auto: cuda ({name})");
                Resolved::Cuda
            }
            Err(why) => {
                eprintln!("backend auto: cpu (cuda not usable: {why})");
                Resolved::Cpu
            }
        },
    })
}

/// Run `$body` with `$be` bound to a backend of element type `$t` for `$choice`.
#[macro_export]
macro_rules! with_backend {
    ($choice:expr, $t:ty, |$be:ident| $body:expr) => {{
        match $crate::cli::backend_arg::resolve($choice)? {
            $crate::cli::backend_arg::Resolved::Cpu => {
                let $be = $crate::backend::cpu::CpuBackend::<$t>::new();
                $body
            }
            $crate::cli::backend_arg::Resolved::Cuda => {
                let $be = $crate::backend::cuda::CudaBackend::<$t>::new(0)?;
                $body
            }
            $crate::cli::backend_arg::Resolved::Emu => {
                let $be = $crate::backend::emu::EmuBackend::<$t>::new()?;
                $body
            }
        }
    }};
}

impl From<BackendChoice> for crate::train::config::BackendName {
    fn from(b: BackendChoice) -> Self {
        use crate::train::config::BackendName as N;
        match b {
            BackendChoice::Auto => N::Auto,
            BackendChoice::Cpu => N::Cpu,
            BackendChoice::Cuda => N::Cuda,
            BackendChoice::Emu => N::Emu,
        }
    }
}

impl From<crate::train::config::BackendName> for BackendChoice {
    fn from(b: crate::train::config::BackendName) -> Self {
        use crate::train::config::BackendName as N;
        match b {
            N::Auto => BackendChoice::Auto,
            N::Cpu => BackendChoice::Cpu,
            N::Cuda => BackendChoice::Cuda,
            N::Emu => BackendChoice::Emu,
        }
    }
}
