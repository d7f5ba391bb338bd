//! resampy's band-limited sinc interpolation (`kaiser_best`, `kaiser_fast`), the resampler of
//! `librosa.load` in librosa 0.8 (the seed's), written from the algorithm:
//!
//! - The filter is the right half of a Kaiser-windowed sinc, tabulated at `2^precision` points
//!   per zero crossing over `num_zeros` crossings:
//!   `h[i] = rolloff * sinc(rolloff * i / 2^precision) * I0(beta * sqrt(1 - (i/n)^2)) / I0(beta)`,
//!   `n = num_zeros * 2^precision`, `i = 0..=n`. Between table points it is interpolated
//!   linearly (`h[j] + eta * (h[j+1] - h[j])`, the last difference taken as 0).
//! - Output sample `t` sits at input time `t * from / to`, split into an integer sample `n` and a
//!   fraction. When downsampling (`to < from`) the filter is stretched by `scale = to / from`
//!   (its table is stepped by `floor(scale * 2^precision)` entries per input sample and its
//!   gain multiplied by `scale`), which moves its cut-off to the new Nyquist frequency times
//!   `rolloff`. The left wing weighs `x[n], x[n-1], ...` at table offset `scale * frac`, the
//!   right wing `x[n+1], x[n+2], ...` at `scale * (1 - frac)`; each wing has as many taps as fit
//!   in the table. Samples outside the signal count as zero.
//! - resampy returns `floor(len * to / from)` samples; `librosa.resample` then pads with zeros to
//!   `ceil(len * to / from)`, and so does [`resample`] here.
//!
//! The parameters are resampy 0.4's published filters (its `data/kaiser_*.npz`: num_zeros,
//! precision, rolloff; beta from its filter docs, to full precision as recovered from the
//! published table, which this formula then reproduces to 1e-15: see the golden tests).
//!
//! Speed: for integer rates the output positions repeat every `to / gcd` samples, so the
//! weights of each of these phases are computed once (in f64 from the table, stored as f32)
//! and every output sample is one contiguous dot product of `taps` weights with the input
//! (polyphase form), vectorised with AVX2/FMA when the CPU has it. The banks are cached per
//! (filter, rate pair) for the life of the process.

use crate::{Error, Result};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// One of resampy's precomputed filters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KaiserFilter {
    /// resampy's name.
    pub name: &'static str,
    /// Zero crossings of the sinc kept on each side.
    pub num_zeros: usize,
    /// log2 of the table points per zero crossing.
    pub precision_bits: u32,
    /// Cut-off as a fraction of the (lower) Nyquist frequency.
    pub rolloff: f64,
    /// Kaiser window shape.
    pub beta: f64,
}

/// resampy's `kaiser_best` (its docs: beta 12.9846, rolloff 0.917347, 50 zeros, precision 13).
pub const KAISER_BEST: KaiserFilter = KaiserFilter {
    name: "kaiser_best",
    num_zeros: 50,
    precision_bits: 13,
    rolloff: 0.917_347_371_260_876_1,
    beta: 12.984_585_247_040_016,
};

/// resampy's `kaiser_fast` (its docs: beta 9.90322, rolloff 0.868212, 24 zeros, precision 9).
pub const KAISER_FAST: KaiserFilter = KaiserFilter {
    name: "kaiser_fast",
    num_zeros: 24,
    precision_bits: 9,
    rolloff: 0.868_212_038_837_778_4,
    beta: 9.903_224_416_455_277,
};

/// The modified Bessel function of the first kind, order 0 (power series; relative error
/// ~1e-16 for the arguments used here, |x| <= 20).
pub fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut term, mut sum, mut k) = (1.0f64, 1.0f64, 1.0f64);
    loop {
        term *= q / (k * k);
        sum += term;
        if term < sum * 1e-17 {
            return sum;
        }
        k += 1.0;
    }
}

/// numpy's `sinc`: `sin(pi x) / (pi x)`.
fn sinc(x: f64) -> f64 {
    let y = std::f64::consts::PI * if x == 0.0 { 1e-20 } else { x };
    y.sin() / y
}

impl KaiserFilter {
    /// Table points per zero crossing.
    pub fn num_table(&self) -> usize {
        1 << self.precision_bits
    }

