//! The numeric kernels of the forward pass, and (with its submodules) the only place in the
//! crate with `unsafe`.
//!
//! - [`WeightMatrix`] (in `packed`): products with a constant right operand (the weights),
//!   packed once at load time for an AVX-512F or AVX2 + FMA micro-kernel, cut into tiles that
//!   the threads take as they free up, with hooks for what follows on the finished values
//!   (bias, GELU, residual + LayerNorm); the forward pass's big GEMMs. With
//!   [`crate::Precision::Int16`] the weights are quantized instead (`quantized`: 10-bit weights
//!   × 12-bit activations in i16 lanes, exact i32 sums on AVX2 `vpmaddwd`, or in portable Rust
//!   with the same result).
//! - [`attention`] (in `attention`): multi-head self-attention of packed sequences, its two
//!   products per (sequence, head) on the same micro-kernels.
//! - [`gemm_raw`]: a bounds-checked front for the `gemm` crate's strided f32 GEMM, for CPUs
//!   without AVX2.
//! - Row-wise element-wise kernels (bias, bias + activation, bias + LayerNorm, softmax), written
//!   as plain loops over 16-lane accumulators so that LLVM vectorises them. Each is compiled
//!   three times: for the baseline target and, on x86-64, with AVX2 + FMA and with AVX-512F
//!   enabled, the best chosen at run time with `is_x86_feature_detected!` ([`Level`]). All
//!   copies run the same source, so they differ only by rounding (FMA contraction), which the
//!   tests bound for each.
//!
//! `exp` and `erf` are branch-free polynomial/rational approximations (Cephes `expf`, and the
//! rational `erf` of Eigen/XLA) accurate to a few ulp, so they vectorise.

#![allow(unsafe_code)]

mod attention;
mod packed;
mod quantized;

pub(crate) use attention::attention;
pub(crate) use packed::{Hooks, WeightMatrix};
use quantized::QuantMatrix;

/// How many threads a GEMM may use (1 = the calling thread only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Threads(pub usize);

