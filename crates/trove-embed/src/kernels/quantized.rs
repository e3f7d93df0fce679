//! Matrix products with quantized constant weights: 10-bit weights × 13-bit activations, both
//! held in i16 lanes and summed exactly in i32, for [`crate::Precision::Int16`].
//!
//! Weights are quantized once at load time, symmetrically per output column (scale =
//! max |w| / 1023), and packed like the f32 weights of `packed` (blocks of [`KC`] rows, panels
//! of [`NR`] = 16 columns) except that the two rows of each pair of `k` steps are interleaved,
//! widened to i16: the layout `vpmaddwd` (`_mm256_madd_epi16`) multiplies. Activations are
//! quantized on every call, symmetrically per row and per block of `KC` values (scale =
//! max |a| / 4095), so an outlier dimension only coarsens its own row's step.
//!
//! Why these widths: AVX2 has no faster integer product than `vpmaddwd` for operands wider
//! than 7 bits (`vpmaddubsw` needs u8 × i7 or saturates), so any width up to 16 bits costs
//! the same; what bounds them is that a block's i32 sum must not overflow:
//! `KC · W_MAX · A_MAX < 2³¹`. Measured on all-MiniLM-L6-v2 (`bench/src/embedders.rs`):
//! 8-bit weights × 16-bit activations gave a lowest cosine to the f32 vectors of 0.9965 over
//! the 12 pinned reference sentences, 10 × 13 bits 0.99997 and 12 × 12 bits 0.99995, at the
//! same speed, so 10 × 13 it is.
//!
//! The AVX2 micro-kernel keeps a 6 × 16 tile of i32 sums in twelve registers; each step
//! broadcasts a row's pair of activations, multiplies it with a packed pair-row of weights
//! (`vpmaddwd`, 16 products summed pairwise into 8 lanes) and adds (`vpaddd`). Nothing can
//! overflow or saturate: a block's sum is at most `KC · 4095 · 1023 < 2³¹` (asserted at compile
//! time), and `vpmaddwd` saturates only for two products of −32768 · −32768, which never occur. The
//! sums are exact, so the portable fallback (plain Rust over the same packed data) gives
//! bit-identical results. Each block's sum is scaled back to f32 (`sum · (row scale · column
//! scale)`) and added to the destination.

use std::ops::Range;

/// Columns of one packed panel (two AVX registers of eight i32 sums).
const NR: usize = 16;
/// Rows of one micro-kernel tile (6 × 2 accumulators + 2 weight registers + 1 broadcast).
const MR: usize = 6;
/// Rows of the right operand per block; even, so that no pair of steps straddles two blocks.
const KC: usize = 384;
/// Rows of the left operand quantized per block.
const MC: usize = 144;
/// Largest quantized weight magnitude (10 bits and a sign).
pub(crate) const W_MAX: i16 = 1023;
/// Largest quantized activation magnitude (12 bits and a sign).
pub(crate) const A_MAX: i16 = 4095;

const _: () = assert!(KC.is_multiple_of(2), "pairs of steps must not straddle blocks");
const _: () = assert!((KC as i64) * (A_MAX as i64) * (W_MAX as i64) <= i32::MAX as i64, "i32 sums could overflow");
const _: () = assert!(MR == 6, "the tile dispatch in `run` assumes MR = 6");

/// Rounds `x · inv` to the nearest integer within ±`max`.
#[inline(always)]
fn quantize(x: f32, inv: f32, max: i16) -> i16 {
    let m = f32::from(max);
    (x * inv).round().clamp(-m, m) as i16
}

/// A constant `k × n` right operand quantized per column and packed for the kernel.
pub(crate) struct QuantMatrix {
    /// Blocks of `KC` rows; in each, panels of `NR` columns; in each, `kc / 2` pair-rows of
    /// `2 · NR` values: column `c`'s two weights at `2c` and `2c + 1`.
    data: Vec<i16>,
    /// Per column (padded to whole panels with 0): the weight of quantized value 1.
    scales: Vec<f32>,
    k: usize,
    n: usize,
    /// Whether products run on the AVX2 kernel (otherwise the portable one).
    simd: bool,
}

impl QuantMatrix {
    /// Quantizes and packs the row-major `k × n` matrix `b` for the fastest kernel this CPU has.
    ///
    /// Panics if `b.len() != k * n`.
    pub(crate) fn new(b: &[f32], k: usize, n: usize) -> Self {
        Self::with_kernel(b, k, n, super::avx2_fma())
    }

