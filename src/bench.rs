//! Timing the training step on any backend: the same [`Step`] `recaux train` runs (batch
//! staged as f16, forward with dropout, backward, the non-finite guard, Adam, the step's
//! record read back).

use crate::backend::{Backend, Counters, KernelTiming};
use crate::error::Result;
use crate::model::{Model, ModelSpec};
use crate::rng;
use crate::train::step::Step;
use crate::train::{Adam, AdamConfig};
use std::time::Instant;

/// What to time.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub spec: ModelSpec,
    pub batch: usize,
    pub seq: usize,
    pub replicas: usize,
    pub warmup: usize,
    pub steps: usize,
    /// Collect the backend's per-kernel profile over the timed steps.
    pub profile: bool,
}

/// Timings of the measured steps.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub backend: String,
    /// The precision the step ran in ([`Backend::precision`]).
    pub precision: crate::backend::Precision,
    /// Per LSTM layer, which kernels ran ([`crate::backend::LstmSizes::kernel`]).
    pub lstm: Vec<String>,
    /// Wall time of each timed step, ms: staging the batch to reading its record back.
    pub step_ms: Vec<f64>,
    /// Per-kernel totals over the timed steps (empty without `profile` or profiler).
    pub profile: Vec<KernelTiming>,
    /// What the backend did over the timed steps (batch staging included), summed.
    pub counters: Counters,
    /// How the steps ran: "recorded once per shape and slot, replayed", or "eager: " and why.
    pub mode: String,
}

impl BenchResult {
    /// Median step time, ms.
    pub fn median_ms(&self) -> f64 {
        let mut v = self.step_ms.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        }
    }
}

/// Run `warmup` untimed then `steps` timed training steps of `replicas` replicas on random
/// inputs in [-1, 1] (f16 values: a fresh batch each step, drawn outside the timed region),
/// reading each step's record back as the trainer does.
pub fn run<B: Backend>(
    be: &B,
    cfg: &BenchConfig,
    mut on_step: impl FnMut(usize, f64),
) -> Result<BenchResult> {
    let spec = cfg.spec;
    let (t, b, m) = (cfg.seq, cfg.batch, cfg.replicas);
    let seeds: Vec<u64> = (0..m as u64).collect();
    let lambdas: Vec<f64> = (0..m).map(|r| r as f64 * 0.5).collect();
    let lrs = vec![1e-4; m];
    let keep = vec![true; m];
    let mut model = Model::init(be, spec, &seeds)?;
    let mut adam = Adam::new(be, &model, AdamConfig::default())?;
    let mut st = Step::new(be, &mut model, &mut adam, &lambdas, &keep, 1)?;
    // profiled steps launch one by one (CUDA events cannot time kernels inside a graph)
    st.set_graphs(!cfg.profile);
    let n_x = t * b * spec.features;
    let mut step_ms = Vec::with_capacity(cfg.steps);
    let mut c0 = be.counters();
    for step in 0..cfg.warmup + cfg.steps {
        // features as the store holds them: f16 values
        let x: Vec<f32> = rng::init_uniform(0xBE7C, step as u32, n_x, -1.0, 1.0)
            .into_iter()
            .map(|v| half::f16::from_f64(v).to_f32())
            .collect();
        let y: Vec<i32> = (0..b)
            .map(|i| ((i * 7 + step) % spec.classes) as i32)
            .collect();
        if step == cfg.warmup {
            c0 = be.counters();
            if cfg.profile {
                be.set_profiling(true)?;
            }
        }
        let t0 = Instant::now();
        st.queue(
            be,
            &mut model,
            &mut adam,
            (&x, &y, t),
            step as u64,
            &lrs,
            &keep,
        )?;
        st.read(be)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if step >= cfg.warmup {
            step_ms.push(ms);
        }
        on_step(step, ms);
    }
    let counters = be.counters().since(&c0);
    let profile = if cfg.profile {
        let p = be.take_profile()?;
        be.set_profiling(false)?;
        p
    } else {
        Vec::new()
    };
    let l0 = crate::backend::LstmShape {
        m: cfg.replicas,
        t: cfg.seq,
        b: cfg.batch,
        i: cfg.spec.features,
        h: cfg.spec.hidden,
    };
    let l1 = crate::backend::LstmShape {
        i: 2 * cfg.spec.hidden,
        ..l0
    };
    let mode = match (cfg.profile, st.eager_reason()) {
        (true, _) => "eager: profiled (each launch timed)".to_string(),
        (false, Some(why)) => format!("eager: {why}"),
        (false, None) => "recorded once per shape and slot, replayed".to_string(),
    };
    Ok(BenchResult {
        backend: be.name(),
        precision: be.precision(),
        lstm: vec![be.lstm_sizes(&l0).kernel, be.lstm_sizes(&l1).kernel],
        step_ms,
        profile,
        counters,
        mode,
    })
}
