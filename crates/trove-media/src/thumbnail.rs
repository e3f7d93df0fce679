//! [`thumbnail`]: a small image of a picture, upright, for result lists and galleries.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat};

use crate::MediaError;

/// A thumbnail's bytes and media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// `image/jpeg`, or `image/png` for images with transparency.
    pub content_type: &'static str,
    /// The encoded image.
    pub bytes: Vec<u8>,
}

/// A thumbnail of an image no larger than `max_side` pixels on either side (smaller images
/// keep their size), turned by its EXIF orientation, as JPEG (quality 85) or, when the image
/// has an alpha channel, PNG.
pub fn thumbnail(bytes: &[u8], max_side: u32) -> Result<Thumbnail, MediaError> {
    let mut decoder = crate::decoder(bytes)?.into_decoder().map_err(|e| MediaError::Unreadable(e.to_string()))?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| MediaError::Unreadable(e.to_string()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let side = max_side.max(1);
    if img.width() > side || img.height() > side {
        img = img.thumbnail(side, side);
    }
    let mut out = Cursor::new(Vec::new());
    let content_type = if img.color().has_alpha() {
        img.write_to(&mut out, ImageFormat::Png).map_err(|e| MediaError::Unreadable(e.to_string()))?;
        "image/png"
    } else {
        let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        rgb.write_with_encoder(encoder).map_err(|e| MediaError::Unreadable(e.to_string()))?;
        "image/jpeg"
    };
    Ok(Thumbnail { content_type, bytes: out.into_inner() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exif::write;

    fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn large_images_shrink_small_ones_keep_their_size() {
        let big =
            DynamicImage::ImageRgb8(image::RgbImage::from_fn(800, 400, |x, _| image::Rgb([(x % 256) as u8, 0, 0])));
        let t = thumbnail(&encoded(&big, ImageFormat::Png), 256).unwrap();
        assert_eq!(t.content_type, "image/jpeg");
        let back = image::load_from_memory(&t.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (256, 128));

        let small = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(20, 10, image::Rgba([0, 0, 255, 128])));
        let t = thumbnail(&encoded(&small, ImageFormat::Png), 256).unwrap();
        assert_eq!(t.content_type, "image/png", "transparency kept");
        let back = image::load_from_memory(&t.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (20, 10));
    }

    #[test]
    fn the_exif_orientation_turns_the_thumbnail_upright() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::new(60, 20));
        let jpeg = encoded(&img, ImageFormat::Jpeg);
        let photo = write::jpeg_with(&jpeg, &write::block("A", "B", 6, "2020:01:01 00:00:00", (1.0, 'N'), (1.0, 'E')));
        let back = image::load_from_memory(&thumbnail(&photo, 100).unwrap().bytes).unwrap();
        assert_eq!((back.width(), back.height()), (20, 60));
    }

    #[test]
    fn corrupt_bytes_are_an_error() {
        assert!(thumbnail(b"\x89PNG\r\n\x1a\nbroken", 64).is_err());
        assert!(thumbnail(b"", 64).is_err());
    }
}
