//! The training step (`recaux::train::step::Step`, what `recaux train` and `recaux bench` run):
//! - after warm-up it allocates nothing, waits for the device once, and reads back at most
//!   64 bytes per replica per step (emu, whose counters are exact: M = 1 and M = 8);
//! - it computes what the op-by-op path computes (forward, backward, Adam), bit for bit;
//! - a replica whose gradients go non-finite is frozen on the device: its parameters stay as
//!   they were while the host keeps asking it to train, and the others equal their solo runs.

use recaux::backend::cpu::CpuBackend;
use recaux::backend::emu::EmuBackend;
use recaux::backend::{Backend, Precision};
use recaux::model::{self, Grads, Mode, Model, ModelSpec, Workspace};
use recaux::train::step::{Record, Step};
use recaux::train::{Adam, AdamConfig};

const SPEC: ModelSpec = ModelSpec {
    features: 6,
    hidden: 5,
    fc1: 7,
    classes: 3,
    dropout: 0.2,
};
const T: usize = 5;
const B: usize = 3;

/// Batch `k`: f16 values (as the store's sampler gives them) and labels.
fn batch(k: usize) -> (Vec<f32>, Vec<i32>) {
    batch_of(&SPEC, T, B, k)
}

/// Batch `k` of `[t, b, features]` for `spec`.
fn batch_of(spec: &ModelSpec, t: usize, b: usize, k: usize) -> (Vec<f32>, Vec<i32>) {
    let x = (0..t * b * spec.features)
        .map(|i| half::f16::from_f32(((i * 7 + k * 3) as f32 * 0.31).sin() * 0.9).to_f32())
        .collect();
    let y = (0..b).map(|i| ((i + k) % spec.classes) as i32).collect();
    (x, y)
}

/// The records of a run's steps and its final parameters.
type Run<B> = (Vec<Record>, Vec<Vec<<B as Backend>::T>>);

/// `steps` steps of replicas with these seeds and λs through `Step`; the records and the
/// final parameters.
fn run_step<B: Backend>(be: &B, seeds: &[u64], lambdas: &[f64], steps: usize) -> Run<B> {
    run_step_graphs(be, seeds, lambdas, steps, true).0
}

/// [`run_step`] with recorded steps on or off; and why the step ran eagerly, if it did.
fn run_step_graphs<B: Backend>(
    be: &B,
    seeds: &[u64],
    lambdas: &[f64],
    steps: usize,
    graphs: bool,
) -> (Run<B>, Option<String>) {
    let m = seeds.len();
    let mut model = Model::init(be, SPEC, seeds).unwrap();
    let mut adam = Adam::new(be, &model, AdamConfig::default()).unwrap();
    let keep = vec![true; m];
    let lr = vec![1e-2; m];
    let mut st = Step::new(be, &mut model, &mut adam, lambdas, &keep, 1).unwrap();
    st.set_graphs(graphs);
    let mut recs = Vec::new();
    for k in 0..steps {
        let (x, y) = batch(k);
        st.queue(be, &mut model, &mut adam, (&x, &y, T), k as u64, &lr, &keep)
            .unwrap();
        recs.extend(st.read(be).unwrap());
    }
    let params = model
        .params
        .iter()
        .map(|p| be.download(p).unwrap())
        .collect();
    ((recs, params), st.eager_reason().map(str::to_string))
}

