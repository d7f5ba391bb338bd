//! input (`input`): kernels/input.cu, src/backend/{kernel,cpu}/input.rs, fed through a
//! staging slot (src/backend/slot.rs): a batch's f16 features widened exactly, its labels
//! (with the range the host staged) and its step's values.

use crate::common::*;
use half::f16;
use recaux::backend::{Backend, Slot, SlotLayout, StepVals};

fn vals() -> StepVals {
    let mut v = StepVals {
        dropout_step: 0x1234_5678_9abc,
        record_row: 5,
        bc2_sqrt: 0.125,
        ..bytemuck::Zeroable::zeroed()
    };
    v.step_size[1] = 0.25;
    v.keep[2] = 1;
    v
}

/// Stage a batch in a slot and run `input`: x (as T), y, the step's values.
fn run<B: Backend>(
    be: &B,
    x16: &[f16],
    y: &[i32],
    sv: &StepVals,
) -> (Vec<B::T>, Vec<i32>, StepVals) {
    let l = SlotLayout {
        n: x16.len(),
        b: y.len(),
    };
    let mut slot = Slot::new(be, l).unwrap();
    slot.stage(be, x16, y, sv).unwrap();
    let mut x = be.alloc(l.n).unwrap();
    let mut yb = be.alloc_idx(l.b).unwrap();
    let mut vb = be.alloc_bytes(StepVals::BYTES).unwrap();
    be.input(&slot, &mut x, &mut yb, &mut vb).unwrap();
    (
        be.download(&x).unwrap(),
        be.download_idx(&yb).unwrap(),
        StepVals::from_bytes(&be.read_bytes(&vb).unwrap()),
    )
}

/// All 65536 f16 bit patterns (subnormals, infinities, NaNs with payloads) widen to the
/// same bits as the `half` crate's conversion on the host (what the sampler used before the
/// batch went to the device as f16), on every backend; labels and values arrive as staged.
fn every_f16<B: Backend>(be: &B) {
    let x16: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
    let y = [3, 0, 7];
    let (x, yy, v) = run(be, &x16, &y, &vals());
    let want32: Vec<f32> = x16.iter().map(|h| h.to_f32()).collect();
    let want: Vec<u8> = if size_of::<B::T>() == 4 {
        bytemuck::cast_slice(&want32).to_vec()
    } else {
        let w64: Vec<f64> = want32.iter().map(|&v| v as f64).collect();
        bytemuck::cast_slice(&w64).to_vec()
    };
    let got: &[u8] = bytemuck::cast_slice(&x);
    let es = size_of::<B::T>();
    if let Some(i) =
        (0..x16.len()).find(|&i| got[i * es..(i + 1) * es] != want[i * es..(i + 1) * es])
    {
        panic!(
            "{} {}: f16 bits {:#06x} widen to {:?}, the host's conversion gives {:?}",
            be.name(),
            B::T::DTYPE,
            i,
            &got[i * es..(i + 1) * es],
            &want[i * es..(i + 1) * es]
        );
    }
    assert_eq!(yy, y, "{}: labels", be.name());
    assert_eq!(v, vals(), "{}: step values", be.name());
}

use recaux::backend::Elem;

#[test]
fn input_widens_every_f16_exactly_and_copies_labels_and_values() {
    every_backend!(every_f16);
}

/// The labels' range travels with the slot: a label outside 0..C staged on the host is
/// refused by the next op that reads it, and a slot with nothing staged is refused.
fn label_range<B: Backend>(be: &B) {
    let l = SlotLayout { n: 4, b: 2 };
    let mut slot = Slot::new(be, l).unwrap();
    let mut x = be.alloc(4).unwrap();
    let mut y = be.alloc_idx(2).unwrap();
    let mut v = be.alloc_bytes(StepVals::BYTES).unwrap();
    let e = be.input(&slot, &mut x, &mut y, &mut v).unwrap_err();
    assert!(e.to_string().contains("no staged batch"), "{e}");
    let x16 = [f16::ZERO; 4];
    slot.stage(be, &x16, &[1, 9], &vals()).unwrap();
    be.input(&slot, &mut x, &mut y, &mut v).unwrap();
    let logits = be.alloc(2 * 4).unwrap();
    let mut loss = be.alloc(1).unwrap();
    let e = be.ce_fwd(1, 2, 4, &logits, &y, &mut loss).unwrap_err();
    assert!(e.to_string().contains("outside 0..4"), "{e}");
    slot.stage(be, &x16, &[1, 3], &vals()).unwrap();
    be.input(&slot, &mut x, &mut y, &mut v).unwrap();
    be.ce_fwd(1, 2, 4, &logits, &y, &mut loss).unwrap();
    let e = slot.stage(be, &x16[..3], &[1, 3], &vals()).unwrap_err();
    assert!(e.to_string().contains("a slot for 4"), "{e}");
}

#[test]
fn input_labels_keep_the_range_the_host_staged() {
    every_backend!(label_range);
}

pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    // more values than the emu grid's threads (8 x 256), so the grid-stride loop runs
    let x16: Vec<f16> = data(5000, 4).iter().map(|&v| f16::from_f64(v)).collect();
    let (x, y, v) = run(be, &x16, &[2, 1, 0], &vals());
    vec![
        x,
        y.iter().map(|&k| B::T::of(k as f64)).collect(),
        bytemuck::bytes_of(&v)
            .iter()
            .map(|&b| B::T::of(b as f64))
            .collect(),
    ]
}
