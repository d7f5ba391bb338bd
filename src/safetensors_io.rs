//! Reading and writing safetensors files with one-line errors that name the tensor.

use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A safetensors file read into memory.
pub struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    /// Read and validate the header of `path` (at most [`crate::limits::MAX_TENSOR_FILE_BYTES`]).
    pub fn open(path: &Path) -> Result<Self> {
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if len > crate::limits::MAX_TENSOR_FILE_BYTES {
            return Err(Error::Format(format!(
                "{}: {len} bytes, above the limit of {} for a tensor file",
                path.display(),
                crate::limits::MAX_TENSOR_FILE_BYTES
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        SafeTensors::deserialize(&bytes).map_err(|e| {
            Error::Format(format!("{}: not a safetensors file: {e}", path.display()))
        })?;
        Ok(TensorFile {
            path: path.to_path_buf(),
            bytes,
        })
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("header validated in open")
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.st().names().into_iter().map(String::from).collect();
        v.sort();
        v
    }

    /// A tensor's shape, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.st().tensor(name).ok().map(|t| t.shape().to_vec())
    }

    /// The `__metadata__` map.
    pub fn metadata(&self) -> HashMap<String, String> {
        SafeTensors::read_metadata(&self.bytes)
            .ok()
            .and_then(|(_, m)| m.metadata().clone())
            .unwrap_or_default()
    }

    fn view(
        &self,
        name: &str,
        dtypes: &[Dtype],
        shape: Option<&[usize]>,
    ) -> Result<TensorView<'_>> {
        let st = self.st();
        let t = st
            .tensor(name)
            .map_err(|_| Error::tensor(name, format!("missing from {}", self.path.display())))?;
        if !dtypes.contains(&t.dtype()) {
            let want: Vec<String> = dtypes.iter().map(|d| format!("{d:?}")).collect();
            return Err(Error::tensor(
                name,
                format!(
                    "dtype {:?} in {}, expected {}",
                    t.dtype(),
                    self.path.display(),
                    want.join(" or ")
                ),
            ));
        }
        if let Some(want) = shape
            && t.shape() != want
        {
            return Err(Error::tensor(
                name,
                format!(
                    "shape {:?} in {}, expected {want:?}",
                    t.shape(),
                    self.path.display()
                ),
            ));
        }
        Ok(t)
    }

    /// An F32 tensor (with its shape checked when `shape` is given).
    pub fn f32(&self, name: &str, shape: Option<&[usize]>) -> Result<(Vec<f32>, Vec<usize>)> {
        let t = self.view(name, &[Dtype::F32], shape)?;
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok((v, t.shape().to_vec()))
    }

    /// An F32 or F64 tensor as f64.
    pub fn float(&self, name: &str, shape: Option<&[usize]>) -> Result<(Vec<f64>, Vec<usize>)> {
        let t = self.view(name, &[Dtype::F32, Dtype::F64], shape)?;
        let v = match t.dtype() {
            Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
                .collect(),
            _ => t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        };
        Ok((v, t.shape().to_vec()))
    }

    /// An I64 (or I32) integer tensor.
    pub fn int(&self, name: &str, shape: Option<&[usize]>) -> Result<(Vec<i64>, Vec<usize>)> {
        let t = self.view(name, &[Dtype::I64, Dtype::I32], shape)?;
        let v = match t.dtype() {
            Dtype::I64 => t
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            _ => t
                .data()
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect(),
        };
        Ok((v, t.shape().to_vec()))
    }
}

/// Collects tensors and writes one safetensors file atomically (temp file, fsync, rename).
#[derive(Default)]
pub struct TensorWriter {
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl TensorWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Add an F32 tensor.
    pub fn f32(&mut self, name: &str, shape: &[usize], data: &[f32]) -> &mut Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors
            .insert(name.into(), (Dtype::F32, shape.to_vec(), bytes));
        self
    }
    /// Add an F64 tensor.
    pub fn f64(&mut self, name: &str, shape: &[usize], data: &[f64]) -> &mut Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors
            .insert(name.into(), (Dtype::F64, shape.to_vec(), bytes));
        self
    }
    /// Add a tensor of the backend element type `T`, stored as F32 or F64 to match it.
    pub fn elems<T: crate::backend::Elem>(
        &mut self,
        name: &str,
        shape: &[usize],
        v: &[T],
    ) -> &mut Self {
        if T::DTYPE == "f32" {
            let d: Vec<f32> = v.iter().map(|x| x.f64() as f32).collect();
            self.f32(name, shape, &d)
        } else {
            let d: Vec<f64> = v.iter().map(|x| x.f64()).collect();
            self.f64(name, shape, &d)
        }
    }
    /// Add an I64 tensor.
    pub fn i64(&mut self, name: &str, shape: &[usize], data: &[i64]) -> &mut Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors
            .insert(name.into(), (Dtype::I64, shape.to_vec(), bytes));
        self
    }
    /// Add a `__metadata__` entry.
    pub fn meta(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    /// Write to `path` through a temporary file in the same folder, fsynced, then renamed.
    pub fn write(&self, path: &Path) -> Result<()> {
        let views = self
            .tensors
            .iter()
            .map(|(n, (d, s, b))| {
                TensorView::new(*d, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| Error::tensor(n, format!("{e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = if self.meta.is_empty() {
            None
        } else {
            Some(self.meta.clone())
        };
        let bytes = safetensors::serialize(views, meta)
            .map_err(|e| Error::Format(format!("serialize: {e}")))?;
        crate::safetensors_io::write_atomic(path, &bytes)
    }
}

/// Write `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