    /// As [`QuantMatrix::new`], choosing the kernel: `simd` needs AVX2.
    pub(crate) fn with_kernel(b: &[f32], k: usize, n: usize, simd: bool) -> Self {
        assert_eq!(b.len(), k * n, "QuantMatrix: {k} x {n} matrix of {} values", b.len());
        assert!(!simd || super::avx2_fma(), "QuantMatrix: the SIMD kernel needs AVX2");
        let panels = n.div_ceil(NR);
        let mut scales = vec![0f32; panels * NR];
        let mut inverse = vec![0f32; n];
        for c in 0..n {
            let max = (0..k).map(|p| b[p * n + c].abs()).fold(0f32, f32::max);
            if max > 0.0 && max.is_finite() {
                scales[c] = max / f32::from(W_MAX);
                inverse[c] = f32::from(W_MAX) / max;
            }
        }
        let mut data = vec![0i16; k.div_ceil(2) * panels * NR * 2];
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for j in 0..panels {
                let block = (k0 / 2) * panels * NR * 2 + j * kc.div_ceil(2) * NR * 2;
                for c in 0..NR.min(n - j * NR) {
                    let col = j * NR + c;
                    for p in 0..kc {
                        let q = quantize(b[(k0 + p) * n + col], inverse[col], W_MAX);
                        data[block + (p / 2) * NR * 2 + 2 * c + p % 2] = q;
                    }
                }
            }
        }
        QuantMatrix { data, scales, k, n, simd }
    }

    /// Columns of the matrix.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Bytes of packed weights and scales (for memory accounting).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.data.len() * 2 + self.scales.len() * 4
    }

    /// Rows of the matrix.
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// The product for panels `panels` (columns `panels.start * NR ..`), all `m` rows; `a` is
    /// quantized on the way. [`super::WeightMatrix`] cuts products into such tiles.
    ///
    /// # Safety
    /// `dst` holds `m` rows of `n` values at stride `dst_rs`, and no one else accesses the
    /// columns of `panels` of those rows meanwhile; `a` holds `m` rows of `k` values at stride
    /// `a_rs`.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn run(
        &self,
        dst: *mut f32,
        dst_rs: usize,
        a: &[f32],
        a_rs: usize,
        m: usize,
        panels: Range<usize>,
        accumulate: bool,
    ) {
        let (n, k) = (self.n, self.k);
        let all_panels = n.div_ceil(NR);
        let tile_rows = MC.min(m).div_ceil(MR) * MR;
        let mut qa = vec![0i32; tile_rows * KC.min(k).div_ceil(2)];
        let mut sa = vec![0f32; tile_rows];
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let kc2 = kc.div_ceil(2);
            let acc = accumulate || k0 > 0;
            for i0 in (0..m).step_by(MC) {
                let mc = MC.min(m - i0);
                for r in 0..mc {
                    let row = &a[(i0 + r) * a_rs + k0..][..kc];
                    let tile = &mut qa[(r / MR) * MR * kc2..][..MR * kc2];
                    sa[r] = quantize_row(row, &mut tile[r % MR..]);
                }
                for j in panels.clone() {
                    let cols = NR.min(n - j * NR);
                    let b = &self.data[(k0 / 2 * all_panels + j * kc2) * NR * 2..][..kc2 * NR * 2];
                    let sw = &self.scales[j * NR..][..NR];
                    let mut i = 0;
                    while i < mc {
                        let rows = MR.min(mc - i);
                        let ap = &qa[(i / MR) * MR * kc2..][..MR * kc2];
                        let sa = &sa[i..i + rows];
                        // SAFETY: row i0 + i + rows <= m and columns j * NR + cols <= n, so the
                        // tile lies inside `dst` per the contract; the packed slices have the
                        // lengths the kernels read; `simd` implies AVX2 (checked at packing).
                        unsafe {
                            let cp = dst.add((i0 + i) * dst_rs + j * NR);
                            if self.simd {
                                #[cfg(target_arch = "x86_64")]
                                match rows {
                                    6 => x86::tile::<6>(kc2, ap, b, sa, sw, cp, dst_rs, cols, acc),
                                    1 => x86::tile::<1>(kc2, ap, b, sa, sw, cp, dst_rs, cols, acc),
                                    2 => x86::tile::<2>(kc2, ap, b, sa, sw, cp, dst_rs, cols, acc),
                                    3 => x86::tile::<3>(kc2, ap, b, sa, sw, cp, dst_rs, cols, acc),
                                    4 => x86::tile::<4>(kc2, ap, b, sa, sw, cp, dst_rs, cols, acc),
                                    _ => x86::tile::<5>(kc2, ap, b, sa, sw, cp, dst_rs, cols, acc),
                                }
                            } else {
                                portable_tile(kc2, ap, b, sa, sw, cp, dst_rs, cols, acc);
                            }
                        }
                        i += rows;
                    }
                }
            }
        }
    }
}