/// Allocations, synchronisations and bytes read back per step after warm-up (the shape's
/// first step, eager, and the recording of its two slots), for M replicas of `spec` at
/// `precision`.
fn lean_after_warm_up(m: usize, spec: ModelSpec, (t, b): (usize, usize), precision: Precision) {
    let be = EmuBackend::<f32>::new().unwrap();
    be.set_precision(precision).unwrap();
    let seeds: Vec<u64> = (0..m as u64).collect();
    let lambdas: Vec<f64> = (0..m).map(|r| r as f64 * 0.5).collect();
    let mut model = Model::init(&be, spec, &seeds).unwrap();
    let mut adam = Adam::new(&be, &model, AdamConfig::default()).unwrap();
    let keep = vec![true; m];
    let lr = vec![1e-3; m];
    let mut st = Step::new(&be, &mut model, &mut adam, &lambdas, &keep, 1).unwrap();
    let (warm, timed) = (3, 3);
    let mut c0 = be.counters();
    for k in 0..warm + timed {
        if k == warm {
            c0 = be.counters();
        }
        let (x, y) = batch_of(&spec, t, b, k);
        st.queue(
            &be,
            &mut model,
            &mut adam,
            (&x, &y, t),
            k as u64,
            &lr,
            &keep,
        )
        .unwrap();
        let rec = st.read(&be).unwrap();
        assert_eq!(rec.len(), 1, "one record per step");
        assert!(rec[0].ce.iter().all(|c| c.is_finite() && *c > 0.0));
    }
    assert_eq!(
        st.eager_reason(),
        None,
        "{precision}: the steps were recorded"
    );
    let c = be.counters().since(&c0);
    let n = timed as u64;
    assert_eq!(
        c.allocs, 0,
        "M={m} {precision}: device allocations after warm-up: {c:?}"
    );
    assert!(
        c.syncs <= n,
        "M={m} {precision}: {} host<->device syncs in {n} steps: {c:?}",
        c.syncs
    );
    assert!(
        c.dtoh_bytes <= 64 * m as u64 * n,
        "M={m} {precision}: {} bytes read back in {n} steps: {c:?}",
        c.dtoh_bytes
    );
    assert!(c.kernels() > 0, "the steps ran: {c:?}");
}

#[test]
fn step_on_emu_after_warm_up_allocates_nothing_syncs_once_and_reads_64_bytes_per_replica_m1() {
    lean_after_warm_up(1, SPEC, (T, B), Precision::F32);
}

#[test]
fn step_on_emu_after_warm_up_allocates_nothing_syncs_once_and_reads_64_bytes_per_replica_m8() {
    lean_after_warm_up(8, SPEC, (T, B), Precision::F32);
}

/// Widths the fast kernels run (H a multiple of 16, operands aligned for the tensor cores).
const FAST_SPEC: ModelSpec = ModelSpec {
    features: 8,
    hidden: 16,
    fc1: 8,
    classes: 3,
    dropout: 0.2,
};

#[test]
fn step_in_bf16_on_the_persistent_lstm_and_tensor_core_gemms_allocates_nothing_after_warm_up() {
    let be = EmuBackend::<f32>::new().unwrap();
    be.set_precision(Precision::Bf16).unwrap();
    let shape = recaux::backend::LstmShape {
        m: 2,
        t: 4,
        b: 2,
        i: FAST_SPEC.features,
        h: FAST_SPEC.hidden,
    };
    let kernel = be.lstm_sizes(&shape).kernel;
    assert!(
        kernel.contains("persist") && kernel.contains("gemm_tc"),
        "the fast kernels run at this shape: {kernel}"
    );
    lean_after_warm_up(2, FAST_SPEC, (4, 2), Precision::Bf16);
}

/// The op-by-op path (model::forward, backward, Adam::update): records and parameters.
fn run_ops<B: Backend>(
    be: &B,
    seeds: &[u64],
    lambdas: &[f64],
    steps: usize,
) -> (Vec<Vec<f64>>, Vec<Vec<B::T>>) {
    let m = seeds.len();
    let mut model = Model::init(be, SPEC, seeds).unwrap();
    let mut adam = Adam::new(be, &model, AdamConfig::default()).unwrap();
    let mut ws = Workspace::new(be, &SPEC, m, T, B).unwrap();
    let mut grads = Grads::new(be, &model).unwrap();
    let lr = vec![1e-2; m];
    let mut ce = Vec::new();
    for k in 0..steps {
        let (x, y) = batch(k);
        let xt: Vec<B::T> = x.iter().map(|&v| num_traits::cast(v).unwrap()).collect();
        let (xb, yb) = (be.upload(&xt).unwrap(), be.upload_idx(&y).unwrap());
        let mode = Mode::Train { step: k as u64 };
        let l = model::forward(be, &model, &mut ws, &xb, &yb, mode).unwrap();
        ce.push(l.ce);
        grads.zero(be).unwrap();
        model::backward(be, &model, &mut ws, &xb, &yb, mode, lambdas, &mut grads).unwrap();
        adam.update(be, &mut model, &grads, &lr).unwrap();
    }
    let params = model
        .params
        .iter()
        .map(|p| be.download(p).unwrap())
        .collect();
    (ce, params)
}

