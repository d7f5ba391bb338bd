//! The CUDA backend: launchers over kernels/*.cu (embedded fatbin) through cudarc.