/// Quantizes `row` (one block of one row) into every `MR`-th slot of `out` as pairs (low half:
/// the even step), zero-padding an odd tail; returns the row's scale.
fn quantize_row(row: &[f32], out: &mut [i32]) -> f32 {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    let (scale, inv) =
        if max > 0.0 && max.is_finite() { (max / f32::from(A_MAX), f32::from(A_MAX) / max) } else { (0.0, 0.0) };
    let mut pairs = row.chunks(2);
    for (p, pair) in pairs.by_ref().enumerate() {
        let lo = quantize(pair[0], inv, A_MAX);
        let hi = pair.get(1).map_or(0, |&v| quantize(v, inv, A_MAX));
        out[p * MR] = i32::from(lo as u16) | (i32::from(hi as u16) << 16);
    }
    scale
}

/// The fallback tile: `c[r][0..cols] (+)= Σ pairs · (sa[r] · sw[col])`, same arithmetic as the
/// SIMD tile (exact i32 sums, then the same two float multiplications and add).
///
/// # Safety
/// `c` has `sa.len()` rows of `cols ≤ NR` values at stride `c_rs`.
#[allow(clippy::too_many_arguments)]
unsafe fn portable_tile(
    kc2: usize,
    a: &[i32],
    b: &[i16],
    sa: &[f32],
    sw: &[f32],
    c: *mut f32,
    c_rs: usize,
    cols: usize,
    accumulate: bool,
) {
    for (r, &s) in sa.iter().enumerate() {
        for col in 0..cols {
            let mut sum = 0i32;
            for p in 0..kc2 {
                let pair = a[p * MR + r];
                let (lo, hi) = (i32::from(pair as i16), pair >> 16);
                sum += lo * i32::from(b[p * NR * 2 + 2 * col]) + hi * i32::from(b[p * NR * 2 + 2 * col + 1]);
            }
            let v = sum as f32 * (s * sw[col]);
            // SAFETY: (r, col) lies inside the tile, per the contract.
            unsafe {
                let d = c.add(r * c_rs + col);
                *d = if accumulate { *d + v } else { v };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// One `R × NR` tile of [`super::portable_tile`], on AVX2.
    ///
    /// # Safety
    /// AVX2 is available; `a` has `kc2 × MR` pairs, `b` `kc2 × 2 NR` values, `sa` at least `R`
    /// and `sw` `NR` scales; `c` has `R` rows of `cols ≤ NR` values at stride `c_rs`.
    #[target_feature(enable = "avx2")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile<const R: usize>(
        kc2: usize,
        a: &[i32],
        b: &[i16],
        sa: &[f32],
        sw: &[f32],
        c: *mut f32,
        c_rs: usize,
        cols: usize,
        accumulate: bool,
    ) {
        assert!(a.len() >= kc2 * MR && b.len() >= kc2 * NR * 2 && sa.len() >= R && sw.len() >= NR);
        let (a, b) = (a.as_ptr(), b.as_ptr());
        // SAFETY: reads stay inside the slices (asserted above); writes inside the tile, per the
        // contract.
        unsafe {
            let mut lo = [_mm256_setzero_si256(); R];
            let mut hi = [_mm256_setzero_si256(); R];
            for p in 0..kc2 {
                let b0 = _mm256_loadu_si256(b.add(p * NR * 2).cast());
                let b1 = _mm256_loadu_si256(b.add(p * NR * 2 + 16).cast());
                for r in 0..R {
                    let av = _mm256_set1_epi32(*a.add(p * MR + r));
                    lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(av, b0));
                    hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(av, b1));
                }
            }
            let w0 = _mm256_loadu_ps(sw.as_ptr());
            let w1 = _mm256_loadu_ps(sw.as_ptr().add(8));
            for r in 0..R {
                let s = _mm256_set1_ps(sa[r]);
                let mut v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(lo[r]), _mm256_mul_ps(s, w0));
                let mut v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(hi[r]), _mm256_mul_ps(s, w1));
                let cp = c.add(r * c_rs);
                if cols == NR {
                    if accumulate {
                        v0 = _mm256_add_ps(_mm256_loadu_ps(cp), v0);
                        v1 = _mm256_add_ps(_mm256_loadu_ps(cp.add(8)), v1);
                    }
                    _mm256_storeu_ps(cp, v0);
                    _mm256_storeu_ps(cp.add(8), v1);
                } else {
                    let mut tmp = [0f32; NR];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), v0);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), v1);
                    for (j, t) in tmp.iter().enumerate().take(cols) {
                        let d = cp.add(j);
                        *d = if accumulate { *d + t } else { *t };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{Hooks, Threads, WeightMatrix};
    use crate::test_support::Rng;

    /// The quantized product computed directly from its definition, independently of the
    /// packing: per-column weight scales, per-row-and-block activation scales, exact integer
    /// sums, then the same float steps as the kernels (`sum · (sa · sw)`, added block by block).
    #[allow(clippy::too_many_arguments)]
    fn reference(
        dst: &mut [f32],
        dst_rs: usize,
        a: &[f32],
        a_rs: usize,
        b: &[f32],
        (m, n, k): (usize, usize, usize),
        accumulate: bool,
    ) {
        let scale_of = |max: f32, q: i16| if max > 0.0 { (max / f32::from(q), f32::from(q) / max) } else { (0.0, 0.0) };
        let col_scale: Vec<(f32, f32)> =
            (0..n).map(|c| scale_of((0..k).map(|p| b[p * n + c].abs()).fold(0.0, f32::max), W_MAX)).collect();
        for r in 0..m {
            for (block, k0) in (0..k).step_by(KC).enumerate() {
                let kc = KC.min(k - k0);
                let row = &a[r * a_rs + k0..][..kc];
                let (sa, inv_a) = scale_of(row.iter().fold(0.0, |m, v| m.max(v.abs())), A_MAX);
                for (c, &(sw, inv_w)) in col_scale.iter().enumerate() {
                    let mut sum = 0i64;
                    for (p, &x) in row.iter().enumerate() {
                        let qa = (x * inv_a).round().clamp(-4095.0, 4095.0) as i64;
                        let qw = (b[(k0 + p) * n + c] * inv_w).round().clamp(-1023.0, 1023.0) as i64;
                        sum += qa * qw;
                    }
                    let sum = i32::try_from(sum).expect("a block sum exceeds i32");
                    let v = sum as f32 * (sa * sw);
                    let d = &mut dst[r * dst_rs + c];
                    *d = if accumulate || block > 0 { *d + v } else { v };
                }
            }
        }
    }

    /// Both kernels (the AVX2 one where the CPU has it), behind the products' real entry point.
    fn kernels(b: &[f32], k: usize, n: usize) -> Vec<(&'static str, WeightMatrix)> {
        let mut out = vec![("portable", WeightMatrix::Quantized(QuantMatrix::with_kernel(b, k, n, false)))];
        if crate::kernels::avx2_fma() {
            out.push(("avx2", WeightMatrix::Quantized(QuantMatrix::with_kernel(b, k, n, true))));
        }
        out
    }

    #[test]
    fn kernels_match_the_reference_exactly_on_ragged_shapes() {
        let mut rng = Rng(0x51DE_C0DE_1234_8765);
        for case in 0..60 {
            // m, n and k are mostly not multiples of the tile (6 × 16) or the block (384 rows);
            // k up to 1000 spans three blocks, odd k leaves a half pair.
            let m = 1 + rng.below(150);
            let n = 1 + rng.below(70);
            let k = 1 + rng.below(1000);
            let pad = rng.below(4);
            let (a_rs, dst_rs) = (k + pad, n + pad);
            let mut a = rng.fill(m * a_rs, 1.0, 0.0);
            // An outlier dimension, as BERT activations have after LayerNorm.
            if k > 3 {
                for r in 0..m {
                    a[r * a_rs + 3] *= 40.0;
                }
            }
            let b = rng.fill(k * n, 0.1, 0.0);
            let init = rng.fill(m * dst_rs, 1.0, 0.0);
            let accumulate = rng.below(2) == 1;
            let threads = Threads(1 + rng.below(3));
            let mut want = init.clone();
            reference(&mut want, dst_rs, &a, a_rs, &b, (m, n, k), accumulate);
            for (name, q) in kernels(&b, k, n) {
                let mut got = init.clone();
                q.matmul_then(&mut got, dst_rs, &a, a_rs, m, accumulate, threads, Hooks::default());
                for r in 0..m {
                    for c in 0..dst_rs {
                        let (g, w) = (got[r * dst_rs + c], want[r * dst_rs + c]);
                        if c >= n {
                            assert_eq!(g.to_bits(), init[r * dst_rs + c].to_bits(), "case {case}: padding written");
                        } else {
                            assert_eq!(
                                g.to_bits(),
                                w.to_bits(),
                                "{name} case {case} ({m}x{n}x{k}) at ({r}, {c}): {g} vs {w}"
                            );
                        }
                    }
                }
            }
            // And the reference is a close approximation of the real product: the error is
            // bounded by the quantization steps (half a step of each operand per product).
            for r in 0..m {
                let a_max = a[r * a_rs..][..k].iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
                for c in 0..n {
                    let mut exact = if accumulate { f64::from(init[r * dst_rs + c]) } else { 0.0 };
                    let mut bound = 1e-5 * exact.abs();
                    let w_max = (0..k).fold(0f64, |m, p| m.max(f64::from(b[p * n + c].abs())));
                    for p in 0..k {
                        let (x, y) = (f64::from(a[r * a_rs + p]), f64::from(b[p * n + c]));
                        exact += x * y;
                        bound += x.abs() * w_max / 2046.0 + y.abs() * a_max / 8190.0 + 1e-6 * (x * y).abs();
                    }
                    let got = f64::from(want[r * dst_rs + c]);
                    assert!((got - exact).abs() <= bound, "case {case}: {got} vs exact {exact} (bound {bound})");
                }
            }
        }
    }

    #[test]
    fn largest_magnitudes_neither_overflow_nor_saturate() {
        // Every quantized product is ±4095 · ±1023 with the same sign, so each block's i32 sum
        // is at its bound (KC · 4095 · 1023 ≈ 1.6e9). Overflow would change the sign or the
        // size of the result.
        let (m, n, k) = (7, 19, 3 * KC + 1);
        for (big_a, big_w) in [(1e30f32, 1e-3f32), (3.0, 2.0), (1e-30, 1e20)] {
            let a: Vec<f32> = (0..m * k).map(|i| if (i / k + i % k) % 2 == 0 { big_a } else { -big_a }).collect();
            let b: Vec<f32> = (0..k * n).map(|i| if (i / n) % 2 == 0 { big_w } else { -big_w }).collect();
            for (name, q) in kernels(&b, k, n) {
                let mut got = vec![0f32; m * n];
                q.matmul_then(&mut got, n, &a, k, m, false, Threads(1), Hooks::default());
                for r in 0..m {
                    let sign = if r % 2 == 0 { 1.0 } else { -1.0 };
                    let want = sign * k as f64 * f64::from(big_a) * f64::from(big_w);
                    for c in 0..n {
                        let g = f64::from(got[r * n + c]);
                        assert!(
                            ((g - want) / want).abs() < 1e-5,
                            "{name} {big_a} x {big_w} at ({r}, {c}): {g} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn zero_and_empty_operands() {
        // An all-zero column and an all-zero row have scale 0 and give exact zeros.
        let (m, n, k) = (3, 5, 40);
        let mut b = vec![0.5f32; k * n];
        for p in 0..k {
            b[p * n + 2] = 0.0;
        }
        let mut a = vec![1.0f32; m * k];
        a[k..2 * k].fill(0.0);
        for (name, q) in kernels(&b, k, n) {
            let mut got = vec![f32::NAN; m * n];
            q.matmul_then(&mut got, n, &a, k, m, false, Threads(2), Hooks::default());
            for r in 0..m {
                for c in 0..n {
                    let want = if r == 1 || c == 2 { 0.0 } else { 20.0 };
                    assert!((got[r * n + c] - want).abs() < 1e-3, "{name} ({r}, {c}): {}", got[r * n + c]);
                }
            }
            // k = 0: the destination becomes zero; m = 0: untouched.
            let empty = WeightMatrix::Quantized(QuantMatrix::with_kernel(&[], 0, n, false));
            let mut d = vec![7.0f32; n];
            empty.matmul_then(&mut d, n, &[], 0, 1, false, Threads(1), Hooks::default());
            assert!(d.iter().all(|&v| v == 0.0));
            q.matmul_then(&mut d, n, &a, k, 0, false, Threads(1), Hooks::default());
        }
    }

    #[test]
    fn quantized_weights_take_half_the_memory_of_f32() {
        let q = QuantMatrix::new(&vec![1.0; 384 * 1536], 384, 1536);
        assert_eq!(q.bytes(), 384 * 1536 * 2 + 1536 * 4);
    }
}