    /// The tabulated right half of the filter, `num_zeros * 2^precision + 1` values (computed
    /// once per process for the two published filters, per call for any other).
    pub fn half_window(&self) -> Cow<'static, [f64]> {
        static BEST: OnceLock<Vec<f64>> = OnceLock::new();
        static FAST: OnceLock<Vec<f64>> = OnceLock::new();
        let cell = if *self == KAISER_BEST {
            &BEST
        } else if *self == KAISER_FAST {
            &FAST
        } else {
            return Cow::Owned(self.compute_half_window());
        };
        Cow::Borrowed(cell.get_or_init(|| self.compute_half_window()))
    }

    fn compute_half_window(&self) -> Vec<f64> {
        let prec = self.num_table();
        let n = prec * self.num_zeros;
        let i0_beta = bessel_i0(self.beta);
        (0..=n)
            .map(|i| {
                let r = i as f64 / n as f64;
                let taper = bessel_i0(self.beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                let s = self.rolloff * sinc(self.rolloff * (i as f64 / prec as f64));
                taper * s
            })
            .collect()
    }
}

/// The weights of one output position: `left[i]` multiplies `x[n - i]`, `right[k]`
/// multiplies `x[n + 1 + k]` (resampy's two wings, in f64).
#[derive(Clone, Debug, PartialEq)]
pub struct Wings {
    pub left: Vec<f64>,
    pub right: Vec<f64>,
}

/// resampy's stepping through the table for a ratio `to / from`.
struct Geometry {
    win: Cow<'static, [f64]>,
    num_table: f64,
    /// `min(1, to / from)`.
    scale: f64,
    /// Table entries per input sample: `floor(scale * num_table)`.
    index_step: usize,
    /// Gain: `to / from` when downsampling, else 1.
    gain: f64,
}

impl Geometry {
    fn new(filter: &KaiserFilter, from: u32, to: u32) -> Geometry {
        let ratio = f64::from(to) / f64::from(from);
        let scale = ratio.min(1.0);
        let num_table = filter.num_table() as f64;
        Geometry {
            win: filter.half_window(),
            num_table,
            scale,
            index_step: (scale * num_table) as usize,
            gain: if ratio < 1.0 { ratio } else { 1.0 },
        }
    }

    /// One wing at filter position `frac` (in input samples times `scale`).
    fn wing(&self, frac: f64) -> Vec<f64> {
        let index_frac = frac * self.num_table;
        let offset = index_frac as usize;
        let eta = index_frac - offset as f64;
        let nwin = self.win.len();
        let count = nwin.saturating_sub(offset) / self.index_step;
        (0..count)
            .map(|i| {
                let j = offset + i * self.index_step;
                let delta = if j + 1 < nwin {
                    self.win[j + 1] - self.win[j]
                } else {
                    0.0
                };
                self.gain * (self.win[j] + eta * delta)
            })
            .collect()
    }

    /// Both wings for an output at input time `n + tfrac`, `0 <= tfrac < 1`.
    fn wings(&self, tfrac: f64) -> Wings {
        let frac = self.scale * tfrac;
        Wings {
            left: self.wing(frac),
            right: self.wing(self.scale - frac),
        }
    }
}

/// resampy's weights for output sample `t` of a `from -> to` conversion, computed directly
/// (for tests and inspection; [`resample`] uses the same [`Geometry`] per phase).
pub fn wings_at(filter: &KaiserFilter, from: u32, to: u32, t: usize) -> Wings {
    let g = Geometry::new(filter, from, to);
    let time = t as f64 * (1.0 / (f64::from(to) / f64::from(from)));
    g.wings(time - time.floor())
}

/// Output samples resampy itself returns: `floor(n * to / from)`.
pub fn resampy_len(n: usize, from: u32, to: u32) -> usize {
    (n as u64 * u64::from(to) / u64::from(from)) as usize
}

/// The polyphase form: `phases` weight rows of `taps` f32 each; output `t` with phase
/// `r = t * m mod l` and base `n = t * m div l` is `sum_j bank[r][j] * x[n - left + 1 + j]`.
struct Bank {
    /// Output period: `to / gcd`.
    l: u64,
    /// Input step per period: `from / gcd`.
    m: u64,
    /// Largest left wing (taps reaching back to `x[n - left + 1]`).
    left: usize,
    /// Taps per row (largest left + largest right wing).
    taps: usize,
    /// `[l, taps]`, row-major.
    weights: Vec<f32>,
}

