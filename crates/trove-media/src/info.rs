//! [`image_info`]: an image's format, dimensions and EXIF fields, as document metadata.

use image::ImageDecoder;
use serde_json::{Map, Value, json};

use crate::MediaError;
use crate::exif::{self, Exif};

/// What an image says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// The format read from its bytes: `png`, `jpeg`, `webp`, `gif`, `tiff`, `bmp`.
    pub format: String,
    /// Width in pixels as stored (before the EXIF orientation).
    pub width: u32,
    /// Height in pixels as stored.
    pub height: u32,
    /// Its EXIF fields (all `None` without an EXIF block).
    pub exif: Exif,
}

impl ImageInfo {
    /// Flat metadata a search filter can match: `width`, `height` (as displayed, after the
    /// orientation), `image_format`, and when known `camera_make`, `camera_model`, `taken_at`,
    /// `orientation`, `gps_latitude`, `gps_longitude`.
    pub fn metadata(&self) -> Map<String, Value> {
        let turned = matches!(self.exif.orientation, Some(5..=8));
        let (w, h) = if turned { (self.height, self.width) } else { (self.width, self.height) };
        let mut m = Map::new();
        m.insert("image_format".into(), json!(self.format));
        m.insert("width".into(), json!(w));
        m.insert("height".into(), json!(h));
        let e = &self.exif;
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("camera_make", e.make.clone().map(Value::String));
        put("camera_model", e.model.clone().map(Value::String));
        put("taken_at", e.taken.clone().map(Value::String));
        put("orientation", e.orientation.map(|o| json!(o)));
        put("gps_latitude", e.latitude.map(|v| json!(v)));
        put("gps_longitude", e.longitude.map(|v| json!(v)));
        m
    }
}

/// Reads an image's header and EXIF block without decoding its pixels.
pub fn image_info(bytes: &[u8]) -> Result<ImageInfo, MediaError> {
    let reader = crate::decoder(bytes)?;
    let format = reader
        .format()
        .ok_or_else(|| MediaError::Unreadable("its bytes are not those of an image format Trove reads".into()))?;
    let mut decoder = reader.into_decoder().map_err(|e| MediaError::Unreadable(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    let exif = decoder.exif_metadata().ok().flatten().map(|b| exif::parse(&b)).unwrap_or_default();
    let name = format.extensions_str().first().copied().unwrap_or("image");
    let format = match name {
        "jpg" => "jpeg",
        "tif" => "tiff",
        other => other,
    };
    Ok(ImageInfo { format: format.to_string(), width, height, exif })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exif::write;

    pub(crate) fn encoded(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn dimensions_format_and_exif_of_a_photo() {
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(40, 30, image::Rgb([200, 10, 10])));
        let jpeg = encoded(&img, image::ImageFormat::Jpeg);
        let exif =
            write::block("NIKON CORPORATION", "NIKON D750", 6, "2021:12:24 18:05:00", (35.6586, 'N'), (139.7454, 'E'));
        let info = image_info(&write::jpeg_with(&jpeg, &exif)).unwrap();
        assert_eq!((info.format.as_str(), info.width, info.height), ("jpeg", 40, 30));
        let m = info.metadata();
        assert_eq!((m["width"].clone(), m["height"].clone()), (json!(30), json!(40)), "turned by orientation 6");
        assert_eq!(m["camera_make"], "NIKON CORPORATION");
        assert_eq!(m["camera_model"], "NIKON D750");
        assert_eq!(m["taken_at"], "2021-12-24T18:05:00");
        assert!((m["gps_longitude"].as_f64().unwrap() - 139.7454).abs() < 1e-5);

        let png = encoded(&img, image::ImageFormat::Png);
        let info = image_info(&png).unwrap();
        assert_eq!((info.format.as_str(), info.exif.clone()), ("png", Exif::default()));
        assert!(!info.metadata().contains_key("camera_make"));
    }

    #[test]
    fn a_corrupt_image_is_an_error() {
        assert!(matches!(image_info(b"definitely not an image"), Err(MediaError::Unreadable(_))));
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8));
        let png = encoded(&img, image::ImageFormat::Png);
        // A truncated header.
        assert!(image_info(&png[..12]).is_err());
    }
}
