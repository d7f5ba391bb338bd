//! The kernel test bodies, one per op family, generic over the backend: run by
//! tests/gpu_ops.rs on emu and cuda and by tests/emu_sanitize.rs under the sanitizers.
//! References are straightforward loops in f64 from the same (rounded) inputs.
//!
//! Tolerance rule: |got - ref| <= atol + rtol |ref|. Selection ops (relu, clamp, max over time,
//! dropout) are exact: they move values or multiply once by the same scale. Sums and
//! transcendental functions get per-op tolerances stated at the call, sized from the rounding
//! of the element type (f32 eps 1.2e-7, f64 eps 2.2e-16) and the reduction length.

// Reference loops index several arrays by the same counters, as the formulas read.
#![allow(clippy::needless_range_loop)]

use super::*;
use recaux::backend::{AdamSpec, AdamTensor, Backend, DropoutSpec, Elem, GemmSpec};
use recaux::rng;

pub fn relu<B: Backend>(be: &B) {
    for n in [1usize, 7, 256, 1000, 4099] {
        let x = tv::<B::T>(&data(n, 1));
        let xb = be.upload(&x).unwrap();
        let mut y = be.alloc(n).unwrap();
        be.relu_fwd(n, &xb, &mut y).unwrap();
        let want: Vec<f64> = x.iter().map(|v| v.f64().max(0.0)).collect();
        check(
            be,
            "relu_fwd",
            &be.download(&y).unwrap(),
            &want,
            EXACT,
            EXACT,
        );

        let dy = tv::<B::T>(&data(n, 2));
        let dx0 = tv::<B::T>(&data(n, 3));
        let dyb = be.upload(&dy).unwrap();
        let mut dx = be.upload(&dx0).unwrap();
        be.relu_bwd(n, &y, &dyb, &mut dx).unwrap();
        let yv = be.download(&y).unwrap();
        let want: Vec<f64> = (0..n)
            .map(|i| {
                if yv[i].f64() > 0.0 {
                    (dx0[i] + dy[i]).f64()
                } else {
                    dx0[i].f64()
                }
            })
            .collect();
        check(
            be,
            "relu_bwd (accumulates)",
            &be.download(&dx).unwrap(),
            &want,
            EXACT,
            EXACT,
        );
    }
}

pub fn clamp<B: Backend>(be: &B) {
    for n in [1usize, 5, 300, 2049] {
        let mut xs = data(n, 4).iter().map(|v| 1.5 * v).collect::<Vec<_>>();
        if n > 2 {
            xs[0] = -1.0; // the inclusive bounds get the gradient (PyTorch)
            xs[1] = 1.0;
        }
        let x = tv::<B::T>(&xs);
        let xb = be.upload(&x).unwrap();
        let mut y = be.alloc(n).unwrap();
        be.clamp_fwd(n, -1.0, 1.0, &xb, &mut y).unwrap();
        let want: Vec<f64> = x.iter().map(|v| v.f64().clamp(-1.0, 1.0)).collect();
        check(
            be,
            "clamp_fwd",
            &be.download(&y).unwrap(),
            &want,
            EXACT,
            EXACT,
        );

        let dy = tv::<B::T>(&data(n, 5));
        let dx0 = tv::<B::T>(&data(n, 6));
        let dyb = be.upload(&dy).unwrap();
        let mut dx = be.upload(&dx0).unwrap();
        be.clamp_bwd(n, -1.0, 1.0, &xb, &dyb, &mut dx).unwrap();
        let want: Vec<f64> = (0..n)
            .map(|i| {
                let v = x[i].f64();
                if (-1.0..=1.0).contains(&v) {
                    (dx0[i] + dy[i]).f64()
                } else {
                    dx0[i].f64()
                }
            })
            .collect();
        check(
            be,
            "clamp_bwd (accumulates)",
            &be.download(&dx).unwrap(),
            &want,
            EXACT,
            EXACT,
        );
    }
}

