//! From the bytes of an encoded image to CLIP's pixel values, as `CLIPImageProcessor` makes
//! them: decode (png, jpeg, webp, gif, tiff, bmp; the first frame of an animation), apply the
//! EXIF orientation (which transformers leaves to the caller; a photo's pixels mean what the
//! camera saw only once it is applied), convert to 8-bit RGB (transparency composited onto
//! white, as transformers' `convert_to_rgb` does), resize the shortest side to `size.shortest_edge` with Pillow's bicubic
//! filter ([`super::resample`]), center-crop to `crop_size`, rescale to `[0, 1]` and normalise
//! by the mean and standard deviation per channel. The settings come from the model's
//! `preprocessor_config.json` (both its current and its older layout), CLIP's when absent.

use std::io::Cursor;
use std::path::Path;

use image::{ImageDecoder, ImageError, ImageReader, Limits};
use serde::Deserialize;

use super::resample::resize_bicubic_rgb;
use crate::error::{EmbedError, ImageFault};

/// OpenAI CLIP's per-channel mean.
const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel standard deviation.
const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];
/// The longest side of an image accepted (pixels); larger ones are refused before decoding.
pub(crate) const MAX_SIDE: u32 = 16_384;
/// The most memory one decoded image may take.
const MAX_DECODED_BYTES: u64 = 512 << 20;

/// A size given as one number or as a map (the two layouts of `preprocessor_config.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SizeField {
    One(usize),
    Map { shortest_edge: Option<usize>, height: Option<usize>, width: Option<usize> },
}

/// The fields of `preprocessor_config.json` this module reads.
#[derive(Debug, Clone, Deserialize)]
struct RawConfig {
    size: Option<SizeField>,
    crop_size: Option<SizeField>,
    image_mean: Option<[f32; 3]>,
    image_std: Option<[f32; 3]>,
    rescale_factor: Option<f64>,
    resample: Option<u32>,
    do_resize: Option<bool>,
    do_center_crop: Option<bool>,
    do_rescale: Option<bool>,
    do_normalize: Option<bool>,
    do_convert_rgb: Option<bool>,
}

/// How images are turned into pixel values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Preprocess {
    /// The shortest side after resizing.
    shortest_edge: usize,
    /// `(height, width)` of the center crop, the model's input.
    crop: (usize, usize),
    mean: [f32; 3],
    std: [f32; 3],
    rescale: f64,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess { shortest_edge: 224, crop: (224, 224), mean: CLIP_MEAN, std: CLIP_STD, rescale: 1.0 / 255.0 }
    }
}

impl Preprocess {
    /// Reads `preprocessor_config.json` at `path`, or CLIP's settings when there is none.
    pub(crate) fn load(path: &Path) -> Result<Self, EmbedError> {
        if !path.exists() {
            return Ok(Preprocess::default());
        }
        let bytes = std::fs::read(path).map_err(|e| EmbedError::invalid(path, format!("cannot read: {e}")))?;
        let raw: RawConfig = serde_json::from_slice(&bytes)
            .map_err(|e| EmbedError::invalid(path, format!("not a valid CLIP preprocessor_config.json: {e}")))?;
        Self::from_raw(raw).map_err(|reason| EmbedError::invalid(path, reason))
    }