fn step_equals_ops<B: Backend>(be: &B) {
    let (seeds, lambdas) = ([3u64, 9], [0.5, 4.0]);
    let (recs, p_step) = run_step(be, &seeds, &lambdas, 3);
    let (ce, p_ops) = run_ops(be, &seeds, &lambdas, 3);
    assert_eq!(recs.len(), ce.len(), "{}: steps", be.name());
    for (k, (r, c)) in recs.iter().zip(&ce).enumerate() {
        assert_eq!(&r.ce, c, "{}: step {k} cross entropy", be.name());
        assert_eq!(r.nonfinite, vec![false; 2], "{}: step {k}", be.name());
    }
    assert_eq!(p_step.len(), p_ops.len());
    for (k, (a, b)) in p_step.iter().zip(&p_ops).enumerate() {
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(b)
                .all(|(x, y)| bytemuck::bytes_of(x) == bytemuck::bytes_of(y)),
            "{}: parameter {k} after 3 steps differs from the op-by-op path",
            be.name()
        );
    }
}

#[test]
fn step_equals_the_op_by_op_path_bit_for_bit_on_cpu_and_emu() {
    step_equals_ops(&CpuBackend::<f32>::new());
    step_equals_ops(&EmuBackend::<f32>::new().unwrap());
}

fn frozen_on_device<B: Backend>(be: &B) {
    let seeds = [5u64, 6, 7];
    // λ = 1e300 overflows f32 in the L1 backward: replica 1's gradients are infinite at the
    // first step. The host never stops it (keep stays true): only the device guard acts.
    let lambdas = [1.0, 1e300, 2.0];
    let init = Model::init(be, SPEC, &seeds).unwrap();
    let init: Vec<Vec<B::T>> = init
        .params
        .iter()
        .map(|p| be.download(p).unwrap())
        .collect();
    let c0 = be.counters();
    let (recs, params) = run_step(be, &seeds, &lambdas, 3);
    let c = be.counters().since(&c0);
    assert!(
        recs[0].nonfinite[1],
        "{}: step 0 flags replica 1",
        be.name()
    );
    assert!(!recs[0].nonfinite[0] && !recs[0].nonfinite[2]);
    for (k, (p, p0)) in params.iter().zip(&init).enumerate() {
        let n = p.len() / 3;
        assert!(
            p[n..2 * n]
                .iter()
                .zip(&p0[n..2 * n])
                .all(|(a, b)| bytemuck::bytes_of(a) == bytemuck::bytes_of(b)),
            "{}: frozen replica 1, parameter {k} changed",
            be.name()
        );
        assert!(
            p[..n].iter().zip(&p0[..n]).any(|(a, b)| a != b),
            "{}: replica 0 trained (parameter {k})",
            be.name()
        );
    }
    // the healthy replicas equal their solo runs
    for r in [0, 2] {
        let (solo_recs, solo) = run_step(be, &seeds[r..r + 1], &lambdas[r..r + 1], 3);
        for (k, (a, b)) in recs.iter().zip(&solo_recs).enumerate() {
            assert_eq!(a.ce[r], b.ce[0], "{}: replica {r} step {k}", be.name());
            assert_eq!(a.l1[r], b.l1[0], "{}: replica {r} step {k}", be.name());
        }
        for (k, (p, s)) in params.iter().zip(&solo).enumerate() {
            let n = s.len();
            assert!(
                p[r * n..(r + 1) * n]
                    .iter()
                    .zip(s)
                    .all(|(a, b)| bytemuck::bytes_of(a) == bytemuck::bytes_of(b)),
                "{}: replica {r} parameter {k} differs from its solo run",
                be.name()
            );
        }
    }
    if be.name() == "emu" {
        // what the host read during those steps: the records and the final parameters
        // (the init download came before c0), nothing per gradient
        let param_bytes: u64 = params
            .iter()
            .map(|p| (p.len() * size_of::<B::T>()) as u64)
            .sum();
        let rec_bytes = 3 * 3 * 4 * size_of::<B::T>() as u64;
        assert_eq!(c.dtoh_bytes, param_bytes + rec_bytes, "{c:?}");
    }
}

