//! libsoxr's "HQ" quality (`soxr_hq`, librosa >= 0.10's default), through the `soxr-sys`
//! crate, which compiles libsoxr 0.1.3 from the C sources it ships (no system library).
//! libsoxr is LGPL-2.1-or-later: see the README's licence section.
//!
//! The calls are python-soxr's `soxr.resample` (what librosa calls): one channel, float32 in
//! and out, `soxr_quality_spec(SOXR_HQ, 0)`, default runtime; the input is fed in chunks of
//! `48000 * from / to` samples into a buffer of `len * to / from + 1` samples, then flushed.
//! `librosa.resample` then pads or cuts the result to `ceil(len * to / from)`, as done here.

use crate::{Error, Result};
use soxr_sys as sys;
use std::ffi::CStr;

/// Frees the resampler on every path out of [`resample`].
struct Handle(sys::soxr_t);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from soxr_create and is deleted once.
        unsafe { sys::soxr_delete(self.0) }
    }
}

fn check(err: sys::soxr_error_t, what: &str) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: libsoxr's errors are static NUL-terminated strings.
    let msg = unsafe { CStr::from_ptr(err) }.to_string_lossy();
    Err(Error::Audio(format!("libsoxr {what}: {msg}")))
}

/// Resample mono `x` from `from` Hz to `to` Hz with libsoxr HQ; `ceil(len * to / from)`
/// samples out.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    let (fi, fo) = (f64::from(from), f64::from(to));
    let mut err: sys::soxr_error_t = std::ptr::null();
    // SAFETY: plain constructors of value structs.
    let io = unsafe {
        sys::soxr_io_spec(
            sys::soxr_datatype_t_SOXR_FLOAT32_I,
            sys::soxr_datatype_t_SOXR_FLOAT32_I,
        )
    };
    // SAFETY: as above.
    let quality = unsafe { sys::soxr_quality_spec(sys::SOXR_20_BITQ as _, 0) };
    // SAFETY: the specs live across the call; a null runtime spec means libsoxr's default.
    let h =
        Handle(unsafe { sys::soxr_create(fi, fo, 1, &mut err, &io, &quality, std::ptr::null()) });
    check(err, "create")?;
    if h.0.is_null() {
        return Err(Error::Audio("libsoxr create: no resampler".into()));
    }
    let olen = (x.len() as f64 * fo / fi + 1.0) as usize;
    let chunk = ((48000.0 * fi / fo) as usize).max(1);
    let mut y = vec![0.0f32; olen];
    let mut pos = 0usize;
    // Feeds `n` samples at `input` (null with 0: flush) and appends what comes out.
    let mut feed = |input: *const f32, n: usize, what: &str| -> Result<()> {
        let mut done = 0usize;
        // SAFETY: `input` is null or valid for `n` floats; `y[pos..]` holds olen - pos floats.
        let e = unsafe {
            sys::soxr_process(
                h.0,
                input.cast(),
                n,
                std::ptr::null_mut(),
                y[pos..].as_mut_ptr().cast(),
                olen - pos,
                &mut done,
            )
        };
        check(e, what)?;
        pos += done;
        Ok(())
    };
    for c in x.chunks(chunk) {
        feed(c.as_ptr(), c.len(), "process")?;
    }
    feed(std::ptr::null(), 0, "flush")?;
    y.truncate(pos);
    y.resize(super::output_len(x.len(), from, to), 0.0);
    Ok(y)
}
