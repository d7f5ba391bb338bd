//! The .npy format (numpy's `np.save`/`np.load`): a magic string, a version, a Python-dict
//! header (`descr`, `fortran_order`, `shape`) padded to a 64-byte boundary, then raw
//! little-endian C-order data. Writes version 1.0 `<f4`; reads versions 1-3, `<f4` and `<f8`.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Write `data` (row-major, `shape` dims multiplying to `data.len()`) as a float32 .npy file.
pub fn write_npy_f32(path: &Path, data: &[f32], shape: &[usize]) -> Result<()> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::shape(format!(
            "npy: shape {shape:?} does not hold {} values",
            data.len()
        )));
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // magic(6) + version(2) + header length(2) + header + '\n' is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.div_ceil(64) * 64 - total));
    header.push('\n');
    let hlen = u16::try_from(header.len())
        .map_err(|_| Error::shape(format!("npy: shape {shape:?} too long for a header")))?;
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * data.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&hlen.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(&bytes).map_err(|e| Error::io(path, e))
}

/// An array read from a .npy file, converted to f64.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Row-major dims (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// The values, C order.
    pub data: Vec<f64>,
    /// The stored dtype, `"<f4"` or `"<f8"`.
    pub descr: String,
}

/// Read a float32 or float64 .npy file (C order, little-endian).
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|m| Error::Format(format!("{}: npy: {m}", path.display())))
}

/// Read a .npy file as f32 values and its shape (float64 files are rounded to f32).
pub fn read_npy_f32(path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    let a = read_npy(path)?;
    Ok((a.data.iter().map(|&v| v as f32).collect(), a.shape))
}

fn parse_npy(b: &[u8]) -> std::result::Result<NpyArray, String> {
    if b.len() < 10 || &b[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let (hlen, hstart) = match b[6] {
        1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!("unsupported version {v}")),
    };
    let header = b.get(hstart..hstart + hlen).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("no descr")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_string();
    let width = match descr.as_str() {
        "<f4" => 4,
        "<f8" => 8,
        d => return Err(format!("unsupported dtype {d} (want <f4 or <f8)")),
    };
    if dict_value(header, "fortran_order").ok_or("no fortran_order")? != "False" {
        return Err("fortran_order arrays are not supported".into());
    }
    let shape_s = dict_value(header, "shape").ok_or("no shape")?;
    let shape: Vec<usize> = shape_s
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape {shape_s}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let body = &b[hstart + hlen..];
    if body.len() != n * width {
        return Err(format!(
            "data holds {} bytes, shape {shape:?} of {descr} needs {}",
            body.len(),
            n * width
        ));
    }
    let data = if width == 4 {
        body.chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    };
    Ok(NpyArray { shape, data, descr })
}

/// The text of `'key': value` in a numpy header dict (value up to the next top-level comma).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let rest = header[header.find(&pat)? + pat.len()..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_padded_and_round_trips() {
        let dir = std::env::temp_dir().join(format!("recaux-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for shape in [vec![6usize], vec![2, 3], vec![1, 2, 3]] {
            let p = dir.join("a.npy");
            let data = [1.5f32, -2.0, 3.25, 0.0, 1e-8, 7.0];
            write_npy_f32(&p, &data, &shape).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0);
            assert_eq!(bytes[10 + hlen - 1], b'\n');
            let (back, s) = read_npy_f32(&p).unwrap();
            assert_eq!(s, shape);
            assert_eq!(back, data);
        }
        assert!(write_npy_f32(&dir.join("b.npy"), &[1.0], &[2]).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_npy(b"hello world, not numpy").is_err());
        assert!(parse_npy(b"\x93NUMPY\x01\x00\xff\xff").is_err());
    }
}