#[test]
fn a_replica_with_non_finite_gradients_is_frozen_on_the_device_and_the_others_equal_solo() {
    frozen_on_device(&CpuBackend::<f32>::new());
    frozen_on_device(&EmuBackend::<f32>::new().unwrap());
}

#[test]
fn recorded_step_replays_bit_identical_to_eager_launches_on_emu() {
    let be = EmuBackend::<f32>::new().unwrap();
    let (seeds, lambdas) = ([3u64, 9], [0.5, 4.0]);
    let steps = 5;
    let c0 = be.counters();
    let (eager, why) = run_step_graphs(&be, &seeds, &lambdas, steps, false);
    assert_eq!(why, None);
    let c1 = be.counters();
    let (replayed, why) = run_step_graphs(&be, &seeds, &lambdas, steps, true);
    let c2 = be.counters();
    assert_eq!(why, None, "emu records steps");
    let (ce, gr) = (c1.since(&c0), c2.since(&c1));
    // eager: every kernel launched by the host; recorded: the first step runs eagerly (the
    // warm-up), then one replay per step (the two slots are recorded at steps 1 and 2), the
    // same kernels run
    assert_eq!(ce.graph_launches, 0, "{ce:?}");
    assert_eq!(
        ce.launches % steps as u64,
        0,
        "the same kernels every step: {ce:?}"
    );
    assert_eq!(gr.graph_launches, steps as u64 - 1, "{gr:?}");
    assert_eq!(gr.launches, ce.launches / steps as u64, "{gr:?} vs {ce:?}");
    assert_eq!(
        gr.graph_kernels + gr.launches,
        ce.launches,
        "{gr:?} vs {ce:?}"
    );
    assert_eq!(eager.0, replayed.0, "records");
    assert_eq!(eager.1.len(), replayed.1.len());
    for (k, (a, b)) in eager.1.iter().zip(&replayed.1).enumerate() {
        assert!(
            a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "parameter {k} after {steps} steps: replay differs from eager"
        );
    }
    // the CPU cannot record: it says why (at its second step, after the warm-up) and runs
    // eagerly
    let (_, why) = run_step_graphs(&CpuBackend::<f32>::new(), &seeds, &lambdas, 2, true);
    assert!(
        why.as_deref()
            .is_some_and(|w| w.contains("there are no launches to record")),
        "{why:?}"
    );
}

#[test]
fn records_of_several_steps_read_at_once_equal_reads_after_every_step_with_one_sync() {
    let be = EmuBackend::<f32>::new().unwrap();
    let (seeds, lambdas) = ([3u64, 9], [0.5, 4.0]);
    let (per_step, _) = run_step(&be, &seeds, &lambdas, 3);
    let m = seeds.len();
    let mut model = Model::init(&be, SPEC, &seeds).unwrap();
    let mut adam = Adam::new(&be, &model, AdamConfig::default()).unwrap();
    let (keep, lr) = (vec![true; m], vec![1e-2; m]);
    let mut st = Step::new(&be, &mut model, &mut adam, &lambdas, &keep, 3).unwrap();
    let c0 = be.counters();
    for k in 0..3 {
        let (x, y) = batch(k);
        st.queue(
            &be,
            &mut model,
            &mut adam,
            (&x, &y, T),
            k as u64,
            &lr,
            &keep,
        )
        .unwrap();
    }
    // a fourth step before a read would overwrite an unread row: refused
    let (x, y) = batch(3);
    assert!(
        st.queue(&be, &mut model, &mut adam, (&x, &y, T), 3, &lr, &keep)
            .is_err()
    );
    let recs = st.read(&be).unwrap();
    let c = be.counters().since(&c0);
    assert_eq!(recs, per_step, "3 rows read at once vs one per step");
    assert_eq!(c.syncs, 1, "{c:?}");
    assert_eq!(c.dtoh_copies, 1, "{c:?}");
}
