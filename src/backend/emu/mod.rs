//! The emu backend: kernels/*.cu compiled for the host and run block by block, thread by thread.
