//! Reading and writing safetensors files with clear per-tensor errors.
