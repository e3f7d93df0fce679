//! The similarity kernels, and one of the crate's two modules allowed `unsafe` (with `map.rs`).
//!
//! - [`dot_i8`]: the dot product of two int8 codes, the inner loop of graph traversal and
//!   construction. On x86-64 with AVX2 it runs an explicit `vpmaddubsw` kernel (the sign of one
//!   operand moved onto the other, so the unsigned × signed multiply sees `|a| × ±b`, exact for
//!   codes in −127..=127, which is all the quantizer writes); elsewhere a portable loop with the
//!   same integer result.
//! - [`dot_f32`]: the dot product of two f32 vectors, for exact re-scoring and the delta's exact
//!   scan; one plain 16-lane loop compiled twice (baseline, and AVX2 + FMA enabled), like
//!   `trove-embed`'s element-wise kernels, so the copies differ only by rounding.
//!
//! Each fast path is chosen at run time with `is_x86_feature_detected!` and tested against a
//! naive twin here. Slices of unequal length are compared over the shorter one.

#![allow(unsafe_code)]

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `Σ a[i] · b[i]` over int8 codes, exact in i32 for codes in −127..=127 and up to 65,536 dims.
#[inline]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if avx2_cached() {
        // SAFETY: the CPU supports AVX2 (checked once and cached), the only requirement of
        // calling a `#[target_feature(enable = "avx2")]` function; the slices have equal length.
        return unsafe { x86::dot_i8(a, b) };
    }
    portable::dot_i8(a, b)
}

/// `Σ a[i] · b[i]` over f32.
#[inline]
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if avx2_cached() {
        // SAFETY: the CPU supports AVX2 and FMA (checked once and cached), the only requirement
        // of calling a `#[target_feature(enable = "avx2,fma")]` function.
        return unsafe { x86::dot_f32(a, b) };
    }
    portable::dot_f32(a, b)
}

/// [`avx2`], detected once: the kernels run millions of times per second.
#[inline]
fn avx2_cached() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = avx2();
            STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// The portable kernels (and, compiled with AVX2 + FMA, the f32 fast path's body).
mod portable {
    const LANES: usize = 16;

    #[inline(always)]
    pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        let mut acc = [0i32; LANES];
        let ca = a.chunks_exact(LANES);
        let cb = b.chunks_exact(LANES);
        let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                acc[i] += i32::from(x[i]) * i32::from(y[i]);
            }
        }
        acc.iter().sum::<i32>() + tail
    }

    #[inline(always)]
    pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        let ca = a.chunks_exact(LANES);
        let cb = b.chunks_exact(LANES);
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                acc[i] += x[i] * y[i];
            }
        }
        acc.iter().sum::<f32>() + tail
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// AVX2 int8 dot product: 32 codes per step through `vpmaddubsw` (|a| × sign(a)·b, pairs
    /// summed to i16, at most 2 × 127 × 127, no saturation) and `vpmaddwd` by ones (to i32).
    #[target_feature(enable = "avx2")]
    pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        debug_assert_eq!(a.len(), b.len());
        let n = a.len();
        let body = n - n % 32;
        let mut acc = _mm256_setzero_si256();
        let ones = _mm256_set1_epi16(1);
        let mut i = 0;
        while i < body {
            // SAFETY: `i + 32 <= body <= n`, so both 32-byte unaligned loads read inside the
            // slices.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i).cast::<__m256i>()),
                    _mm256_loadu_si256(b.as_ptr().add(i).cast::<__m256i>()),
                )
            };
            let abs_a = _mm256_sign_epi8(va, va);
            let signed_b = _mm256_sign_epi8(vb, va);
            let pairs = _mm256_maddubs_epi16(abs_a, signed_b);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
            i += 32;
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), acc) };
        let tail: i32 = a[body..].iter().zip(&b[body..]).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
        lanes.iter().sum::<i32>() + tail
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        super::portable::dot_f32(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_i8(a: &[i8], b: &[i8]) -> i32 {
        a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
    }

    fn naive_f32(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
    }

    /// A deterministic stream of pseudo-random numbers (splitmix64).
    fn stream(seed: u64) -> impl FnMut() -> u64 {
        let mut s = crate::SplitMix64(seed);
        move || s.next_u64()
    }

    #[test]
    fn int8_fast_path_matches_the_naive_sum_at_every_length_and_at_the_extremes() {
        let mut next = stream(7);
        for len in [0, 1, 15, 16, 31, 32, 33, 63, 64, 100, 384, 385, 1024] {
            let a: Vec<i8> = (0..len).map(|_| (next() % 255) as i8).map(|v| v.max(-127)).collect();
            let b: Vec<i8> = (0..len).map(|_| (next() % 255) as i8).map(|v| v.max(-127)).collect();
            assert_eq!(dot_i8(&a, &b), naive_i8(&a, &b), "len {len}");
            assert_eq!(portable::dot_i8(&a, &b), naive_i8(&a, &b), "len {len}");
            let extreme_a = vec![-127i8; len];
            let extreme_b = vec![127i8; len];
            assert_eq!(dot_i8(&extreme_a, &extreme_b), naive_i8(&extreme_a, &extreme_b));
            assert_eq!(dot_i8(&extreme_a, &extreme_a), naive_i8(&extreme_a, &extreme_a));
        }
    }

    #[test]
    fn f32_fast_path_matches_the_naive_sum_within_rounding() {
        let mut next = stream(11);
        for len in [0, 1, 15, 16, 17, 384, 1000] {
            let a: Vec<f32> = (0..len).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
            let b: Vec<f32> = (0..len).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
            let want = naive_f32(&a, &b);
            for got in [dot_f32(&a, &b), portable::dot_f32(&a, &b)] {
                assert!((f64::from(got) - want).abs() < 1e-4 * (len as f64).max(1.0), "len {len}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn unequal_lengths_use_the_shorter_slice() {
        assert_eq!(dot_i8(&[1, 2, 3], &[4, 5]), 14);
        assert_eq!(dot_f32(&[1.0, 2.0], &[3.0, 4.0, 5.0]), 11.0);
    }
}