/// Most phases a cached bank may hold (a bank is `phases * taps` f32): rate pairs with a
/// longer period are computed directly, one output at a time.
const MAX_PHASES: u64 = 4096;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Bank {
    fn new(filter: &KaiserFilter, from: u32, to: u32) -> Bank {
        let g = gcd(u64::from(from), u64::from(to));
        let (l, m) = (u64::from(to) / g, u64::from(from) / g);
        let geo = Geometry::new(filter, from, to);
        let inc = 1.0 / (f64::from(to) / f64::from(from));
        // Phase r is met first at the t < l with t * m = r (mod l); its fraction is taken
        // the way resampy computes it there (t * (1 / ratio), minus its floor).
        let mut rows: Vec<Option<Wings>> = vec![None; l as usize];
        for t in 0..l {
            let r = (t * m % l) as usize;
            let time = t as f64 * inc;
            rows[r] = Some(geo.wings(time - time.floor()));
        }
        let rows: Vec<Wings> = rows.into_iter().flatten().collect();
        let left = rows.iter().map(|w| w.left.len()).max().unwrap_or(0);
        let right = rows.iter().map(|w| w.right.len()).max().unwrap_or(0);
        let taps = left + right;
        let mut weights = vec![0.0f32; rows.len() * taps];
        for (w, row) in rows.iter().zip(weights.chunks_exact_mut(taps.max(1))) {
            for (i, &v) in w.left.iter().enumerate() {
                row[left - 1 - i] = v as f32;
            }
            for (k, &v) in w.right.iter().enumerate() {
                row[left + k] = v as f32;
            }
        }
        Bank {
            l,
            m,
            left,
            taps,
            weights,
        }
    }

    fn run(&self, x: &[f32], n_out: usize, out: &mut [f32]) {
        let right = self.taps - self.left;
        // x with `left - 1` zeros before and `right` after: row j of output t reads
        // padded[n + j], all in bounds for n <= len - 1.
        let pad_l = self.left.saturating_sub(1);
        let mut padded = vec![0.0f32; pad_l + x.len() + right + 1];
        padded[pad_l..pad_l + x.len()].copy_from_slice(x);
        let dot = dot_fn();
        let (mut n, mut r) = (0usize, 0u64);
        let (step_n, step_r) = ((self.m / self.l) as usize, self.m % self.l);
        for o in out.iter_mut().take(n_out) {
            let row = &self.weights[r as usize * self.taps..(r as usize + 1) * self.taps];
            // n + 1 - left + pad_l = n when left >= 1
            let start = n + pad_l + 1 - self.left.max(1);
            *o = dot(row, &padded[start..start + self.taps]);
            n += step_n;
            r += step_r;
            if r >= self.l {
                r -= self.l;
                n += 1;
            }
        }
    }
}

type DotFn = fn(&[f32], &[f32]) -> f32;

/// Sum of products with 16 independent partial sums (vectorisable), pairwise-combined.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32], fma: bool) -> f32 {
    const W: usize = 16;
    let mut acc = [0.0f32; W];
    let ca = a.chunks_exact(W);
    let cb = b.chunks_exact(W);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..W {
            acc[i] = if fma {
                x[i].mul_add(y[i], acc[i])
            } else {
                acc[i] + x[i] * y[i]
            };
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    let mut w = W;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0] + tail
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b, false)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2_fma_impl(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b, true)
}

#[cfg(target_arch = "x86_64")]
fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: chosen by dot_fn only when the CPU reports AVX2 and FMA.
    unsafe { dot_avx2_fma_impl(a, b) }
}

fn dot_fn() -> DotFn {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return dot_avx2_fma;
    }
    dot_portable
}

/// A bank's filter parameters (as bits) and rate pair.
type BankKey = (usize, u32, u64, u64, u32, u32);

fn bank(filter: &KaiserFilter, from: u32, to: u32) -> Arc<Bank> {
    static BANKS: OnceLock<Mutex<HashMap<BankKey, Arc<Bank>>>> = OnceLock::new();
    let banks = BANKS.get_or_init(|| Mutex::new(HashMap::new()));
    let f = filter;
    let key = (
        f.num_zeros,
        f.precision_bits,
        f.rolloff.to_bits(),
        f.beta.to_bits(),
        from,
        to,
    );
    if let Some(b) = banks.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return b;
    }
    // Built outside the lock (two threads may both build one; either result is the same).
    let b = Arc::new(Bank::new(filter, from, to));
    if let Ok(mut m) = banks.lock() {
        m.entry(key).or_insert_with(|| b.clone());
    }
    b
}