pub fn dropout<B: Backend>(be: &B) {
    let seeds = [11u64, 0xDEAD_BEEF_0000_0001, 3];
    for (m, n, shared) in [
        (1usize, 1usize, false),
        (3, 1001, true),
        (3, 4099, false),
        (2, 6, true),
    ] {
        let d = DropoutSpec {
            p: 0.3,
            seeds: &seeds[..m],
            step: (1u64 << 32) + 5,
            tensor: 2,
        };
        let xs: Vec<f64> = data(if shared { n } else { m * n }, 7)
            .iter()
            .map(|v| v + 2.0)
            .collect();
        let x = tv::<B::T>(&xs);
        let xb = be.upload(&x).unwrap();
        let mut y = be.alloc(m * n).unwrap();
        be.dropout_fwd(&d, n, &xb, shared, &mut y).unwrap();
        let th = rng::dropout_threshold(d.p);
        let scale = B::T::of(rng::dropout_scale(d.p));
        let mut want = vec![0.0; m * n];
        for r in 0..m {
            for i in 0..n {
                let xi = x[if shared { i } else { r * n + i }];
                // The mask comes from the CPU's rng::dropout_keep: bit-identical masks.
                if rng::dropout_keep(seeds[r], d.step, d.tensor, i as u64, th) {
                    want[r * n + i] = (xi * scale).f64();
                }
            }
        }
        let got = be.download(&y).unwrap();
        check(be, "dropout_fwd", &got, &want, EXACT, EXACT);

        let dy = tv::<B::T>(&data(m * n, 8));
        let dx0 = tv::<B::T>(&data(m * n, 9));
        let dyb = be.upload(&dy).unwrap();
        let mut dx = be.upload(&dx0).unwrap();
        be.dropout_bwd(&d, n, &dyb, &mut dx).unwrap();
        let want: Vec<f64> = (0..m * n)
            .map(|k| {
                let keep = rng::dropout_keep(seeds[k / n], d.step, d.tensor, (k % n) as u64, th);
                if keep {
                    (dx0[k] + dy[k] * scale).f64()
                } else {
                    dx0[k].f64()
                }
            })
            .collect();
        check(
            be,
            "dropout_bwd (accumulates)",
            &be.download(&dx).unwrap(),
            &want,
            EXACT,
            EXACT,
        );
    }
}

pub fn max_time<B: Backend>(be: &B) {
    for (m, t, rows, f) in [
        (1usize, 1usize, 1usize, 1usize),
        (2, 5, 3, 7),
        (3, 17, 1, 300),
    ] {
        let mut xs = data(m * t * rows * f, 10);
        // Ties: the first maximum must win.
        for v in xs.iter_mut() {
            *v = (*v * 4.0).round() / 4.0;
        }
        let x = tv::<B::T>(&xs);
        let xb = be.upload(&x).unwrap();
        let mut y = be.alloc(m * rows * f).unwrap();
        let mut arg = be.alloc_idx(m * rows * f).unwrap();
        be.max_time_fwd(m, t, rows, f, &xb, &mut y, &mut arg)
            .unwrap();
        let mut want = vec![0.0; m * rows * f];
        let mut want_arg = vec![0i32; m * rows * f];
        for r in 0..m {
            for b in 0..rows {
                for j in 0..f {
                    let o = (r * rows + b) * f + j;
                    let mut best = f64::NEG_INFINITY;
                    for s in 0..t {
                        let v = x[((r * t + s) * rows + b) * f + j].f64();
                        if v > best {
                            best = v;
                            want_arg[o] = s as i32;
                        }
                    }
                    want[o] = best;
                }
            }
        }
        check(
            be,
            "max_time_fwd",
            &be.download(&y).unwrap(),
            &want,
            EXACT,
            EXACT,
        );
        assert_eq!(
            be.download_idx(&arg).unwrap(),
            want_arg,
            "{} max_time_fwd argmax",
            be.name()
        );

        let dy = tv::<B::T>(&data(m * rows * f, 11));
        let dx0 = tv::<B::T>(&data(m * t * rows * f, 12));
        let dyb = be.upload(&dy).unwrap();
        let mut dx = be.upload(&dx0).unwrap();
        be.max_time_bwd(m, t, rows, f, &dyb, &arg, &mut dx).unwrap();
        let mut want: Vec<f64> = dx0.iter().map(|v| v.f64()).collect();
        for r in 0..m {
            for b in 0..rows {
                for j in 0..f {
                    let o = (r * rows + b) * f + j;
                    let k = ((r * t + want_arg[o] as usize) * rows + b) * f + j;
                    want[k] = (dx0[k] + dy[o]).f64();
                }
            }
        }
        check(
            be,
            "max_time_bwd (accumulates)",
            &be.download(&dx).unwrap(),
            &want,
            EXACT,
            EXACT,
        );
    }
}