/// A strided, read-only matrix view: element `(r, c)` is `data[r * rs + c * cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// Handles the products with no work: nothing when `m` or `n` is 0, and with `k` = 0 a zero
/// destination (unless accumulating). Returns whether the product was one of those.
fn empty_product(dst: &mut [f32], dst_rs: usize, (m, n, k): (usize, usize, usize), accumulate: bool) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return true;
    }
    false
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`) through the `gemm` crate, where `a` is
/// `m × k`, `b` is `k × n`, and `dst` is `m × n` at row stride `dst_rs` and column stride 1,
/// given by pointer so that threads can write disjoint parts of one matrix. Checks the
/// operands' extents; `m`, `n` and `k` must be positive.
///
/// # Safety
/// `dst` points at `m` rows of `n` writable floats at row stride `dst_rs >= n` (column stride
/// 1) that nothing else reads or writes until this returns.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw(
    dst: *mut f32,
    dst_rs: usize,
    a: View<'_>,
    b: View<'_>,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    threads: Threads,
) {
    assert!(m > 0 && n > 0 && k > 0, "gemm_raw: empty product {m} x {n} x {k}");
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(last(m, k, a.rs, a.cs) < a.data.len(), "matmul: left operand too short");
    assert!(last(k, n, b.rs, b.cs) < b.data.len(), "matmul: right operand too short");
    let parallelism = if threads.0 > 1 { gemm::Parallelism::Rayon(threads.0) } else { gemm::Parallelism::None };
    // SAFETY: the asserts above prove that every element the GEMM reads, at
    // `base + r * rs + c * cs` for r, c inside the given shape, lies inside its slice; the
    // destination is the caller's contract. `a` and `b` are shared borrows and the destination
    // is exclusively the caller's, so it aliases neither. Strides fit in `isize` because they
    // index into live memory.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The feed-forward activation, applied after adding the bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `0.5 x (1 + erf(x / sqrt 2))`, what Hugging Face calls `gelu`.
    GeluErf,
    /// The tanh approximation of GELU.
    GeluTanh,
    /// `max(0, x)`.
    Relu,
}

fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2_fma() && std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The instruction sets the element-wise kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The baseline target.
    Generic,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512F (+ AVX2 + FMA).
    Avx512,
}

impl Level {
    /// Every level, the fastest last.
    pub(crate) const ALL: [Level; 3] = [Level::Generic, Level::Avx2, Level::Avx512];

    /// The fastest level this CPU runs.
    pub(crate) fn best() -> Level {
        Level::ALL.into_iter().rev().find(|l| l.available()).unwrap_or(Level::Generic)
    }

    /// Whether this CPU runs code compiled for the level.
    pub(crate) fn available(self) -> bool {
        match self {
            Level::Generic => true,
            Level::Avx2 => avx2_fma(),
            Level::Avx512 => avx512(),
        }
    }
}

/// Defines a public dispatcher `$name` that runs `generic::$name` compiled for the best
/// [`Level`] the CPU has (AVX-512F, else AVX2 + FMA, else the baseline), and, for the tests,
/// `at_level::$name` running it at a given level.
macro_rules! dispatch {
    ($(fn $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            pub(crate) fn $name($($arg: $ty),*) {
                match Level::best() {
                    // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (`Level::best`), the only
                    // requirement of calling a function compiled for them.
                    #[cfg(target_arch = "x86_64")]
                    Level::Avx512 => unsafe { avx512::$name($($arg),*) },
                    // SAFETY: the CPU supports AVX2 and FMA (`Level::best`).
                    #[cfg(target_arch = "x86_64")]
                    Level::Avx2 => unsafe { avx2::$name($($arg),*) },
                    _ => generic::$name($($arg),*),
                }
            }
        )*

        #[cfg(target_arch = "x86_64")]
        mod avx2 {
            use super::*;
            $(
                #[target_feature(enable = "avx2,fma")]
                pub(super) fn $name($($arg: $ty),*) {
                    generic::$name($($arg),*)
                }
            )*
        }

        #[cfg(target_arch = "x86_64")]
        mod avx512 {
            use super::*;
            $(
                #[target_feature(enable = "avx512f,avx2,fma")]
                pub(super) fn $name($($arg: $ty),*) {
                    generic::$name($($arg),*)
                }
            )*
        }

        #[cfg(test)]
        pub(crate) mod at_level {
            use super::*;
            $(
                /// Runs the kernel compiled for `level`. Panics if the CPU lacks it.
                pub(crate) fn $name(level: Level, $($arg: $ty),*) {
                    assert!(level.available(), "this CPU does not run {level:?} code");
                    match level {
                        Level::Generic => generic::$name($($arg),*),
                        // SAFETY: the CPU runs the level's instructions (asserted above).
                        #[cfg(target_arch = "x86_64")]
                        Level::Avx2 => unsafe { avx2::$name($($arg),*) },
                        // SAFETY: as above.
                        #[cfg(target_arch = "x86_64")]
                        Level::Avx512 => unsafe { avx512::$name($($arg),*) },
                        #[cfg(not(target_arch = "x86_64"))]
                        _ => unreachable!("only the generic level is available here"),
                    }
                }
            )*
        }
    };
}

dispatch! {
    fn add_bias(rows: &mut [f32], bias: &[f32]);
    fn bias_activation(rows: &mut [f32], bias: &[f32], act: Activation);
    fn bias_layer_norm(rows: &mut [f32], bias: Option<&[f32]>, gamma: &[f32], beta: &[f32], eps: f32);
    fn softmax_rows(rows: &mut [f32], width: usize);
}

/// The kernels' single source, inlined into each dispatcher copy.
pub(crate) mod generic {
    use super::Activation;

    /// Independent accumulators of the reductions: one AVX-512 register, two AVX2 ones.
    const LANES: usize = 16;

    #[inline(always)]
    fn sum(xs: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        let chunks = xs.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for (a, v) in acc.iter_mut().zip(c) {
                *a += v;
            }
        }
        let mut s = tail.iter().sum::<f32>();
        for a in acc {
            s += a;
        }
        s
    }

    #[inline(always)]
    fn max(xs: &[f32]) -> f32 {
        let mut acc = [f32::NEG_INFINITY; LANES];
        let chunks = xs.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a = if v > *a { v } else { *a };
            }
        }
        tail.iter().chain(&acc).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }

    /// `e^x` to ~2 ulp (Cephes `expf`), for `x` in about [-87, 88]; clamped outside.
    #[inline(always)]
    pub(crate) fn exp(x: f32) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        let x = x.clamp(-87.0, 88.0);
        let n = (x * LOG2E + 0.5).floor();
        let r = x - n * LN2_HI - n * LN2_LO;
        let mut p = 1.987_569_1e-4;
        p = p * r + 1.398_2e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 0.5;
        let y = p * r * r + r + 1.0;
        // 2^n without a float-to-int conversion (which does not vectorise): n + 127 lands in
        // the low mantissa bits of 2^23 + 127 + n, and the shift moves it into the exponent.
        y * f32::from_bits((n + (8_388_608.0 + 127.0)).to_bits() << 23)
    }

    /// `erf(x)` to a few ulp: the odd/even rational approximation used by Eigen and XLA,
    /// and exactly ±1 where erf rounds to ±1 in f32.
    #[inline(always)]
    pub(crate) fn erf(x: f32) -> f32 {
        let big = x.abs() >= 3.92; // erf rounds to ±1 in f32 from here on
        let x = x.clamp(-4.0, 4.0);
        let x2 = x * x;
        let mut p = -2.726_142_3e-10;
        p = p * x2 + 2.770_681_4e-8;
        p = p * x2 + -2.101_024e-6;
        p = p * x2 + -5.692_506_4e-5;
        p = p * x2 + -7.349_906_3e-4;
        p = p * x2 + -2.954_6e-3;
        p = p * x2 + -1.609_603_3e-2;
        let mut q = -1.456_607_2e-5;
        q = q * x2 + -2.133_740_6e-4;
        q = q * x2 + -1.682_827e-3;
        q = q * x2 + -7.373_329e-3;
        q = q * x2 + -1.426_474e-2;
        let r = x * p / q;
        if big { 1f32.copysign(x) } else { r }
    }

    #[inline(always)]
    fn tanh(x: f32) -> f32 {
        1.0 - 2.0 / (exp(2.0 * x) + 1.0)
    }

    /// Each row of `rows` (width `bias.len()`) becomes `row + bias`.
    #[inline(always)]
    pub(crate) fn add_bias(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }

    /// Each row of `rows` (width `bias.len()`) becomes `act(row + bias)`.
    #[inline(always)]
    pub(crate) fn bias_activation(rows: &mut [f32], bias: &[f32], act: Activation) {
        for row in rows.chunks_exact_mut(bias.len()) {
            match act {
                Activation::GeluErf => {
                    for (v, b) in row.iter_mut().zip(bias) {
                        let x = *v + b;
                        *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
                    }
                }
                Activation::GeluTanh => {
                    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
                    for (v, b) in row.iter_mut().zip(bias) {
                        let x = *v + b;
                        *v = 0.5 * x * (1.0 + tanh(C * (x + 0.044_715 * x * x * x)));
                    }
                }
                Activation::Relu => {
                    for (v, b) in row.iter_mut().zip(bias) {
                        let x = *v + b;
                        *v = if x > 0.0 { x } else { 0.0 };
                    }
                }
            }
        }
    }

    /// Each row of `rows` (width `gamma.len()`) becomes `LayerNorm(row + bias)`.
    #[inline(always)]
    pub(crate) fn bias_layer_norm(rows: &mut [f32], bias: Option<&[f32]>, gamma: &[f32], beta: &[f32], eps: f32) {
        let width = gamma.len();
        let inv_n = 1.0 / width as f32;
        for row in rows.chunks_exact_mut(width) {
            if let Some(bias) = bias {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
            let mean = sum(row) * inv_n;
            let mut acc = [0f32; LANES];
            let chunks = row.chunks_exact(LANES);
            let mut var = chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum::<f32>();
            for c in chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    *a += (v - mean) * (v - mean);
                }
            }
            for a in acc {
                var += a;
            }
            let inv = 1.0 / (var * inv_n + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }

    /// Softmax of each row of `rows` (width `width`), in place.
    #[inline(always)]
    pub(crate) fn softmax_rows(rows: &mut [f32], width: usize) {
        for row in rows.chunks_exact_mut(width) {
            let m = max(row);
            let mut acc = [0f32; LANES];
            let mut chunks = row.chunks_exact_mut(LANES);
            for c in &mut chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    *v = exp(*v - m);
                    *a += *v;
                }
            }
            let mut total = 0.0;
            for v in chunks.into_remainder() {
                *v = exp(*v - m);
                total += *v;
            }
            for a in acc {
                total += a;
            }
            let inv = 1.0 / total;
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -86_999..88_000 {
            let x = i as f32 * 1e-3;
            let (got, want) = (generic::exp(x) as f64, (x as f64).exp());
            assert!(((got - want) / want).abs() < 5e-7, "exp({x}) = {got}, want {want}");
        }
        for i in -6_000..6_000 {
            let x = i as f32 * 1e-3;
            let got = generic::erf(x) as f64;
            let want = crate::test_support::erf(x as f64);
            assert!((got - want).abs() < 5e-7, "erf({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn gemm_raw_matches_naive_on_random_shapes_and_strides() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        for case in 0..60 {
            let (m, n, k) = (1 + rng.below(70), 1 + rng.below(70), 1 + rng.below(90));
            let a_t = rng.below(2) == 1;
            let b_t = rng.below(2) == 1;
            let pad = rng.below(5);
            let (a_rs, a_cs) = if a_t { (1, m + pad) } else { (k + pad, 1) };
            let (b_rs, b_cs) = if b_t { (1, k + pad) } else { (n + pad, 1) };
            let a = rng.fill((m + pad) * (k + pad), 1.0, 0.0);
            let b = rng.fill((k + pad) * (n + pad), 1.0, 0.0);
            let dst_rs = n + pad;
            let init = rng.fill(m * dst_rs, 1.0, 0.0);
            let accumulate = rng.below(2) == 1;
            let threads = Threads(1 + rng.below(2));
            let mut dst = init.clone();
            let a_view = View { data: &a, rs: a_rs, cs: a_cs };
            let b_view = View { data: &b, rs: b_rs, cs: b_cs };
            // SAFETY: `dst` holds `m` rows of `dst_rs >= n` floats and nothing else uses it.
            unsafe { gemm_raw(dst.as_mut_ptr(), dst_rs, a_view, b_view, (m, n, k), accumulate, threads) };
            for r in 0..m {
                for c in 0..dst_rs {
                    let got = dst[r * dst_rs + c];
                    if c >= n {
                        assert_eq!(got, init[r * dst_rs + c], "case {case}: padding column written");
                        continue;
                    }
                    let mut want: f64 = if accumulate { init[r * dst_rs + c] as f64 } else { 0.0 };
                    for i in 0..k {
                        want += a[r * a_rs + i * a_cs] as f64 * b[i * b_rs + c * b_cs] as f64;
                    }
                    assert!((got as f64 - want).abs() < 1e-4, "case {case} ({m}x{n}x{k}): {got} vs {want}");
                }
            }
        }
    }

    fn naive_layer_norm(row: &[f32], bias: &[f32], gamma: &[f32], beta: &[f32], eps: f64) -> Vec<f64> {
        let x: Vec<f64> = row.iter().zip(bias).map(|(v, b)| (*v + *b) as f64).collect();
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        x.iter().zip(gamma).zip(beta).map(|((v, g), b)| (v - mean) * inv * *g as f64 + *b as f64).collect()
    }

    #[test]
    fn fast_kernels_match_naive_ones() {
        let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
        for case in 0..200 {
            let width = 1 + rng.below(400);
            let rows = 1 + rng.below(5);
            let scale = [0.1, 1.0, 8.0, 30.0][rng.below(4)];
            let x = rng.fill(rows * width, scale, 0.0);
            let bias = rng.fill(width, scale, 0.0);
            let gamma = rng.fill(width, 1.0, 0.0);
            let beta = rng.fill(width, 1.0, 0.0);

            // Every level this CPU runs (each a separate build of the same source), and the
            // dispatched one, against the naive twins.
            let levels: Vec<Option<Level>> =
                std::iter::once(None).chain(Level::ALL.into_iter().filter(|l| l.available()).map(Some)).collect();
            for &level in &levels {
                let mut got = x.clone();
                match level {
                    Some(l) => at_level::bias_layer_norm(l, &mut got, Some(&bias), &gamma, &beta, 1e-12),
                    None => bias_layer_norm(&mut got, Some(&bias), &gamma, &beta, 1e-12),
                }
                for (r, got) in got.chunks(width).enumerate() {
                    let want = naive_layer_norm(&x[r * width..(r + 1) * width], &bias, &gamma, &beta, 1e-12);
                    for (g, w) in got.iter().zip(&want) {
                        assert!((*g as f64 - w).abs() < 2e-5, "case {case}, {level:?}: {g} {w}");
                    }
                }

                let mut got = x.clone();
                match level {
                    Some(l) => at_level::softmax_rows(l, &mut got, width),
                    None => softmax_rows(&mut got, width),
                }
                for (r, got) in got.chunks(width).enumerate() {
                    let row = &x[r * width..(r + 1) * width];
                    let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                    let z: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
                    for (g, v) in got.iter().zip(row) {
                        let want = (*v as f64 - m).exp() / z;
                        assert!((*g as f64 - want).abs() < 1e-6, "case {case}, {level:?}");
                    }
                }

                let mut got = x.clone();
                match level {
                    Some(l) => at_level::add_bias(l, &mut got, &bias),
                    None => add_bias(&mut got, &bias),
                }
                for (i, g) in got.iter().enumerate() {
                    assert_eq!(*g, x[i] + bias[i % width], "case {case}, {level:?}");
                }

                for act in [Activation::GeluErf, Activation::GeluTanh, Activation::Relu] {
                    let mut got = x.clone();
                    match level {
                        Some(l) => at_level::bias_activation(l, &mut got, &bias, act),
                        None => bias_activation(&mut got, &bias, act),
                    }
                    for (i, g) in got.iter().enumerate() {
                        let v = (x[i] + bias[i % width]) as f64;
                        let want = match act {
                            Activation::GeluErf => {
                                0.5 * v * (1.0 + crate::test_support::erf(v / std::f64::consts::SQRT_2))
                            }
                            Activation::GeluTanh => {
                                0.5 * v
                                    * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh())
                            }
                            Activation::Relu => v.max(0.0),
                        };
                        let tol = 2e-6 * want.abs().max(1.0);
                        assert!((*g as f64 - want).abs() < tol, "{act:?}({v}), {level:?}: {g} {want}");
                    }
                }
            }
        }
    }
}
