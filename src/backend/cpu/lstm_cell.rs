//! The LSTM cell's pointwise work for one time step (all batch rows), forward and backward
//! (part of the CPU twin of the `lstm` op, src/backend/cpu/lstm.rs), and the f32
//! transcendental functions it needs in a form the compiler vectorises.
//!
//! The f32 versions are the fast CPU trainer's: nobody's oracle. Tests compare them, like
//! every f32 path, against the f64 CPU path (std's exp/tanh).
//!
//! f32 uses Cephes-style `exp` and `tanh` (range reduction + polynomial, within a few ulp of
//! the correctly rounded result; see the tests) compiled twice: plain and with AVX2+FMA
//! enabled, chosen at run time. No fused multiply-add is introduced by the compiler (Rust does
//! not contract), so both versions give identical results. f64 (the gradient-check path)
//! uses the standard library's functions.

use crate::backend::Elem;

/// Element types the CPU LSTM supports.
pub trait CellMath: Elem {
    /// One step forward: `gates [B, 4H]` (pre-activation, i f g o), the previous step's saved
    /// rows (for c_{t-1}; `None` at the first step) -> `saved [B, 6H]` (i f g o c tanh(c)) and
    /// `h [B, H]`.
    fn cell_fwd(
        b: usize,
        h: usize,
        gates: &[Self],
        prev: Option<&[Self]>,
        saved: &mut [Self],
        hout: &mut [Self],
    );
    /// One step backward. `dy` holds this direction's output gradient rows (row r at
    /// `dy[r * dy_stride..][..H]`), `dh_rec [B, H]` the gradient from the next step's
    /// recurrence, `dc [B, H]` the cell gradient carried from the next step (updated in place
    /// to the gradient of c_{t-1}); writes the pre-activation gate gradients `dg [B, 4H]`.
    #[allow(clippy::too_many_arguments)]
    fn cell_bwd(
        b: usize,
        h: usize,
        saved: &[Self],
        prev: Option<&[Self]>,
        dy: &[Self],
        dy_stride: usize,
        dh_rec: &[Self],
        dc: &mut [Self],
        dg: &mut [Self],
    );
}

