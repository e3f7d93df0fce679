//! Text and facts from pixels, for the media documents `trove-ingest` converts. This crate
//! owns three steps, each usable alone and each bounded:
//!
//! - [`image_info`] (`info.rs`): an image's format and dimensions, and the EXIF fields worth
//!   filtering on (camera make and model, date taken, GPS position, orientation; parsed by
//!   `exif.rs`), as flat JSON metadata ([`ImageInfo::metadata`]).
//! - [`thumbnail`] (`thumbnail.rs`): a small JPEG (PNG when the image has transparency) no
//!   larger than a bound on either side, turned upright by the EXIF orientation.
//! - [`ocr`] (`ocr.rs`): the text in an image, read by Tesseract (`tesseract`, Debian's
//!   `tesseract-ocr`) run as a subprocess under a time limit and killed at it.
//!
//! Decoding is bounded ([`DECODE_LIMIT_BYTES`]), so a hostile image cannot exhaust memory; every
//! failure is a [`MediaError`] naming what failed and how to fix it, never a panic. The crate
//! knows no documents, storage or configuration files: callers pass what each step needs.

mod error;
mod exif;
mod info;
mod ocr;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod thumbnail;

pub use error::MediaError;
pub use info::{ImageInfo, image_info};
pub use ocr::{OcrOptions, ocr, tesseract_version};
pub use thumbnail::{Thumbnail, thumbnail};

/// Most bytes one decoded image may take in memory (512 MiB: a 16k × 8k RGBA picture).
pub const DECODE_LIMIT_BYTES: u64 = 512 * 1024 * 1024;

/// Decodes an image (format guessed from its bytes) within [`DECODE_LIMIT_BYTES`].
pub(crate) fn decoder(bytes: &[u8]) -> Result<image::ImageReader<std::io::Cursor<&[u8]>>, MediaError> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| MediaError::Unreadable(format!("cannot read its header ({e})")))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(DECODE_LIMIT_BYTES);
    reader.limits(limits);
    Ok(reader)
}
