//! Matrix products with a constant right operand (a layer's weights), packed once at load time.
//!
//! A general GEMM re-packs both operands on every call; for the short inputs of a search query
//! (a dozen tokens) re-packing 1.7 MB of weights costs as much as multiplying them. Here the
//! weights are laid out once in the order the micro-kernel reads them: blocks of [`KC`] rows of
//! the `k × n` matrix, each cut into panels of [`NR`] = 16 columns stored row after row (the
//! last panel zero-padded). The AVX2 + FMA micro-kernel keeps a 6 × 16 tile of the result in
//! twelve registers, reading the left operand (activations, row-major, never copied) by
//! broadcast and one packed panel row per step, so it runs at the FMA limit of the core.
//! Threads split the panels (the columns), so each streams only its share of the weights.
//!
//! [`WeightMatrix`] chooses at load time: packed where the CPU has AVX2 + FMA, otherwise the
//! plain row-major matrix multiplied through [`super::matmul`]; or, for
//! [`Precision::Int16`], quantized ([`super::quantized`]).

use super::{QuantMatrix, Threads, View, empty_product};
use crate::Precision;

/// Columns of one packed panel (two AVX registers).
const NR: usize = 16;
/// Rows of one micro-kernel tile (6 × 2 accumulators + 2 panel registers + 1 broadcast fit
/// the 16 AVX registers).
const MR: usize = 6;
/// Rows of the right operand per block: one panel (`KC × NR` floats, 24 KiB) stays in L1, and
/// a hidden width of 384 is one block (measured: 256 and 128 were 3–7 % slower).
const KC: usize = 384;
/// Rows of the left operand per block (`MC × KC` floats, 216 KiB, stay in L2).
const MC: usize = 144;

/// A constant `k × n` right operand, prepared for the fastest kernel this CPU has.
pub(crate) enum WeightMatrix {
    /// Packed into panels for the AVX2 + FMA micro-kernel.
    Packed { data: Vec<f32>, k: usize, n: usize },
    /// Row-major, for the general GEMM (CPUs without AVX2 + FMA).
    Plain { data: Vec<f32>, k: usize, n: usize },
    /// Quantized per column, for the integer kernel.
    Quantized(QuantMatrix),
}

impl WeightMatrix {
    /// Prepares the row-major `k × n` matrix `b` for products at `precision`.
    ///
    /// Panics if `b.len() != k * n`.
    pub(crate) fn new(b: Vec<f32>, k: usize, n: usize, precision: Precision) -> Self {
        assert_eq!(b.len(), k * n, "WeightMatrix: {k} x {n} matrix of {} values", b.len());
        if precision == Precision::Int16 {
            return WeightMatrix::Quantized(QuantMatrix::new(&b, k, n));
        }
        if super::avx2_fma() { Self::packed(&b, k, n) } else { WeightMatrix::Plain { data: b, k, n } }
    }

