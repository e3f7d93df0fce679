//! Scalar int8 quantization of vectors: each vector is scaled by its own largest magnitude onto
//! −127..=127 (`code = round(x / scale)`, `scale = max|x| / 127`), so a dot product of two
//! vectors is approximated by `scale_a · scale_b · Σ code_a · code_b`. Codes only rank
//! candidates; the caller's f32 vectors give the final scores.

use crate::AnnError;

/// The largest code magnitude (−128 is never written, see `kernels::dot_i8`).
const MAX_CODE: f32 = 127.0;

/// Writes the codes of `vector` into `out` (same length) and returns its scale; a vector with a
/// NaN or infinite component is refused.
pub(crate) fn quantize(id: i64, vector: &[f32], out: &mut [i8]) -> Result<f32, AnnError> {
    debug_assert_eq!(vector.len(), out.len());
    let mut max = 0f32;
    for &x in vector {
        if !x.is_finite() {
            return Err(AnnError::NotFinite { id });
        }
        max = max.max(x.abs());
    }
    if max == 0.0 {
        out.fill(0);
        return Ok(0.0);
    }
    let inv = MAX_CODE / max;
    for (o, &x) in out.iter_mut().zip(vector) {
        *o = (x * inv).round().clamp(-MAX_CODE, MAX_CODE) as i8;
    }
    Ok(max / MAX_CODE)
}

/// A query prepared for traversal: its codes and scale beside the f32 original.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub codes: Vec<i8>,
    pub scale: f32,
}

impl Query {
    pub fn new(vector: &[f32]) -> Result<Query, AnnError> {
        let mut codes = vec![0i8; vector.len()];
        let scale = quantize(-1, vector, &mut codes)?;
        Ok(Query { codes, scale })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_approximate_the_dot_product_within_a_percent_of_the_norms() {
        let a: Vec<f32> = (0..384).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..384).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let (mut ca, mut cb) = (vec![0i8; 384], vec![0i8; 384]);
        let sa = quantize(1, &a, &mut ca).unwrap();
        let sb = quantize(2, &b, &mut cb).unwrap();
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let approx = crate::kernels::dot_i8(&ca, &cb) as f32 * sa * sb;
        let norms = a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((exact - approx).abs() < 0.01 * norms, "{exact} vs {approx}");
        assert!(ca.iter().chain(&cb).all(|&c| c != -128));
        assert!(ca.contains(&127) || ca.contains(&-127), "the largest magnitude maps to ±127");
    }

    #[test]
    fn zero_vectors_have_zero_scale_and_non_finite_ones_are_refused() {
        let mut out = vec![1i8; 4];
        assert_eq!(quantize(3, &[0.0; 4], &mut out).unwrap(), 0.0);
        assert_eq!(out, vec![0; 4]);
        let err = quantize(9, &[0.0, f32::NAN, 1.0, 0.0], &mut out).unwrap_err();
        assert!(matches!(err, AnnError::NotFinite { id: 9 }), "{err}");
        assert!(quantize(9, &[f32::INFINITY, 0.0, 0.0, 0.0], &mut out).is_err());
    }
}
