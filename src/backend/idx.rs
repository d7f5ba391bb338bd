//! Index buffers that know, on the host, the range of the values they hold: the labels a
//! caller uploaded, or the argmax `max_time_fwd` wrote. The front layer ([`super::check`])
//! checks label and argmax contracts against that range, so no op ever reads device memory
//! back to validate its input, and every backend sees only in-range indices.

/// What the host knows about the values of an index buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxBounds {
    /// The buffer is empty.
    Empty,
    /// Every value lies in `lo..=hi`.
    Known(i32, i32),
    /// Written on the device by an op that promised nothing (or interrupted by an error).
    Unknown,
}

impl IdxBounds {
    /// The bounds of host data.
    pub fn of(data: &[i32]) -> IdxBounds {
        match (data.iter().min(), data.iter().max()) {
            (Some(&lo), Some(&hi)) => IdxBounds::Known(lo, hi),
            _ => IdxBounds::Empty,
        }
    }

    /// Whether every value is known to lie in `0..n`.
    pub fn within(self, n: usize) -> bool {
        match self {
            IdxBounds::Empty => true,
            IdxBounds::Known(lo, hi) => lo >= 0 && (hi as i64) < n as i64,
            IdxBounds::Unknown => false,
        }
    }
}

/// A backend's index buffer (`I`) with its length and value bounds: the `IBuf` of
/// [`super::Backend`].
#[derive(Debug)]
pub struct IdxBuf<I> {
    pub(super) raw: I,
    len: usize,
    pub(super) bounds: IdxBounds,
}

impl<I> IdxBuf<I> {
    pub(super) fn new(raw: I, len: usize, bounds: IdxBounds) -> Self {
        IdxBuf { raw, len, bounds }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether it holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
