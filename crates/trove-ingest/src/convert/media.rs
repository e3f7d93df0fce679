//! Images, recordings and videos to a [`ParsedDocument`]: the file's leading bytes must be the
//! signature of a container of its kind (a PNG, JPEG, WebP, GIF, TIFF or BMP image; an MP3,
//! WAV, MP4/M4A, Ogg or FLAC recording; an MP4/QuickTime or Matroska/WebM video), else the
//! file is [`IngestError::Corrupt`] and fails alone. A readable file converts to its title
//! (the file name) and metadata: `media` (`image`, `audio`, `video`) and `container`. Text
//! from pixels and sound (metadata, OCR, transcripts) is added by the steps that read them.

use serde_json::{Map, Value};

use super::limits::Budget;
use crate::document::ParsedDocument;
use crate::error::IngestError;
use crate::format::Format;

/// The container a file's leading bytes announce, if any this module knows.
pub(crate) fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, sig: &[u8]| bytes.get(offset..offset + sig.len()) == Some(sig);
    Some(if at(0, b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if at(0, b"\xFF\xD8\xFF") {
        "jpeg"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "webp"
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        "gif"
    } else if at(0, b"II*\0") || at(0, b"MM\0*") {
        "tiff"
    } else if at(0, b"BM") && bytes.len() >= 26 {
        "bmp"
    } else if at(0, b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        "mp3"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "wav"
    } else if at(0, b"OggS") {
        "ogg"
    } else if at(0, b"fLaC") {
        "flac"
    } else if at(0, b"\x1A\x45\xDF\xA3") {
        "matroska"
    } else if [b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"].iter().any(|atom| at(4, *atom)) {
        "mp4"
    } else {
        return None;
    })
}

/// The kinds of media a container holds.
fn holds(container: &str, format: &Format) -> bool {
    match format {
        Format::Image => matches!(container, "png" | "jpeg" | "webp" | "gif" | "tiff" | "bmp"),
        // An M4A is an MP4 file and WebM audio is Matroska.
        Format::Audio => matches!(container, "mp3" | "wav" | "ogg" | "flac" | "mp4" | "matroska"),
        Format::Video => matches!(container, "mp4" | "matroska" | "ogg"),
        _ => false,
    }
}

/// Converts a media file: checks its signature and describes it.
pub(super) fn convert(bytes: &[u8], format: &Format, budget: &mut Budget<'_>) -> Result<ParsedDocument, IngestError> {
    let kind = format.name();
    let container = match sniff(bytes) {
        Some(c) if holds(c, format) => c,
        Some(other) => {
            return Err(budget
                .corrupt(format!("its bytes are a {other} file, which holds no {kind}; check the file's extension")));
        }
        None if bytes.is_empty() => return Err(budget.corrupt("it is empty")),
        None => return Err(budget.corrupt(format!("its first bytes are not those of any {kind} format Trove reads"))),
    };
    let mut metadata = Map::new();
    metadata.insert("media".into(), Value::String(kind.to_string()));
    metadata.insert("container".into(), Value::String(container.to_string()));
    Ok(ParsedDocument { title: String::new(), blocks: Vec::new(), metadata })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::convert::{ConvertLimits, convert_with};
    use crate::source::RawDocument;

    /// The smallest files of each container a test needs: real signatures, no real content.
    pub(crate) fn signature_of(container: &str) -> Vec<u8> {
        let mut b: Vec<u8> = match container {
            "png" => b"\x89PNG\r\n\x1a\n".to_vec(),
            "jpeg" => b"\xFF\xD8\xFF\xE0".to_vec(),
            "webp" => b"RIFF\0\0\0\0WEBPVP8 ".to_vec(),
            "gif" => b"GIF89a".to_vec(),
            "tiff" => b"II*\0".to_vec(),
            "bmp" => b"BM".to_vec(),
            "mp3" => b"ID3\x04".to_vec(),
            "wav" => b"RIFF\0\0\0\0WAVEfmt ".to_vec(),
            "ogg" => b"OggS".to_vec(),
            "flac" => b"fLaC".to_vec(),
            "matroska" => b"\x1A\x45\xDF\xA3".to_vec(),
            "mp4" => b"\0\0\0\x18ftypisom".to_vec(),
            other => panic!("{other}"),
        };
        b.resize(64, 0);
        b
    }

    fn raw(uri: &str, bytes: Vec<u8>) -> RawDocument {
        RawDocument::new(uri, bytes, Format::from_path(uri).unwrap(), 0)
    }

    #[test]
    fn each_extension_accepts_its_own_container() {
        let cases = [
            ("a.png", "png"),
            ("a.jpg", "jpeg"),
            ("a.jpeg", "jpeg"),
            ("a.webp", "webp"),
            ("a.gif", "gif"),
            ("a.tiff", "tiff"),
            ("a.bmp", "bmp"),
            ("a.mp3", "mp3"),
            ("a.wav", "wav"),
            ("a.m4a", "mp4"),
            ("a.ogg", "ogg"),
            ("a.flac", "flac"),
            ("a.mp4", "mp4"),
            ("a.mov", "mp4"),
            ("a.webm", "matroska"),
            ("a.mkv", "matroska"),
        ];
        for (uri, container) in cases {
            let doc = convert_with(&raw(uri, signature_of(container)), &ConvertLimits::default())
                .unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(doc.title, uri);
            assert!(doc.blocks.is_empty());
            assert_eq!(doc.metadata["container"], container, "{uri}");
            assert_eq!(doc.metadata["media"], Format::from_path(uri).unwrap().name(), "{uri}");
        }
    }

    #[test]
    fn a_corrupt_or_mislabelled_file_fails_alone_with_a_clear_error() {
        let err = convert_with(&raw("photos/cat.png", b"this is not a picture".to_vec()), &ConvertLimits::default())
            .unwrap_err();
        assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("photos/cat.png") && msg.contains("not those of any image format"), "{msg}");

        let err = convert_with(&raw("song.mp3", signature_of("png")), &ConvertLimits::default()).unwrap_err();
        assert!(err.to_string().contains("a png file, which holds no audio"), "{err}");
        let err = convert_with(&raw("empty.mkv", Vec::new()), &ConvertLimits::default()).unwrap_err();
        assert!(err.to_string().contains("it is empty"), "{err}");
        // The next file is fine.
        assert!(convert_with(&raw("ok.gif", signature_of("gif")), &ConvertLimits::default()).is_ok());
    }
}