    fn from_raw(raw: RawConfig) -> Result<Self, String> {
        for (name, value) in [
            ("do_resize", raw.do_resize),
            ("do_center_crop", raw.do_center_crop),
            ("do_rescale", raw.do_rescale),
            ("do_normalize", raw.do_normalize),
            ("do_convert_rgb", raw.do_convert_rgb),
        ] {
            if value == Some(false) {
                return Err(format!("{name}: false is not supported (CLIP resizes, crops, rescales and normalises)"));
            }
        }
        if let Some(r) = raw.resample
            && r != 3
        {
            return Err(format!("resample {r} is not supported (only 3, bicubic, as CLIP uses)"));
        }
        let defaults = Preprocess::default();
        let shortest_edge = match raw.size {
            None => defaults.shortest_edge,
            Some(SizeField::One(n)) | Some(SizeField::Map { shortest_edge: Some(n), .. }) => n,
            Some(other) => return Err(format!("size {other:?} is not supported (expected a shortest_edge)")),
        };
        let crop = match raw.crop_size {
            None => (shortest_edge, shortest_edge),
            Some(SizeField::One(n)) => (n, n),
            Some(SizeField::Map { height: Some(h), width: Some(w), .. }) => (h, w),
            Some(other) => return Err(format!("crop_size {other:?} is not supported (expected height and width)")),
        };
        if shortest_edge == 0 || crop.0 == 0 || crop.1 == 0 {
            return Err("size and crop_size must be positive".to_string());
        }
        if crop.0 > shortest_edge || crop.1 > shortest_edge {
            return Err(format!(
                "crop_size {}x{} is larger than the resized shortest side {shortest_edge} (padding is not supported)",
                crop.1, crop.0
            ));
        }
        let std = raw.image_std.unwrap_or(defaults.std);
        if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(format!("image_std {std:?} must be positive numbers"));
        }
        let rescale = raw.rescale_factor.unwrap_or(defaults.rescale);
        if !(rescale.is_finite() && rescale > 0.0) {
            return Err(format!("rescale_factor {rescale} must be a positive number"));
        }
        Ok(Preprocess { shortest_edge, crop, mean: raw.image_mean.unwrap_or(defaults.mean), std, rescale })
    }

    /// `(height, width)` of the pixel values made.
    pub(crate) fn crop(&self) -> (usize, usize) {
        self.crop
    }

    /// The pixel values of the encoded image `bytes`: 3 channels × crop height × crop width,
    /// channel-major. `index` names the image in errors.
    pub(crate) fn pixels(&self, bytes: &[u8], index: usize) -> Result<Vec<f32>, EmbedError> {
        let rgb = decode_rgb(bytes, index)?;
        Ok(self.pixels_of_rgb(&rgb))
    }

    /// The pixel values of a decoded, oriented RGB image.
    pub(crate) fn pixels_of_rgb(&self, rgb: &image::RgbImage) -> Vec<f32> {
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        // transformers' `get_resize_output_image_size(default_to_square=False)`.
        let (short, long) = if w <= h { (w, h) } else { (h, w) };
        let new_long = (self.shortest_edge as f64 * long as f64 / short as f64) as usize;
        let (out_h, out_w) = if w <= h { (new_long, self.shortest_edge) } else { (self.shortest_edge, new_long) };
        let resized = resize_bicubic_rgb(rgb.as_raw(), (w, h), (out_w, out_h));
        let (crop_h, crop_w) = self.crop;
        let (top, left) = ((out_h - crop_h) / 2, (out_w - crop_w) / 2);
        // Every 8-bit level's value per channel, computed as numpy does: the level times the
        // factor in f64, rounded to f32, then (x - mean) / std in f32.
        let table: Vec<[f32; 256]> = (0..3)
            .map(|c| std::array::from_fn(|level| ((level as f64 * self.rescale) as f32 - self.mean[c]) / self.std[c]))
            .collect();
        let mut out = vec![0f32; 3 * crop_h * crop_w];
        for (c, plane) in out.chunks_exact_mut(crop_h * crop_w).enumerate() {
            for (y, row) in plane.chunks_exact_mut(crop_w).enumerate() {
                let src = &resized[((top + y) * out_w + left) * 3..][..crop_w * 3];
                for (v, px) in row.iter_mut().zip(src.chunks_exact(3)) {
                    *v = table[c][usize::from(px[c])];
                }
            }
        }
        out
    }
}

/// Decodes `bytes` to 8-bit RGB with the EXIF orientation applied.
pub(crate) fn decode_rgb(bytes: &[u8], index: usize) -> Result<image::RgbImage, EmbedError> {
    let fault = |kind: ImageFault, reason: String| EmbedError::Image { index, kind, reason };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fault(ImageFault::Corrupt, format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        let head: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(fault(
            ImageFault::Unsupported,
            format!("not an image in a known format (first bytes {head}); png, jpeg, webp, gif, tiff and bmp are read"),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| classify(e, index))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(fault(ImageFault::Size, format!("the image is {w}x{h} pixels")));
    }
    // A broken EXIF block is not worth refusing the picture for: it is then shown as stored.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut decoded = image::DynamicImage::from_decoder(decoder).map_err(|e| classify(e, index))?;
    decoded.apply_orientation(orientation);
    if !decoded.color().has_alpha() {
        return Ok(decoded.into_rgb8());
    }
    let rgba = decoded.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = image::RgbImage::new(w, h);
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = px.0;
        out.0 = [on_white(r, a), on_white(g, a), on_white(b, a)];
    }
    Ok(rgb)
}

/// One channel of a pixel with alpha `a` composited onto opaque white, in the integer
/// arithmetic of Pillow's `alpha_composite` (which transformers' `convert_to_rgb` uses; checked
/// against it for all 65 536 inputs).
fn on_white(c: u8, a: u8) -> u8 {
    if a == 0 {
        return 255;
    }
    const SHIFT: u32 = 7;
    let coef1 = u32::from(a) << SHIFT;
    let coef2 = (255 << SHIFT) - coef1;
    let tmp = u32::from(c) * coef1 + 255 * coef2 + (0x80 << SHIFT);
    ((((tmp >> 8) + tmp) >> 8) >> SHIFT) as u8
}

