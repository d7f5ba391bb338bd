//! `cargo bench --bench synth`: measurements of the synthetic dataset (src/data/synth.rs),
//! not pass/fail checks. (Moved here from `#[ignore]`d tests of tests/data_synth.rs.)
//!
//! - the time to synthesise one 30 s clip;
//! - how far static spectra alone get on the genres: leave-one-out 1-NN and nearest centroid
//!   on 32 log-band energies of the clip-mean power spectrum. Measured with the synthesis
//!   drawing through rand_distr (8 genres x 12 clips x 10 s, seed 0): 1-NN 0.740, centroid
//!   0.750 (chance 0.125): learnable, not trivial. (Before, with its own Box-Muller and
//!   uniform maps: 0.812 and 0.760.)
//!
//! Under `cargo test` (no `--bench` argument) it runs nothing and says so.

use realfft::RealFftPlanner;
use recaux::data::synth::{SynthConfig, clip_samples};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("synth bench: measurements only; run with `cargo bench --bench synth`");
        return;
    }
    time_one_clip();
    mean_spectrum_baseline();
}

fn time_one_clip() {
    let cfg = SynthConfig {
        seconds: 30.0,
        ..SynthConfig::default()
    };
    let t = std::time::Instant::now();
    for g in 0..8 {
        std::hint::black_box(clip_samples(&cfg, g, 0));
    }
    eprintln!(
        "synth: {:.1} ms per 30 s clip at 22050 Hz",
        t.elapsed().as_secs_f64() * 1e3 / 8.0
    );
}

fn spec(x: &[f32]) -> Vec<f64> {
    let n = 1024;
    let mut p = RealFftPlanner::<f32>::new();
    let f = p.plan_fft_forward(n);
    let mut acc = vec![0f64; 32];
    let mut cnt = 0;
    for c in x.chunks_exact(n).step_by(2) {
        let mut inp = c.to_vec();
        let mut out = f.make_output_vec();
        f.process(&mut inp, &mut out).unwrap();
        for (k, o) in out.iter().enumerate().take(512) {
            let b = ((k as f64 + 1.0).ln() / (513f64).ln() * 32.0) as usize;
            acc[b.min(31)] += o.norm_sqr() as f64;
        }
        cnt += 1;
    }
    acc.iter().map(|a| (a / cnt as f64 + 1e-9).ln()).collect()
}

/// How far static spectra alone get (leave-one-out 1-NN and nearest centroid on 32 log-band
/// energies of the clip-mean power spectrum).
fn mean_spectrum_baseline() {
    let cfg = SynthConfig {
        genres: 8,
        clips_per_genre: 12,
        seconds: 10.0,
        sample_rate: 16000,
        corrupt: 0,
        seed: 0,
    };
    let mut f = Vec::new();
    for g in 0..8 {
        for k in 0..12 {
            f.push((g, spec(&clip_samples(&cfg, g, k))));
        }
    }
    // leave-one-out 1-NN and nearest centroid on z-scored log-band energies
    let d = f[0].1.len();
    let n = f.len() as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| f.iter().map(|x| x.1[j]).sum::<f64>() / n)
        .collect();
    let sd: Vec<f64> = (0..d)
        .map(|j| {
            (f.iter().map(|x| (x.1[j] - mean[j]).powi(2)).sum::<f64>() / n)
                .sqrt()
                .max(1e-9)
        })
        .collect();
    let z: Vec<(usize, Vec<f64>)> = f
        .iter()
        .map(|(g, v)| (*g, (0..d).map(|j| (v[j] - mean[j]) / sd[j]).collect()))
        .collect();
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let mut nn = 0;
    let mut nc = 0;
    for (i, (gi, vi)) in z.iter().enumerate() {
        let best = z
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .min_by(|a, b| dist(vi, &a.1.1).partial_cmp(&dist(vi, &b.1.1)).unwrap())
            .unwrap();
        nn += (best.1.0 == *gi) as usize;
        let mut bc = (f64::MAX, 0);
        for g in 0..8 {
            let o: Vec<&Vec<f64>> = z
                .iter()
                .enumerate()
                .filter(|(j, x)| *j != i && x.0 == g)
                .map(|(_, x)| &x.1)
                .collect();
            let c: Vec<f64> = (0..d)
                .map(|j| o.iter().map(|v| v[j]).sum::<f64>() / o.len() as f64)
                .collect();
            let dd = dist(vi, &c);
            if dd < bc.0 {
                bc = (dd, g);
            }
        }
        nc += (bc.1 == *gi) as usize;
    }
    eprintln!("1-NN {:.3}  centroid {:.3}", nn as f64 / n, nc as f64 / n);
}
