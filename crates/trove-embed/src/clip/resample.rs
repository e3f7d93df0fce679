//! Pillow's bicubic resize of 8-bit images, reproduced to the value: `CLIPImageProcessor`
//! resizes with Pillow (`Image.resize(size, BICUBIC)`), so matching its pixel values means
//! matching Pillow's arithmetic, not just "a bicubic filter". As in Pillow's `Resample.c`: the
//! filter (Keys, a = -0.5) is widened by the scale factor when shrinking (antialiasing), each
//! output pixel's weights are normalised to sum to 1 and turned into 22-bit fixed point, the
//! horizontal pass runs first (only over the rows the vertical pass reads) and rounds to 8
//! bits, then the vertical pass.

/// Fraction bits of the fixed-point weights (Pillow's `PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's bicubic kernel (a = -0.5), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position along one axis: the first input index it reads, and its
/// fixed-point weights (one per input index read).
struct Coefficients {
    /// `(first input index, number of inputs)` per output position.
    bounds: Vec<(usize, usize)>,
    /// `ksize` weights per output position (the unused tail is 0).
    weights: Vec<i32>,
    ksize: usize,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for resizing `in_size` to `out_size`.
fn coefficients(in_size: usize, out_size: usize) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filter_scale;
        // C's (int) truncates toward zero, as `as i64` does.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let count = xmax.saturating_sub(xmin);
        let mut total = 0.0;
        for (x, w) in k.iter_mut().enumerate().take(count) {
            *w = bicubic((x as f64 + xmin as f64 - center + 0.5) * ss);
            total += *w;
        }
        for (x, w) in k.iter().enumerate().take(count) {
            let w = if total != 0.0 { w / total } else { *w };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            weights[xx * ksize + x] = if fixed < 0.0 { (fixed - 0.5) as i32 } else { (fixed + 0.5) as i32 };
        }
        bounds.push((xmin, count));
    }
    Coefficients { bounds, weights, ksize }
}

/// A fixed-point sum back to 8 bits, clamped.
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes the packed RGB image `src` (`width × height`) to `out_w × out_h` exactly as
/// Pillow's `Image.resize((out_w, out_h), Image.BICUBIC)` does; an axis whose size does not
/// change is not resampled.
pub(crate) fn resize_bicubic_rgb(
    src: &[u8],
    (width, height): (usize, usize),
    (out_w, out_h): (usize, usize),
) -> Vec<u8> {
    debug_assert_eq!(src.len(), width * height * 3);
    let vertical = coefficients(height, out_h);
    // Rows the vertical pass reads; the horizontal pass makes only those.
    let (first_row, last_row) = if out_h != height {
        let first = vertical.bounds.first().map_or(0, |b| b.0);
        let last = vertical.bounds.last().map_or(0, |b| b.0 + b.1);
        (first, last)
    } else {
        (0, height)
    };
    let half = 1i64 << (PRECISION_BITS - 1);
    let horizontal_done;
    let (rows, row_w): (&[u8], usize) = if out_w != width {
        let coeffs = coefficients(width, out_w);
        let mut out = vec![0u8; (last_row - first_row) * out_w * 3];
        for (y, out_row) in out.chunks_exact_mut(out_w * 3).enumerate() {
            let in_row = &src[(first_row + y) * width * 3..][..width * 3];
            for (xx, px) in out_row.chunks_exact_mut(3).enumerate() {
                let (xmin, count) = coeffs.bounds[xx];
                let k = &coeffs.weights[xx * coeffs.ksize..][..count];
                let mut sums = [half; 3];
                for (x, &w) in k.iter().enumerate() {
                    let p = &in_row[(xmin + x) * 3..][..3];
                    for c in 0..3 {
                        sums[c] += i64::from(p[c]) * i64::from(w);
                    }
                }
                for c in 0..3 {
                    px[c] = clip8(sums[c]);
                }
            }
        }
        horizontal_done = out;
        (&horizontal_done, out_w)
    } else {
        (&src[first_row * width * 3..last_row * width * 3], width)
    };
    if out_h == height {
        return rows.to_vec();
    }
    let mut out = vec![0u8; out_h * row_w * 3];
    for (yy, out_row) in out.chunks_exact_mut(row_w * 3).enumerate() {
        let (ymin, count) = vertical.bounds[yy];
        let k = &vertical.weights[yy * vertical.ksize..][..count];
        for (i, v) in out_row.iter_mut().enumerate() {
            let mut sum = half;
            for (y, &w) in k.iter().enumerate() {
                sum += i64::from(rows[(ymin - first_row + y) * row_w * 3 + i]) * i64::from(w);
            }
            *v = clip8(sum);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_of_each_output_sum_to_one() {
        for (inp, out) in [(300, 224), (13, 224), (224, 224), (4000, 224), (225, 224)] {
            let c = coefficients(inp, out);
            for xx in 0..out {
                let (first, count) = c.bounds[xx];
                assert!(first + count <= inp);
                let sum: i64 = c.weights[xx * c.ksize..][..count].iter().map(|&w| i64::from(w)).sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= count as i64, "{inp}->{out} at {xx}: {sum}");
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat_and_sizes_are_right() {
        let src = [10u8, 200, 77].repeat(31 * 17);
        for size in [(224, 224), (5, 3), (31, 40), (62, 17)] {
            let out = resize_bicubic_rgb(&src, (31, 17), size);
            assert_eq!(out.len(), size.0 * size.1 * 3);
            assert!(out.chunks_exact(3).all(|p| p == [10, 200, 77]), "{size:?}");
        }
        assert_eq!(resize_bicubic_rgb(&src, (31, 17), (31, 17)), src);
    }

    #[test]
    fn matches_pillow_to_the_value() {
        // Expected outputs printed by Pillow 12.0 (`Image.frombytes("RGB", size, src)
        // .resize(out, Image.BICUBIC).tobytes()`).
        let src: Vec<u8> = [0u8, 255, 0, 255].iter().flat_map(|&v| [v, v, v]).collect();
        assert_eq!(resize_bicubic_rgb(&src, (4, 1), (2, 1)), [107, 107, 107, 148, 148, 148]);
        let src: Vec<u8> = (0..45u32).map(|i| (i * 37 % 256) as u8).collect();
        let want = [
            0, 29, 66, 52, 107, 144, 151, 116, 153, 233, 1, 38, 108, 72, 128, 113, 174, 93, 192, 243, 0, 20, 55, 91,
            90, 133, 181, 131, 142, 194, 85, 27, 64, 86, 110, 153, 158, 124, 119, 237, 86, 23, 56, 93, 135, 135, 171,
            148, 138, 180, 138, 10, 65, 102, 102, 156, 195, 154, 112, 157, 155, 4, 60, 82, 119, 171, 160, 197, 65, 169,
            206, 19, 54, 91, 128, 145, 181, 227, 103, 146, 183, 0, 49, 86,
        ];
        assert_eq!(resize_bicubic_rgb(&src, (5, 3), (7, 4)), want);
    }
}