pub fn l1<B: Backend>(be: &B) {
    for (m, n) in [(1usize, 1usize), (3, 1000), (2, 20_011), (1, 300_001)] {
        let target = tv::<B::T>(&data(n, 13));
        let r = tv::<B::T>(&data(m * n, 14));
        let tb = be.upload(&target).unwrap();
        let rb = be.upload(&r).unwrap();
        let mut loss = be.alloc(m).unwrap();
        be.l1_fwd(m, n, &tb, &rb, &mut loss).unwrap();
        let want: Vec<f64> = (0..m)
            .map(|k| {
                (0..n)
                    .map(|i| (r[k * n + i] - target[i]).f64().abs())
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        // The kernel sums |d| (rounded to T once per element, as here) in double in another
        // order, then rounds the mean to T: f32 one rounding (6e-8) plus slack; f64 the
        // reordering of n additions (n eps).
        let got = be.download(&loss).unwrap();
        check(be, "l1_fwd", &got, &want, Tol::rel(3e-7), Tol::rel(1e-12));
        // Run twice: bit-identical.
        be.l1_fwd(m, n, &tb, &rb, &mut loss).unwrap();
        assert_bits_eq(be, "l1_fwd rerun", &got, &be.download(&loss).unwrap());

        let scale: Vec<f64> = (0..m).map(|k| 0.5 + k as f64).collect();
        let dr0 = tv::<B::T>(&data(m * n, 15));
        let mut dr = be.upload(&dr0).unwrap();
        be.l1_bwd(n, &scale, &tb, &rb, &mut dr).unwrap();
        let want: Vec<f64> = (0..m * n)
            .map(|k| {
                let kk = B::T::of(scale[k / n] / n as f64);
                let d = (r[k] - target[k % n]).f64();
                let s = if d > 0.0 {
                    kk
                } else if d < 0.0 {
                    -kk
                } else {
                    B::T::of(0.0)
                };
                (dr0[k] + s).f64()
            })
            .collect();
        check(
            be,
            "l1_bwd (accumulates)",
            &be.download(&dr).unwrap(),
            &want,
            EXACT,
            EXACT,
        );
    }
}

pub fn ce_ref(
    logits: &[f64],
    labels: &[i32],
    m: usize,
    b: usize,
    c: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut loss = vec![0.0; m];
    let mut prob = vec![0.0; m * b * c];
    for r in 0..m {
        for row in 0..b {
            let x = &logits[(r * b + row) * c..(r * b + row + 1) * c];
            let mx = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = x.iter().map(|v| (v - mx).exp()).sum();
            loss[r] += (s.ln() + mx - x[labels[row] as usize]) / b as f64;
            for j in 0..c {
                prob[(r * b + row) * c + j] = (x[j] - mx).exp() / s;
            }
        }
    }
    (loss, prob)
}

pub fn ce<B: Backend>(be: &B) {
    for (m, b, c) in [(1usize, 1usize, 1usize), (3, 32, 8), (2, 300, 10)] {
        let logits = tv::<B::T>(
            &data(m * b * c, 16)
                .iter()
                .map(|v| 4.0 * v)
                .collect::<Vec<_>>(),
        );
        let labels: Vec<i32> = (0..b).map(|i| ((i * 7 + 3) % c) as i32).collect();
        let lb = be.upload(&logits).unwrap();
        let lab = be.upload_idx(&labels).unwrap();
        let mut loss = be.alloc(m).unwrap();
        be.ce_fwd(m, b, c, &lb, &lab, &mut loss).unwrap();
        let lf: Vec<f64> = logits.iter().map(|v| v.f64()).collect();
        let (want, prob) = ce_ref(&lf, &labels, m, b, c);
        // f32: expf/logf (<= 2 ulp each) on values up to ~10, summed over C in float: 2e-6
        // relative of the row loss; f64: a few ulp.
        let got = be.download(&loss).unwrap();
        check(
            be,
            "ce_fwd",
            &got,
            &want,
            Tol {
                atol: 2e-6,
                rtol: 2e-6,
            },
            Tol::rel(1e-13),
        );
        be.ce_fwd(m, b, c, &lb, &lab, &mut loss).unwrap();
        assert_bits_eq(be, "ce_fwd rerun", &got, &be.download(&loss).unwrap());

        let scale: Vec<f64> = (0..m).map(|k| 1.0 + k as f64).collect();
        let d0 = tv::<B::T>(&data(m * b * c, 17));
        let mut dl = be.upload(&d0).unwrap();
        be.ce_bwd(b, c, &scale, &lb, &lab, &mut dl).unwrap();
        let want: Vec<f64> = (0..m * b * c)
            .map(|k| {
                let (r, row, j) = (k / (b * c), (k / c) % b, k % c);
                let onehot = if labels[row] as usize == j { 1.0 } else { 0.0 };
                d0[k].f64() + scale[r] / b as f64 * (prob[k] - onehot)
            })
            .collect();
        // f32: softmax in float (~4 ulp) times scale/B, added to O(1) values.
        check(
            be,
            "ce_bwd (accumulates)",
            &be.download(&dl).unwrap(),
            &want,
            Tol {
                atol: 1e-6,
                rtol: 1e-6,
            },
            Tol {
                atol: 1e-15,
                rtol: 1e-13,
            },
        );
    }
}

pub fn adam<B: Backend>(be: &B) {
    let m = 3;
    let lr = [1e-3, 1e-4, 3e-2];
    let sizes = [1usize, 257, 1000];
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let mut host: Vec<[Vec<B::T>; 4]> = Vec::new();
    let mut dev = Vec::new();
    for (k, &s) in sizes.iter().enumerate() {
        let p = tv::<B::T>(&data(m * s, 20 + k as u32));
        let g = tv::<B::T>(&data(m * s, 30 + k as u32));
        let mm = tv::<B::T>(
            &data(m * s, 40 + k as u32)
                .iter()
                .map(|v| 0.1 * v)
                .collect::<Vec<_>>(),
        );
        let vv = tv::<B::T>(
            &data(m * s, 50 + k as u32)
                .iter()
                .map(|v| 0.01 * v * v)
                .collect::<Vec<_>>(),
        );
        dev.push([
            be.upload(&p).unwrap(),
            be.upload(&g).unwrap(),
            be.upload(&mm).unwrap(),
            be.upload(&vv).unwrap(),
        ]);
        host.push([p, g, mm, vv]);
    }
    for step in 1..=3u64 {
        let spec = AdamSpec {
            lr: &lr,
            beta1: b1,
            beta2: b2,
            eps,
            step,
        };
        {
            let mut ts: Vec<AdamTensor<B>> = dev
                .iter_mut()
                .map(|[p, g, mm, vv]| AdamTensor {
                    param: p,
                    grad: &*g,
                    m: mm,
                    v: vv,
                })
                .collect();
            be.adam(&spec, &mut ts).unwrap();
        }
        // Reference in f64 on the stored values, PyTorch's formula.
        for (k, &s) in sizes.iter().enumerate() {
            let [p, g, mm, vv] = &mut host[k];
            for r in 0..m {
                for i in 0..s {
                    let j = r * s + i;
                    let (gf, mf, vf) = (g[j].f64(), mm[j].f64(), vv[j].f64());
                    let m2 = mf + (gf - mf) * (1.0 - b1);
                    let v2 = b2 * vf + (1.0 - b2) * gf * gf;
                    let denom = v2.sqrt() / (1.0 - b2.powf(step as f64)).sqrt() + eps;
                    let p2 = p[j].f64() - lr[r] / (1.0 - b1.powf(step as f64)) * m2 / denom;
                    p[j] = B::T::of(p2);
                    mm[j] = B::T::of(m2);
                    vv[j] = B::T::of(v2);
                }
            }
            let f = |x: &Vec<B::T>| x.iter().map(|v| v.f64()).collect::<Vec<f64>>();
            // f32: a handful of float roundings per element in the kernel against one here;
            // the update is lr-sized, so atol 1e-7 covers rounding of p itself.
            let t32 = Tol {
                atol: 1e-7,
                rtol: 2e-6,
            };
            let t64 = Tol {
                atol: 1e-15,
                rtol: 1e-12,
            };
            check(
                be,
                &format!("adam param t{k} step {step}"),
                &be.download(&dev[k][0]).unwrap(),
                &f(p),
                t32,
                t64,
            );
            check(
                be,
                &format!("adam m t{k} step {step}"),
                &be.download(&dev[k][2]).unwrap(),
                &f(mm),
                t32,
                t64,
            );
            check(
                be,
                &format!("adam v t{k} step {step}"),
                &be.download(&dev[k][3]).unwrap(),
                &f(vv),
                t32,
                t64,
            );
            // Continue from the backend's state so errors do not compound.
            *p = be.download(&dev[k][0]).unwrap();
            *mm = be.download(&dev[k][2]).unwrap();
            *vv = be.download(&dev[k][3]).unwrap();
        }
    }
}

pub fn errors<B: Backend>(be: &B) {
    let x = be.alloc(10).unwrap();
    let mut y = be.alloc(9).unwrap();
    let e = be.relu_fwd(10, &x, &mut y).unwrap_err();
    assert!(matches!(e, recaux::Error::Shape(_)), "{e}");
    let s = GemmSpec {
        batch: 1,
        m: 1,
        n: 1,
        k: 1,
        trans_a: false,
        trans_b: false,
        a_shared: false,
        accumulate: false,
    };
    let mut c = be.alloc(1).unwrap();
    // a: 10 elements where m*k = 1 is expected
    let e = be.gemm(&s, &x, &x, None, &mut c).unwrap_err();
    assert!(matches!(e, recaux::Error::Shape(_)), "{e}");
    let seeds = vec![1u64; 65];
    let d = DropoutSpec {
        p: 0.1,
        seeds: &seeds,
        step: 0,
        tensor: 0,
    };
    let xb = be.alloc(65).unwrap();
    let mut yb = be.alloc(65).unwrap();
    assert!(
        be.dropout_fwd(&d, 1, &xb, false, &mut yb).is_err(),
        "65 replicas must be refused"
    );
}

pub fn profile<B: Backend>(be: &B) {
    be.set_profiling(true).unwrap();
    let x = be.upload(&tv::<B::T>(&data(100, 60))).unwrap();
    let mut y = be.alloc(100).unwrap();
    be.relu_fwd(100, &x, &mut y).unwrap();
    be.relu_fwd(100, &x, &mut y).unwrap();
    let p = be.take_profile().unwrap();
    be.set_profiling(false).unwrap();
    let name = format!("relu_fwd_{}", B::T::DTYPE);
    let e = p
        .iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("{}: no {name} in {p:?}", be.name()));
    assert_eq!(e.calls, 2);
    assert!(e.total_ms >= 0.0);
    be.relu_fwd(100, &x, &mut y).unwrap();
    assert!(
        be.take_profile().unwrap().is_empty(),
        "profiling off records nothing"
    );
}