#[inline(always)]
fn fwd_generic<T: Elem>(
    b: usize,
    h: usize,
    gates: &[T],
    prev: Option<&[T]>,
    saved: &mut [T],
    hout: &mut [T],
    sigmoid: impl Fn(T) -> T,
    tanh: impl Fn(T) -> T,
) {
    for r in 0..b {
        let g = &gates[r * 4 * h..(r + 1) * 4 * h];
        let sv = &mut saved[r * 6 * h..(r + 1) * 6 * h];
        let ho = &mut hout[r * h..(r + 1) * h];
        let (gi, rest) = g.split_at(h);
        let (gf, rest) = rest.split_at(h);
        let (gg, go) = rest.split_at(h);
        let (si, rest) = sv.split_at_mut(h);
        let (sf, rest) = rest.split_at_mut(h);
        let (sg, rest) = rest.split_at_mut(h);
        let (so, rest) = rest.split_at_mut(h);
        let (sc, stc) = rest.split_at_mut(h);
        match prev {
            Some(p) => {
                let cp = &p[r * 6 * h + 4 * h..r * 6 * h + 5 * h];
                for j in 0..h {
                    let (i, f, gt, o) =
                        (sigmoid(gi[j]), sigmoid(gf[j]), tanh(gg[j]), sigmoid(go[j]));
                    let c = f * cp[j] + i * gt;
                    let tc = tanh(c);
                    si[j] = i;
                    sf[j] = f;
                    sg[j] = gt;
                    so[j] = o;
                    sc[j] = c;
                    stc[j] = tc;
                    ho[j] = o * tc;
                }
            }
            None => {
                for j in 0..h {
                    let (i, f, gt, o) =
                        (sigmoid(gi[j]), sigmoid(gf[j]), tanh(gg[j]), sigmoid(go[j]));
                    let c = i * gt;
                    let tc = tanh(c);
                    si[j] = i;
                    sf[j] = f;
                    sg[j] = gt;
                    so[j] = o;
                    sc[j] = c;
                    stc[j] = tc;
                    ho[j] = o * tc;
                }
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn bwd_generic<T: Elem>(
    b: usize,
    h: usize,
    saved: &[T],
    prev: Option<&[T]>,
    dy: &[T],
    dy_stride: usize,
    dh_rec: &[T],
    dc: &mut [T],
    dg: &mut [T],
) {
    let one = T::one();
    for r in 0..b {
        let sv = &saved[r * 6 * h..(r + 1) * 6 * h];
        let (si, rest) = sv.split_at(h);
        let (sf, rest) = rest.split_at(h);
        let (sg, rest) = rest.split_at(h);
        let (so, rest) = rest.split_at(h);
        let stc = &rest[h..2 * h];
        let dyr = &dy[r * dy_stride..r * dy_stride + h];
        let dhr = &dh_rec[r * h..(r + 1) * h];
        let dcr = &mut dc[r * h..(r + 1) * h];
        let d = &mut dg[r * 4 * h..(r + 1) * 4 * h];
        let (di, rest) = d.split_at_mut(h);
        let (df, rest) = rest.split_at_mut(h);
        let (dgg, dout) = rest.split_at_mut(h);
        let zeros;
        let cp: &[T] = match prev {
            Some(p) => &p[r * 6 * h + 4 * h..r * 6 * h + 5 * h],
            None => {
                zeros = vec![T::zero(); h];
                &zeros
            }
        };
        for j in 0..h {
            let (i, f, g, o, tc) = (si[j], sf[j], sg[j], so[j], stc[j]);
            let dh = dyr[j] + dhr[j];
            let c_grad = dcr[j] + dh * o * (one - tc * tc);
            di[j] = c_grad * g * i * (one - i);
            df[j] = c_grad * cp[j] * f * (one - f);
            dgg[j] = c_grad * i * (one - g * g);
            dout[j] = dh * tc * o * (one - o);
            dcr[j] = c_grad * f;
        }
    }
}

impl CellMath for f64 {
    fn cell_fwd(
        b: usize,
        h: usize,
        gates: &[f64],
        prev: Option<&[f64]>,
        saved: &mut [f64],
        hout: &mut [f64],
    ) {
        fwd_generic(
            b,
            h,
            gates,
            prev,
            saved,
            hout,
            |x| 1.0 / (1.0 + (-x).exp()),
            f64::tanh,
        );
    }
    fn cell_bwd(
        b: usize,
        h: usize,
        saved: &[f64],
        prev: Option<&[f64]>,
        dy: &[f64],
        dy_stride: usize,
        dh_rec: &[f64],
        dc: &mut [f64],
        dg: &mut [f64],
    ) {
        bwd_generic(b, h, saved, prev, dy, dy_stride, dh_rec, dc, dg);
    }
}

/// e^x for f32: Cephes' range reduction (x = n ln2 + r, ln2 split in two) and degree-7
/// polynomial, branch-free so that loops over it vectorise. |x| is clamped to the range
/// where the result is a normal f32.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' published coefficients, as printed
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let y = p * z + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// tanh for f32: an odd polynomial for |x| < 0.625 (no cancellation near 0), else
/// 1 - 2 / (e^{2|x|} + 1) with the sign of x.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' published coefficients, as printed
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328_2e-1)
            * z
            * x
            + x;
    let big = (1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 { small } else { big }
}

/// 1 / (1 + e^{-x}) for f32.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fwd_f32_avx2(
    b: usize,
    h: usize,
    gates: &[f32],
    prev: Option<&[f32]>,
    saved: &mut [f32],
    hout: &mut [f32],
) {
    fwd_generic(b, h, gates, prev, saved, hout, sigmoid_f32, tanh_f32);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn bwd_f32_avx2(
    b: usize,
    h: usize,
    saved: &[f32],
    prev: Option<&[f32]>,
    dy: &[f32],
    dy_stride: usize,
    dh_rec: &[f32],
    dc: &mut [f32],
    dg: &mut [f32],
) {
    bwd_generic(b, h, saved, prev, dy, dy_stride, dh_rec, dc, dg);
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

impl CellMath for f32 {
    fn cell_fwd(
        b: usize,
        h: usize,
        gates: &[f32],
        prev: Option<&[f32]>,
        saved: &mut [f32],
        hout: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { fwd_f32_avx2(b, h, gates, prev, saved, hout) };
            return;
        }
        fwd_generic(b, h, gates, prev, saved, hout, sigmoid_f32, tanh_f32);
    }
    fn cell_bwd(
        b: usize,
        h: usize,
        saved: &[f32],
        prev: Option<&[f32]>,
        dy: &[f32],
        dy_stride: usize,
        dh_rec: &[f32],
        dc: &mut [f32],
        dg: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { bwd_f32_avx2(b, h, saved, prev, dy, dy_stride, dh_rec, dc, dg) };
            return;
        }
        bwd_generic(b, h, saved, prev, dy, dy_stride, dh_rec, dc, dg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Error in units of the f32 spacing at the exact (f64) value.
    fn ulps(got: f32, exact: f64) -> f64 {
        let e = exact as f32;
        let spacing = (f32::from_bits(e.abs().to_bits() + 1) - e.abs()) as f64;
        (got as f64 - exact).abs() / spacing.max(f32::MIN_POSITIVE as f64)
    }

    #[test]
    fn fast_f32_functions_are_within_a_few_ulp() {
        let (mut e_exp, mut e_tanh, mut e_sig) = (0.0f64, 0.0f64, 0.0f64);
        for k in -200_000..=200_000 {
            let x = k as f32 * 1e-4 * 4.0; // [-80, 80] coarse plus fine near 0 below
            if x.abs() < 80.0 {
                e_exp = e_exp.max(ulps(exp_f32(x), (x as f64).exp()));
            }
            let y = k as f32 * 5e-5; // [-10, 10]
            e_tanh = e_tanh.max(ulps(tanh_f32(y), (y as f64).tanh()));
            e_sig = e_sig.max(ulps(sigmoid_f32(y), 1.0 / (1.0 + (-(y as f64)).exp())));
        }
        assert!(e_exp <= 3.0, "exp: {e_exp} ulp");
        assert!(e_tanh <= 4.0, "tanh: {e_tanh} ulp");
        assert!(e_sig <= 4.0, "sigmoid: {e_sig} ulp");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert!(tanh_f32(1e-30) == 1e-30 && tanh_f32(-20.0) == -1.0 && sigmoid_f32(-100.0) >= 0.0);
    }

    #[test]
    fn vectorised_and_plain_versions_agree_bitwise() {
        let (b, h) = (3, 13);
        let gates: Vec<f32> = (0..b * 4 * h)
            .map(|i| ((i as f32) * 0.61).sin() * 4.0)
            .collect();
        let prev: Vec<f32> = (0..b * 6 * h).map(|i| ((i as f32) * 0.37).cos()).collect();
        let (mut s1, mut h1) = (vec![0.0; b * 6 * h], vec![0.0; b * h]);
        let (mut s2, mut h2) = (vec![0.0; b * 6 * h], vec![0.0; b * h]);
        f32::cell_fwd(b, h, &gates, Some(&prev), &mut s1, &mut h1);
        fwd_generic(
            b,
            h,
            &gates,
            Some(&prev),
            &mut s2,
            &mut h2,
            sigmoid_f32,
            tanh_f32,
        );
        assert_eq!(s1, s2);
        assert_eq!(h1, h2);
    }
}
