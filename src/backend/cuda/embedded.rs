//! What build.rs embedded: the kernels' fatbin (empty when built without nvcc), the
//! architectures it holds, and ptxas's resource report per kernel per arch.

/// The fatbin of kernels/*.cu (SASS per arch + PTX for the newest); empty without nvcc.
pub static FATBIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kernels.fatbin"));

/// ptxas's resource report as TSV (header line first); empty without nvcc.
pub static RESOURCES_TSV: &str = include_str!(concat!(env!("OUT_DIR"), "/kernels_resources.tsv"));

/// "embedded: ..." or "not built: <why>".
pub const STATUS: &str = env!("RECAUX_KERNELS_STATUS");

/// How to get the kernels when they are missing.
pub const HOW_TO_INSTALL: &str = "install nvcc with `bash scripts/install-nvcc.sh` (CUDA 13.0 from PyPI into .cuda/), \
     or point NVCC / CUDA_HOME at a CUDA toolkit, then rebuild (`cargo build --release`)";

/// Whether kernels are embedded.
pub fn embedded() -> bool {
    !FATBIN.is_empty()
}

/// The SASS architectures in the fatbin, e.g. `[80, 86, 89, 90]`.
pub fn archs() -> Vec<u32> {
    env!("RECAUX_CUDA_ARCHS_BUILT")
        .split(',')
        .filter_map(|s| s.trim().trim_start_matches("sm_").parse().ok())
        .collect()
}

/// One kernel's resources on one architecture, from ptxas -v.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KernelResources {
    /// e.g. "sm_90".
    pub arch: String,
    /// Kernel name, e.g. "relu_fwd_f32".
    pub kernel: String,
    /// Registers per thread.
    pub registers: u32,
    /// Static shared memory per block, bytes.
    pub shared_bytes: u64,
    /// Stack frame per thread, bytes.
    pub stack_bytes: u64,
    /// Register spill stores, bytes.
    pub spill_stores: u64,
    /// Register spill loads, bytes.
    pub spill_loads: u64,
    /// Local memory per thread, bytes.
    pub local_bytes: u64,
}

/// The parsed resource report (empty without nvcc).
pub fn resources() -> Vec<KernelResources> {
    RESOURCES_TSV
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != 8 {
                return None;
            }
            Some(KernelResources {
                arch: f[0].to_string(),
                kernel: f[1].to_string(),
                registers: f[2].parse().ok()?,
                shared_bytes: f[3].parse().ok()?,
                stack_bytes: f[4].parse().ok()?,
                spill_stores: f[5].parse().ok()?,
                spill_loads: f[6].parse().ok()?,
                local_bytes: f[7].parse().ok()?,
            })
        })
        .collect()
}