/// An `image` error as the fault it is.
fn classify(err: ImageError, index: usize) -> EmbedError {
    let (kind, reason) = match &err {
        ImageError::Unsupported(_) => (ImageFault::Unsupported, err.to_string()),
        ImageError::Limits(_) => (
            ImageFault::Size,
            format!(
                "{err} (images up to {MAX_SIDE} pixels a side and {} MiB decoded are read)",
                MAX_DECODED_BYTES >> 20
            ),
        ),
        ImageError::Decoding(_) | ImageError::Parameter(_) | ImageError::IoError(_) | ImageError::Encoding(_) => {
            (ImageFault::Corrupt, err.to_string())
        }
    };
    EmbedError::Image { index, kind, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn shapes_follow_the_shortest_side_and_the_crop() {
        let p = Preprocess::default();
        for (w, h) in [(300, 200), (200, 300), (224, 224), (13, 9), (1000, 50)] {
            let pixels = p.pixels(&png(w, h, |x, y| [x as u8, y as u8, 7]), 0).unwrap();
            assert_eq!(pixels.len(), 3 * 224 * 224, "{w}x{h}");
        }
        let solid = p.pixels(&png(50, 80, |_, _| [255, 0, 128]), 0).unwrap();
        let at = |c: usize| solid[c * 224 * 224 + 1000];
        assert!((at(0) - (1.0 - CLIP_MEAN[0]) / CLIP_STD[0]).abs() < 1e-6);
        assert!((at(1) - (0.0 - CLIP_MEAN[1]) / CLIP_STD[1]).abs() < 1e-6);
        assert!((at(2) - (128.0 / 255.0 - CLIP_MEAN[2]) / CLIP_STD[2]).abs() < 1e-6);
    }

    #[test]
    fn transparency_is_composited_onto_white() {
        assert_eq!(on_white(0, 0), 255);
        assert_eq!(on_white(17, 255), 17);
        assert_eq!(on_white(0, 128), 127);
        let img = image::RgbaImage::from_fn(2, 1, |x, _| image::Rgba([0, 0, 0, if x == 0 { 0 } else { 255 }]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        let rgb = decode_rgb(out.get_ref(), 0).unwrap();
        assert_eq!(rgb.as_raw(), &[255, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn bad_images_are_typed() {
        let p = Preprocess::default();
        let err = p.pixels(b"hello, not an image at all", 3).unwrap_err();
        assert!(matches!(err, EmbedError::Image { index: 3, kind: ImageFault::Unsupported, .. }), "{err:?}");
        let mut cut = png(64, 64, |x, y| [x as u8, y as u8, 0]);
        cut.truncate(cut.len() / 2);
        let err = p.pixels(&cut, 1).unwrap_err();
        assert!(matches!(err, EmbedError::Image { index: 1, kind: ImageFault::Corrupt, .. }), "{err:?}");
        // A PNG header claiming 20000 x 20000 pixels is refused before anything is allocated.
        let mut huge = png(1, 1, |_, _| [0, 0, 0]);
        huge[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let err = p.pixels(&huge, 0).unwrap_err();
        assert!(matches!(err, EmbedError::Image { kind: ImageFault::Size | ImageFault::Corrupt, .. }), "{err:?}");
    }

    #[test]
    fn both_config_layouts_are_read() {
        let old: RawConfig =
            serde_json::from_str(r#"{"crop_size": 224, "size": 224, "resample": 3, "do_resize": true}"#).unwrap();
        assert_eq!(Preprocess::from_raw(old).unwrap(), Preprocess::default());
        let new: RawConfig = serde_json::from_str(
            r#"{"crop_size": {"height": 200, "width": 190}, "size": {"shortest_edge": 256}, "image_mean": [0.5, 0.5, 0.5]}"#,
        )
        .unwrap();
        let p = Preprocess::from_raw(new).unwrap();
        assert_eq!((p.shortest_edge, p.crop, p.mean), (256, (200, 190), [0.5; 3]));
        let bad: RawConfig = serde_json::from_str(r#"{"resample": 2}"#).unwrap();
        assert!(Preprocess::from_raw(bad).unwrap_err().contains("bicubic"));
        let bad: RawConfig = serde_json::from_str(r#"{"size": 100, "crop_size": 224}"#).unwrap();
        assert!(Preprocess::from_raw(bad).unwrap_err().contains("larger"));
    }
}