    fn packed(b: &[f32], k: usize, n: usize) -> Self {
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; k * panels * NR];
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for j in 0..panels {
                let base = k0 * panels * NR + j * kc * NR;
                let cols = NR.min(n - j * NR);
                for p in 0..kc {
                    let src = &b[(k0 + p) * n + j * NR..][..cols];
                    data[base + p * NR..][..cols].copy_from_slice(src);
                }
            }
        }
        WeightMatrix::Packed { data, k, n }
    }

    /// Columns of the matrix.
    pub(crate) fn n(&self) -> usize {
        match self {
            WeightMatrix::Packed { n, .. } | WeightMatrix::Plain { n, .. } => *n,
            WeightMatrix::Quantized(q) => q.n(),
        }
    }

    /// Floats held (for memory accounting).
    #[cfg(test)]
    fn floats(&self) -> usize {
        match self {
            WeightMatrix::Packed { data, .. } | WeightMatrix::Plain { data, .. } => data.len(),
            WeightMatrix::Quantized(q) => q.bytes() / 4,
        }
    }

    /// `dst = a · self` (`+=` when `accumulate`) for the `m × k` row-major `a` with row stride
    /// `a_rs`, into `dst` with row stride `dst_rs`.
    ///
    /// Panics if a slice is too short for its shape and stride.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul(
        &self,
        dst: &mut [f32],
        dst_rs: usize,
        a: &[f32],
        a_rs: usize,
        m: usize,
        accumulate: bool,
        threads: Threads,
    ) {
        match self {
            WeightMatrix::Plain { data, k, n } => {
                let a = View { data: a, rs: a_rs, cs: 1 };
                let b = View { data, rs: *n, cs: 1 };
                super::matmul(dst, dst_rs, a, b, (m, *n, *k), accumulate, threads);
            }
            WeightMatrix::Packed { data, k, n } => {
                packed_matmul(dst, dst_rs, a, a_rs, data, (m, *n, *k), accumulate, threads)
            }
            WeightMatrix::Quantized(q) => q.matmul(dst, dst_rs, a, a_rs, m, accumulate, threads),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn packed_matmul(
    dst: &mut [f32],
    dst_rs: usize,
    a: &[f32],
    a_rs: usize,
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    threads: Threads,
) {
    if empty_product(dst, dst_rs, (m, n, k), accumulate) {
        return;
    }
    assert!((m - 1) * dst_rs + n <= dst.len(), "packed_matmul: destination too short");
    assert!((m - 1) * a_rs + k <= a.len(), "packed_matmul: left operand too short");
    assert!(a_rs >= k && dst_rs >= n, "packed_matmul: rows overlap");
    let panels = n.div_ceil(NR);
    assert_eq!(b.len(), k * panels * NR, "packed_matmul: packed operand of the wrong size");
    #[cfg(target_arch = "x86_64")]
    {
        let out = SendPtr(dst.as_mut_ptr());
        let run = |first: usize, last: usize| {
            // SAFETY: the asserts above keep every read of `a`, `b` and every write of `dst`
            // inside their slices (see `x86::run`); `avx2_fma()` held when the matrix was
            // packed. Threads write disjoint column ranges of `dst` (their panels), so no two
            // write the same element, and nothing else accesses `dst` while they run.
            unsafe { x86::run(out.get(), dst_rs, a.as_ptr(), a_rs, b.as_ptr(), (m, n, k), first..last, accumulate) }
        };
        let parts = threads.0.min(panels).max(1);
        if parts == 1 {
            run(0, panels);
        } else {
            use rayon::prelude::*;
            (0..parts).into_par_iter().for_each(|t| run(t * panels / parts, (t + 1) * panels / parts));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("packed weights exist only on x86-64 with AVX2 + FMA");
}

/// A destination pointer shared by the threads of one product, each writing its own columns.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
// SAFETY: see `packed_matmul`: threads write disjoint elements and the slice outlives them.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{KC, MC, MR, NR};
    const _: () = assert!(MR == 6, "the tile dispatch in `run` assumes MR = 6");

    /// The product for panels `panels` (columns `panels.start * NR ..`), all rows.
    ///
    /// # Safety
    /// AVX2 and FMA are available; `a` holds `m` rows of `k` values at stride `a_rs`; `b` is
    /// the packed `k × n` matrix; `dst` holds `m` rows of `n` values at stride `dst_rs`, and
    /// no one else accesses the columns of `panels` meanwhile.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn run(
        dst: *mut f32,
        dst_rs: usize,
        a: *const f32,
        a_rs: usize,
        b: *const f32,
        (m, n, k): (usize, usize, usize),
        panels: Range<usize>,
        accumulate: bool,
    ) {
        let all_panels = n.div_ceil(NR);
        // Each block of the left operand is copied into tiles of `MR` rows, step-major (`MR`
        // values per step), which every panel then reads as one sequential stream.
        let mut packed_a = vec![0f32; MC * KC];
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let acc = accumulate || k0 > 0;
            for i0 in (0..m).step_by(MC) {
                let mc = MC.min(m - i0);
                for t in 0..mc.div_ceil(MR) {
                    let rows = MR.min(mc - t * MR);
                    let tile = &mut packed_a[t * MR * kc..(t + 1) * MR * kc];
                    for r in 0..rows {
                        // SAFETY: row i0 + t*MR + r < m; columns k0..k0+kc <= k.
                        let row = unsafe { std::slice::from_raw_parts(a.add((i0 + t * MR + r) * a_rs + k0), kc) };
                        for (p, v) in row.iter().enumerate() {
                            tile[p * MR + r] = *v;
                        }
                    }
                }
                for j in panels.clone() {
                    let cols = NR.min(n - j * NR);
                    // SAFETY (all pointer offsets below): rows i < m, columns < n, and the
                    // packed block of (k0, j) lies inside `b`, per the contract; packed tiles
                    // lie inside `packed_a`.
                    unsafe {
                        let bp = b.add(k0 * all_panels * NR + j * kc * NR);
                        let mut i = i0;
                        while i < i0 + mc {
                            let rows = MR.min(i0 + mc - i);
                            let cp = dst.add(i * dst_rs + j * NR);
                            let ap = packed_a.as_ptr().add((i - i0) * kc);
                            match rows {
                                6 => tile::<6>(kc, ap, bp, cp, dst_rs, cols, acc),
                                1 => tile::<1>(kc, ap, bp, cp, dst_rs, cols, acc),
                                2 => tile::<2>(kc, ap, bp, cp, dst_rs, cols, acc),
                                3 => tile::<3>(kc, ap, bp, cp, dst_rs, cols, acc),
                                4 => tile::<4>(kc, ap, bp, cp, dst_rs, cols, acc),
                                _ => tile::<5>(kc, ap, bp, cp, dst_rs, cols, acc),
                            }
                            i += rows;
                        }
                    }
                }
            }
        }
    }

    /// One `R × NR` tile: `c[r][0..cols] (+)= Σ_p a[r][p] · b[p][..]` over `kc` steps.
    ///
    /// # Safety
    /// AVX2 and FMA are available; `a` is a packed tile, value `(r, p)` at `p * MR + r`;
    /// `b` has
    /// `kc × NR` values, `c` has `R` rows of `cols ≤ NR` values at stride `c_rs`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        c_rs: usize,
        cols: usize,
        accumulate: bool,
    ) {
        // SAFETY: every offset stays inside the extents the contract gives.
        unsafe {
            let mut lo = [_mm256_setzero_ps(); R];
            let mut hi = [_mm256_setzero_ps(); R];
            for p in 0..kc {
                let b0 = _mm256_loadu_ps(b.add(p * NR));
                let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
                for r in 0..R {
                    let av = _mm256_broadcast_ss(&*a.add(p * MR + r));
                    lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                }
            }
            for r in 0..R {
                let cp = c.add(r * c_rs);
                if cols == NR {
                    let (mut v0, mut v1) = (lo[r], hi[r]);
                    if accumulate {
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cp));
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cp.add(8)));
                    }
                    _mm256_storeu_ps(cp, v0);
                    _mm256_storeu_ps(cp.add(8), v1);
                } else {
                    let mut tmp = [0f32; NR];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
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
    use crate::test_support::Rng;

    #[test]
    fn packed_products_match_naive_ones_on_ragged_shapes() {
        let mut rng = Rng(0x0DDB_A11C_0FFE_E123);
        for case in 0..80 {
            let m = 1 + rng.below(160);
            let n = 1 + rng.below(70);
            let k = 1 + rng.below(600);
            let pad = rng.below(4);
            let (a_rs, dst_rs) = (k + pad, n + pad);
            let a = rng.fill(m * a_rs, 1.0, 0.0);
            let b = rng.fill(k * n, 1.0, 0.0);
            let init = rng.fill(m * dst_rs, 1.0, 0.0);
            let accumulate = rng.below(2) == 1;
            let threads = Threads(1 + rng.below(3));
            let chosen = WeightMatrix::new(b.clone(), k, n, Precision::F32);
            let plain = WeightMatrix::Plain { data: b.clone(), k, n };
            for w in [&chosen, &plain] {
                assert_eq!(w.n(), n);
                let mut dst = init.clone();
                w.matmul(&mut dst, dst_rs, &a, a_rs, m, accumulate, threads);
                for r in 0..m {
                    for c in 0..dst_rs {
                        let got = dst[r * dst_rs + c];
                        if c >= n {
                            assert_eq!(got, init[r * dst_rs + c], "case {case}: padding column written");
                            continue;
                        }
                        let mut want = if accumulate { f64::from(init[r * dst_rs + c]) } else { 0.0 };
                        for p in 0..k {
                            want += f64::from(a[r * a_rs + p]) * f64::from(b[p * n + c]);
                        }
                        assert!((f64::from(got) - want).abs() < 1e-3, "case {case} ({m}x{n}x{k}): {got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn packing_pads_only_the_last_panel() {
        let w = WeightMatrix::new(vec![1.0; 300 * 40], 300, 40, Precision::F32);
        if super::super::avx2_fma() {
            assert_eq!(w.floats(), 300 * 48);
        } else {
            assert_eq!(w.floats(), 300 * 40);
        }
    }
}
