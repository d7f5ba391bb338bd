//! Every kernel op against the CPU reference backend (`CpuBackend<T>`) on the same inputs.
//! The CPU reduces in f64 (losses, softmax) where some kernels work in T, so the f32
//! tolerances below are those of tests/common/ops.rs against an f64 reference, doubled (both
//! sides may be off by that much); selection ops and masks must agree exactly.

use super::*;
use recaux::backend::cpu::CpuBackend;
use recaux::backend::cpu::CellMath;
use recaux::backend::{AdamSpec, AdamTensor, Backend, DropoutSpec, Elem};

fn same<B: Backend>(be: &B, what: &str, got: &[B::T], cpu: &[B::T], t32: Tol, t64: Tol) {
    let want: Vec<f64> = cpu.iter().map(|v| v.f64()).collect();
    check(be, &format!("{what} vs cpu"), got, &want, t32, t64);
}

/// Runs op `$f` on both backends: `$f(backend) -> Vec<T>`.
macro_rules! on_both {
    ($be:expr, $cpu:expr, |$b:ident| $body:expr) => {{
        let g = {
            let $b = $be;
            $body
        };
        let c = {
            let $b = $cpu;
            $body
        };
        (g, c)
    }};
}

pub fn all<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    let cpu = CpuBackend::<B::T>::new();
    for n in [1usize, 7, 1000, 4099] {
        let x = tv::<B::T>(&data(n, 70).iter().map(|v| 1.5 * v).collect::<Vec<_>>());
        let dy = tv::<B::T>(&data(n, 71));
        let d0 = tv::<B::T>(&data(n, 72));
        let (g, c) = on_both!(be, &cpu, |b| {
            let xb = b.upload(&x).unwrap();
            let mut y = b.alloc(n).unwrap();
            b.relu_fwd(n, &xb, &mut y).unwrap();
            let dyb = b.upload(&dy).unwrap();
            let mut dx = b.upload(&d0).unwrap();
            b.relu_bwd(n, &y, &dyb, &mut dx).unwrap();
            let mut z = b.alloc(n).unwrap();
            b.clamp_fwd(n, -1.0, 1.0, &xb, &mut z).unwrap();
            let mut dz = b.upload(&d0).unwrap();
            b.clamp_bwd(n, -1.0, 1.0, &xb, &dyb, &mut dz).unwrap();
            [
                b.download(&y).unwrap(),
                b.download(&dx).unwrap(),
                b.download(&z).unwrap(),
                b.download(&dz).unwrap(),
            ]
        });
        for (k, what) in ["relu_fwd", "relu_bwd", "clamp_fwd", "clamp_bwd"]
            .iter()
            .enumerate()
        {
            same(be, what, &g[k], &c[k], EXACT, EXACT);
        }
    }

    let seeds = [5u64, 6, 7];
    for (m, n, shared) in [(1usize, 1usize, true), (3, 1001, false), (2, 16_389, true)] {
        let d = DropoutSpec {
            p: 0.3,
            seeds: &seeds[..m],
            step: 9,
            tensor: 1,
        };
        let x = tv::<B::T>(&data(if shared { n } else { m * n }, 73));
        let dy = tv::<B::T>(&data(m * n, 74));
        let d0 = tv::<B::T>(&data(m * n, 75));
        let (g, c) = on_both!(be, &cpu, |b| {
            let xb = b.upload(&x).unwrap();
            let mut y = b.alloc(m * n).unwrap();
            b.dropout_fwd(&d, n, &xb, shared, &mut y).unwrap();
            let dyb = b.upload(&dy).unwrap();
            let mut dx = b.upload(&d0).unwrap();
            b.dropout_bwd(&d, n, &dyb, &mut dx).unwrap();
            [b.download(&y).unwrap(), b.download(&dx).unwrap()]
        });
        // Bit-identical masks (and values: one multiply by the same scale).
        same(be, "dropout_fwd", &g[0], &c[0], EXACT, EXACT);
        same(be, "dropout_bwd", &g[1], &c[1], EXACT, EXACT);
    }

    for (m, t, rows, f) in [
        (1usize, 1usize, 1usize, 1usize),
        (2, 9, 1, 5),
        (3, 4, 3, 256),
    ] {
        let x = tv::<B::T>(
            &data(m * t * rows * f, 76)
                .iter()
                .map(|v| (v * 4.0).round())
                .collect::<Vec<_>>(),
        );
        let dy = tv::<B::T>(&data(m * rows * f, 77));
        let (g, c) = on_both!(be, &cpu, |b| {
            let xb = b.upload(&x).unwrap();
            let mut y = b.alloc(m * rows * f).unwrap();
            let mut arg = b.alloc_idx(m * rows * f).unwrap();
            b.max_time_fwd(m, t, rows, f, &xb, &mut y, &mut arg)
                .unwrap();
            let dyb = b.upload(&dy).unwrap();
            let mut dx = b.alloc(m * t * rows * f).unwrap();
            b.max_time_bwd(m, t, rows, f, &dyb, &arg, &mut dx).unwrap();
            let a: Vec<B::T> = b
                .download_idx(&arg)
                .unwrap()
                .iter()
                .map(|&v| B::T::of(v as f64))
                .collect();
            [b.download(&y).unwrap(), a, b.download(&dx).unwrap()]
        });
        same(be, "max_time_fwd", &g[0], &c[0], EXACT, EXACT);
        same(be, "max_time_fwd argmax", &g[1], &c[1], EXACT, EXACT);
        same(be, "max_time_bwd", &g[2], &c[2], EXACT, EXACT);
    }

    for (m, n) in [(1usize, 1usize), (3, 777), (2, 50_001)] {
        let tg = tv::<B::T>(&data(n, 78));
        let r = tv::<B::T>(&data(m * n, 79));
        let d0 = tv::<B::T>(&data(m * n, 80));
        let scale: Vec<f64> = (0..m).map(|k| 10.0 / (k + 1) as f64).collect();
        let (g, c) = on_both!(be, &cpu, |b| {
            let tb = b.upload(&tg).unwrap();
            let rb = b.upload(&r).unwrap();
            let mut loss = b.alloc(m).unwrap();
            b.l1_fwd(m, n, &tb, &rb, &mut loss).unwrap();
            let mut dr = b.upload(&d0).unwrap();
            b.l1_bwd(n, &scale, &tb, &rb, &mut dr).unwrap();
            [b.download(&loss).unwrap(), b.download(&dr).unwrap()]
        });
        same(be, "l1_fwd", &g[0], &c[0], Tol::rel(6e-7), Tol::rel(2e-12));
        same(be, "l1_bwd", &g[1], &c[1], EXACT, EXACT);
    }

    for (m, b_, cc) in [(1usize, 1usize, 8usize), (3, 32, 8), (2, 77, 3)] {
        let lg = tv::<B::T>(
            &data(m * b_ * cc, 81)
                .iter()
                .map(|v| 5.0 * v)
                .collect::<Vec<_>>(),
        );
        let labels: Vec<i32> = (0..b_).map(|i| ((i * 5 + 1) % cc) as i32).collect();
        let d0 = tv::<B::T>(&data(m * b_ * cc, 82));
        let scale: Vec<f64> = (0..m).map(|k| 1.0 + 0.5 * k as f64).collect();
        let (g, c) = on_both!(be, &cpu, |b| {
            let lb = b.upload(&lg).unwrap();
            let lab = b.upload_idx(&labels).unwrap();
            let mut loss = b.alloc(m).unwrap();
            b.ce_fwd(m, b_, cc, &lb, &lab, &mut loss).unwrap();
            let mut dl = b.upload(&d0).unwrap();
            b.ce_bwd(b_, cc, &scale, &lb, &lab, &mut dl).unwrap();
            [b.download(&loss).unwrap(), b.download(&dl).unwrap()]
        });
        same(
            be,
            "ce_fwd",
            &g[0],
            &c[0],
            Tol {
                atol: 4e-6,
                rtol: 4e-6,
            },
            Tol::rel(2e-13),
        );
        same(
            be,
            "ce_bwd",
            &g[1],
            &c[1],
            Tol {
                atol: 2e-6,
                rtol: 2e-6,
            },
            Tol {
                atol: 2e-15,
                rtol: 2e-13,
            },
        );
    }

    let m = 2;
    let lr = [1e-3, 5e-4];
    let sizes = [3usize, 300];
    let init: Vec<[Vec<B::T>; 4]> = sizes
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let k = k as u32;
            [
                tv(&data(m * s, 83 + k)),
                tv(&data(m * s, 85 + k)),
                tv(&data(m * s, 87 + k)
                    .iter()
                    .map(|v| 0.1 * v)
                    .collect::<Vec<_>>()),
                tv(&data(m * s, 89 + k)
                    .iter()
                    .map(|v| 0.01 * v * v)
                    .collect::<Vec<_>>()),
            ]
        })
        .collect();
    let (g, c) = on_both!(be, &cpu, |b| {
        let mut bufs: Vec<_> = init
            .iter()
            .map(|t| t.iter().map(|v| b.upload(v).unwrap()).collect::<Vec<_>>())
            .collect();
        for step in 1..=3 {
            let spec = AdamSpec {
                lr: &lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                step,
            };
            let mut ts: Vec<AdamTensor<_>> = bufs
                .iter_mut()
                .map(|v| {
                    let [p, g, mm, vv] = &mut v[..] else {
                        unreachable!()
                    };
                    AdamTensor {
                        param: p,
                        grad: &*g,
                        m: mm,
                        v: vv,
                    }
                })
                .collect();
            b.adam(&spec, &mut ts).unwrap();
        }
        bufs.iter()
            .flat_map(|v| {
                [
                    b.download(&v[0]).unwrap(),
                    b.download(&v[2]).unwrap(),
                    b.download(&v[3]).unwrap(),
                ]
            })
            .collect::<Vec<_>>()
    });
    for (k, (gv, cv)) in g.iter().zip(&c).enumerate() {
        same(
            be,
            &format!("adam tensor {} {}", k / 3, ["param", "m", "v"][k % 3]),
            gv,
            cv,
            Tol {
                atol: 2e-7,
                rtol: 4e-6,
            },
            Tol {
                atol: 2e-15,
                rtol: 2e-12,
            },
        );
    }
}