/// Resample `x` from `from` Hz to `to` Hz with `filter`, returning `ceil(len * to / from)`
/// samples: resampy's `floor(len * to / from)` then zeros, like `librosa.resample`.
pub fn resample(filter: &KaiserFilter, x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == 0 || to == 0 {
        return Err(Error::Audio(format!("invalid sample rates {from} -> {to}")));
    }
    let n_fix = super::output_len(x.len(), from, to);
    let n_out = resampy_len(x.len(), from, to);
    let mut y = vec![0.0f32; n_fix];
    if n_out == 0 {
        return Ok(y);
    }
    let g = gcd(u64::from(from), u64::from(to));
    if u64::from(to) / g <= MAX_PHASES {
        bank(filter, from, to).run(x, n_out, &mut y);
    } else {
        direct(filter, x, from, to, &mut y[..n_out]);
    }
    Ok(y)
}

/// One output at a time, weights computed per output (long-period rate pairs).
fn direct(filter: &KaiserFilter, x: &[f32], from: u32, to: u32, y: &mut [f32]) {
    let geo = Geometry::new(filter, from, to);
    let inc = 1.0 / (f64::from(to) / f64::from(from));
    for (t, o) in y.iter_mut().enumerate() {
        let time = t as f64 * inc;
        let n = time as usize;
        let w = geo.wings(time - n as f64);
        let mut acc = 0.0f64;
        for (i, &v) in w.left.iter().enumerate().take(n + 1) {
            acc += v * f64::from(x[n - i]);
        }
        for (k, &v) in w.right.iter().enumerate() {
            match x.get(n + 1 + k) {
                Some(&s) => acc += v * f64::from(s),
                None => break,
            }
        }
        *o = acc as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// I0 at points from Abramowitz & Stegun table 9.8 (I0(x) e^-x): I0(1) = 1.2660658777520082,
    /// I0(5) = 27.239871823604442, I0(10) = 2815.716628466254.
    #[test]
    fn bessel_i0_matches_tabulated_values() {
        for (x, want) in [
            (0.0, 1.0),
            (1.0, 1.266_065_877_752_008_2),
            (5.0, 27.239_871_823_604_442),
            (10.0, 2_815.716_628_466_254),
        ] {
            let got = bessel_i0(x);
            assert!(
                (got - want).abs() <= 1e-14 * want,
                "I0({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn half_window_shape_and_ends() {
        let w = KAISER_BEST.half_window();
        assert_eq!(w.len(), 50 * 8192 + 1);
        assert_eq!(w[0], KAISER_BEST.rolloff);
        // Zero crossings of the sinc at integer multiples of 1 / rolloff input samples.
        let z = (8192.0 / KAISER_BEST.rolloff) as usize;
        assert!(w[z].abs() < 1e-3 && w[z + 1] < 0.0 && w[z - 1] > 0.0);
        assert_eq!(KAISER_FAST.half_window().len(), 24 * 512 + 1);
    }

    /// Polyphase and direct evaluation are the same sums (up to f32 rounding of the weights
    /// and the summation order).
    #[test]
    fn polyphase_equals_direct() {
        let x: Vec<f32> = (0..5000)
            .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.011).cos()) * 0.5)
            .collect();
        for (from, to) in [
            (44100u32, 16000u32),
            (8000, 16000),
            (22050, 16000),
            (48000, 16000),
        ] {
            for f in [&KAISER_BEST, &KAISER_FAST] {
                let a = resample(f, &x, from, to).unwrap();
                let mut b = vec![0.0f32; a.len()];
                let n_out = resampy_len(x.len(), from, to);
                direct(f, &x, from, to, &mut b[..n_out]);
                let max = a
                    .iter()
                    .zip(&b)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0f32, f32::max);
                assert!(max < 2e-6, "{} {from}->{to}: {max}", f.name);
            }
        }
    }

    #[test]
    fn lengths_are_resampys_then_librosas() {
        assert_eq!(resampy_len(1321967, 44100, 16000), 479625);
        let y = resample(&KAISER_FAST, &vec![0.1f32; 1001], 44100, 16000).unwrap();
        assert_eq!(y.len(), 364); // ceil(1001 * 160 / 441) = ceil(363.17)
        assert_eq!(y[363], 0.0); // past resampy's floor(363.17) = 363 samples: librosa's zero
    }
}
