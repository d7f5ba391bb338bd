//! A staging slot: how one batch and its step's values travel to the device. The host writes
//! the batch's f16 features, its labels and the step's [`StepVals`] into the slot's pinned
//! host memory, one copy on the backend's copy stream moves them to the slot's device memory
//! (overlapping the step before, on cuda), and the `input` op turns them into the step's
//! f32 input on the device. A training step uses two slots in turn, so batch k+1 travels
//! while step k runs.
//!
//! Layout of the staged bytes (host and device alike): the [`StepVals`] at 0, the labels
//! (`i32 [B]`) at [`SlotLayout::labels_at`], the features (`f16 [T, B, F]`, time-major as
//! the model reads them) at [`SlotLayout::x_at`]; every part 8-byte aligned.

use super::{Backend, IdxBounds, StepVals};
use crate::error::{Error, Result};
use half::f16;

/// The sizes of what a slot carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotLayout {
    /// Feature values of a batch (`T * B * F`).
    pub n: usize,
    /// Labels of a batch (`B`).
    pub b: usize,
}

impl SlotLayout {
    /// Byte offset of the labels.
    pub fn labels_at(&self) -> usize {
        StepVals::BYTES
    }
    /// Byte offset of the features.
    pub fn x_at(&self) -> usize {
        (self.labels_at() + 4 * self.b).next_multiple_of(8)
    }
    /// Bytes staged per batch.
    pub fn bytes(&self) -> usize {
        self.x_at() + 2 * self.n
    }
}

/// Pinned host memory and device memory for one batch at a time, with the range of the
/// labels staged last (so that the ops reading them on the device are checked on the host).
pub struct Slot<B: Backend + ?Sized> {
    pub(crate) host: B::Pinned,
    pub(crate) dev: B::Bytes,
    pub(crate) layout: SlotLayout,
    /// What the host knows of the labels on the device: `Unknown` until a batch is staged.
    pub(crate) labels: IdxBounds,
}

impl<B: Backend + ?Sized> Slot<B> {
    /// A slot for batches of `n` feature values and `b` labels.
    pub fn new(be: &B, layout: SlotLayout) -> Result<Self> {
        Ok(Slot {
            host: be.alloc_pinned(layout.bytes())?,
            dev: be.alloc_bytes(layout.bytes())?,
            layout,
            labels: IdxBounds::Unknown,
        })
    }

    /// Its sizes.
    pub fn layout(&self) -> SlotLayout {
        self.layout
    }

    /// Write a batch (`x` f16 `[T, B, F]`, labels `y`) and its step's values into the host
    /// memory (once the copy before has read it), then send it to the device on the copy
    /// stream: work queued after this sees it, and the host does not wait.
    pub fn stage(&mut self, be: &B, x: &[f16], y: &[i32], vals: &StepVals) -> Result<()> {
        let l = self.layout;
        if x.len() != l.n || y.len() != l.b {
            return Err(Error::shape(format!(
                "stage: a batch of {} feature values and {} labels into a slot for {} and {}",
                x.len(),
                y.len(),
                l.n,
                l.b
            )));
        }
        let host = be.pinned_mut(&mut self.host)?;
        host[..StepVals::BYTES].copy_from_slice(bytemuck::bytes_of(vals));
        host[l.labels_at()..l.labels_at() + 4 * l.b].copy_from_slice(bytemuck::cast_slice(y));
        host[l.x_at()..l.x_at() + 2 * l.n].copy_from_slice(bytemuck::cast_slice(x));
        // The device copy of the labels is about to change: unknown until the copy is queued.
        self.labels = IdxBounds::Unknown;
        be.send(&mut self.host, &mut self.dev, l.bytes())?;
        self.labels = IdxBounds::of(y);
        Ok(())
    }

    /// Mark that the work queued so far is all that reads this slot's device memory: the next
    /// [`Slot::stage`] overwrites it only after that work.
    pub fn release(&mut self, be: &B) -> Result<()> {
        be.release(&mut self.host)
    }
}
