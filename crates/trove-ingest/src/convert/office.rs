//! What the Office Open XML converters (DOCX, PPTX, XLSX) share: opening the zip package,
//! reading its parts as text within the [`Budget`] (every byte unpacked is counted, so a zip
//! bomb stops at `ingest.max_unpacked_bytes`), a flat event walk over a part's XML with
//! entities resolved ([`walk`]), relationship files ([`rels`]) and the document properties of
//! `docProps/core.xml` ([`core_properties`]). Elements are matched by local name, so the
//! namespace prefixes a producer chose do not matter.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};
use zip::ZipArchive;
use zip::result::ZipError;

use super::limits::Budget;
use crate::error::IngestError;

/// How often (in XML events) a walk checks the time limit.
const TIME_CHECK_EVERY: u32 = 4096;

/// An opened OOXML package.
pub(super) struct Package<'b> {
    zip: ZipArchive<Cursor<&'b [u8]>>,
}

impl<'b> Package<'b> {
    /// Opens the zip archive; a clear error when the bytes are not one.
    pub(super) fn open(bytes: &'b [u8], budget: &Budget<'_>) -> Result<Self, IngestError> {
        match ZipArchive::new(Cursor::new(bytes)) {
            Ok(zip) => Ok(Package { zip }),
            Err(e) if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) => Err(budget.corrupt(format!(
                "it is an OLE compound file, not a zip archive: a password-protected document, or an old binary \
                 Office file (.doc, .xls, .ppt) with a new extension ({e})"
            ))),
            Err(e) => Err(budget.corrupt(format!("it is not a zip archive ({e})"))),
        }
    }

    /// The names of the package's parts.
    pub(super) fn names(&self) -> Vec<String> {
        self.zip.file_names().filter_map(Result::ok).map(Cow::into_owned).collect()
    }

    /// The text of a part (`None` when the package has no such part). Its unpacked bytes are
    /// counted against the budget and reading stops just past what is left of it.
    pub(super) fn part(&mut self, name: &str, budget: &mut Budget<'_>) -> Result<Option<String>, IngestError> {
        budget.check_time()?;
        let name = name.trim_start_matches('/');
        let file = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(budget.corrupt(format!("part {name} cannot be read ({e})"))),
        };
        let mut bytes = Vec::new();
        let cap = budget.unpack_remaining().saturating_add(1);
        file.take(cap)
            .read_to_end(&mut bytes)
            .map_err(|e| budget.corrupt(format!("part {name} cannot be unpacked ({e})")))?;
        budget.unpacked(bytes.len() as u64)?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(bytes);
        Ok(Some(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())))
    }

    /// A part that must exist.
    pub(super) fn required_part(&mut self, name: &str, budget: &mut Budget<'_>) -> Result<String, IngestError> {
        self.part(name, budget)?
            .ok_or_else(|| budget.corrupt(format!("the package has no {name} (is it really a .{}?)", budget.format)))
    }
}

/// One step of a walk over XML. An empty element (`<x/>`) is an `Open` then a `Close`.
#[derive(Debug)]
pub(super) enum Ev<'a> {
    /// An element starts.
    Open {
        /// Its local name (without prefix).
        name: &'a [u8],
        /// The start tag, for attributes.
        el: &'a BytesStart<'a>,
    },
    /// An element ends.
    Close {
        /// Its local name.
        name: &'a [u8],
    },
    /// Character data (entities resolved).
    Text(&'a str),
}

/// Walks a part's XML, calling `f` for each event; malformed XML is a corrupt document.
pub(super) fn walk(xml: &str, part: &str, budget: &Budget<'_>, mut f: impl FnMut(Ev<'_>)) -> Result<(), IngestError> {
    let mut reader = Reader::from_str(xml);
    let mut n: u32 = 0;
    loop {
        n = n.wrapping_add(1);
        if n.is_multiple_of(TIME_CHECK_EVERY) {
            budget.check_time()?;
        }
        let event = reader.read_event().map_err(|e| {
            budget.corrupt(format!("part {part} is not well-formed XML at byte {} ({e})", reader.buffer_position()))
        })?;
        match event {
            Event::Start(el) => f(Ev::Open { name: el.local_name().into_inner().as_bytes(), el: &el }),
            Event::Empty(el) => {
                let name = el.local_name().into_inner().as_bytes();
                f(Ev::Open { name, el: &el });
                f(Ev::Close { name });
            }
            Event::End(el) => f(Ev::Close { name: el.local_name().into_inner().as_bytes() }),
            Event::Text(t) => f(Ev::Text(&t.xml10_content())),
            Event::CData(t) => f(Ev::Text(&t.into_inner())),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => resolve_predefined_entity(&r).map(str::to_string),
                    Err(_) => None,
                };
                if let Some(text) = resolved {
                    f(Ev::Text(&text));
                }
            }
            Event::Eof => return Ok(()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// The value of an attribute by local name (any prefix or none).
pub(super) fn attr(el: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    el.attributes()
        .flatten()
        .find(|a| a.key.local_name().into_inner().as_bytes() == local)
        .and_then(|a| a.normalized_value(XmlVersion::Implicit1_0).ok().map(Cow::into_owned))
}

/// The value of a prefixed attribute by local name (`r:id`, not a plain `id`).
pub(super) fn prefixed_attr(el: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    el.attributes()
        .flatten()
        .find(|a| a.key.prefix().is_some() && a.key.local_name().into_inner().as_bytes() == local)
        .and_then(|a| a.normalized_value(XmlVersion::Implicit1_0).ok().map(Cow::into_owned))
}

/// One relationship of a part: its id, type (the last segment of the type URI, e.g.
/// `slide`, `notesSlide`, `worksheet`) and target resolved to a package path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rel {
    /// `rId1`, ...
    pub(super) id: String,
    /// The type's last path segment.
    pub(super) kind: String,
    /// The target part's path inside the package.
    pub(super) target: String,
}

/// The relationships of `part` (from `dir/_rels/name.rels`); empty when it has none.
pub(super) fn rels(pkg: &mut Package<'_>, part: &str, budget: &mut Budget<'_>) -> Result<Vec<Rel>, IngestError> {
    let (dir, name) = part.rsplit_once('/').unwrap_or(("", part));
    let rels_name = if dir.is_empty() { format!("_rels/{name}.rels") } else { format!("{dir}/_rels/{name}.rels") };
    let Some(xml) = pkg.part(&rels_name, budget)? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    walk(&xml, &rels_name, budget, |ev| {
        if let Ev::Open { name: b"Relationship", el } = ev {
            if attr(el, b"TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("external")) {
                return;
            }
            let (Some(id), Some(kind), Some(target)) = (attr(el, b"Id"), attr(el, b"Type"), attr(el, b"Target")) else {
                return;
            };
            let kind = kind.rsplit('/').next().unwrap_or_default().to_string();
            out.push(Rel { id, kind, target: resolve_target(dir, &target) });
        }
    })?;
    Ok(out)
}

/// A relationship target relative to the folder of its source part, as a package path.
fn resolve_target(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') { Vec::new() } else { dir.split('/').collect() };
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.retain(|s| !s.is_empty());
    parts.join("/")
}

/// The document properties of `docProps/core.xml` as metadata (`title`, `subject`, `author`,
/// `keywords`, `description`, `last_modified_by`, `created`, `modified`); empty when absent.
pub(super) fn core_properties(
    pkg: &mut Package<'_>,
    budget: &mut Budget<'_>,
) -> Result<Map<String, Value>, IngestError> {
    let mut meta = Map::new();
    let Some(xml) = pkg.part("docProps/core.xml", budget)? else { return Ok(meta) };
    let mut depth = 0usize;
    let mut key: Option<&'static str> = None;
    let mut text = String::new();
    walk(&xml, "docProps/core.xml", budget, |ev| match ev {
        Ev::Open { name, .. } => {
            depth += 1;
            if depth == 2 {
                key = match name {
                    b"title" => Some("title"),
                    b"subject" => Some("subject"),
                    b"creator" => Some("author"),
                    b"keywords" => Some("keywords"),
                    b"description" => Some("description"),
                    b"lastModifiedBy" => Some("last_modified_by"),
                    b"created" => Some("created"),
                    b"modified" => Some("modified"),
                    _ => None,
                };
                text.clear();
            }
        }
        Ev::Text(t) if key.is_some() => text.push_str(t),
        Ev::Text(_) => {}
        Ev::Close { .. } => {
            if depth == 2
                && let Some(k) = key.take()
            {
                let value = super::collapse_whitespace(&text);
                if !value.is_empty() {
                    meta.insert(k.to_string(), Value::String(value));
                }
            }
            depth = depth.saturating_sub(1);
        }
    })?;
    Ok(meta)
}

/// The title from core properties, if set.
pub(super) fn title_of(meta: &Map<String, Value>) -> Option<String> {
    meta.get("title").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builds small OOXML packages in tests: a zip of the given parts, deflated.

    use std::io::Write;

    /// A zip archive holding `parts` (name, content), deflated.
    pub(crate) fn package(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in parts {
            zip.start_file(*name, options).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    /// `docProps/core.xml` with a title and an author.
    pub(crate) fn core_xml(title: &str, author: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><dc:title>{title}</dc:title><dc:creator>{author}</dc:creator><dcterms:created>2024-05-01T10:00:00Z</dcterms:created></cp:coreProperties>"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::limits::ConvertLimits;

    #[test]
    fn targets_resolve_against_the_source_folder() {
        assert_eq!(resolve_target("ppt", "slides/slide1.xml"), "ppt/slides/slide1.xml");
        assert_eq!(resolve_target("ppt/slides", "../notesSlides/n1.xml"), "ppt/notesSlides/n1.xml");
        assert_eq!(resolve_target("xl", "/xl/worksheets/sheet1.xml"), "xl/worksheets/sheet1.xml");
        assert_eq!(resolve_target("", "word/document.xml"), "word/document.xml");
    }

    #[test]
    fn walk_resolves_entities_and_reports_bad_xml() {
        let limits = ConvertLimits::unlimited();
        let budget = Budget::new("a.docx", "docx", &limits);
        let mut text = String::new();
        walk("<a x='1'>Tom &amp; Jerry &#x263A;<b/><![CDATA[<raw>]]></a>", "p", &budget, |ev| {
            if let Ev::Text(t) = ev {
                text.push_str(t);
            }
        })
        .unwrap();
        assert_eq!(text, "Tom & Jerry \u{263A}<raw>");
        let err = walk("<a><b></a>", "word/document.xml", &budget, |_| {}).unwrap_err();
        assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("word/document.xml"), "{err}");
    }

    #[test]
    fn parts_count_against_the_unpacked_limit() {
        let big = "x".repeat(10_000);
        let bytes = testing::package(&[("a.xml", &big), ("b.xml", "<b/>")]);
        assert!(bytes.len() < 1000, "deflated: {}", bytes.len());
        let limits = ConvertLimits { max_unpacked_bytes: 5_000, ..ConvertLimits::unlimited() };
        let mut budget = Budget::new("bomb.docx", "docx", &limits);
        let mut pkg = Package::open(&bytes, &budget).unwrap();
        assert_eq!(pkg.part("b.xml", &mut budget).unwrap().as_deref(), Some("<b/>"));
        assert!(pkg.part("missing.xml", &mut budget).unwrap().is_none());
        let err = pkg.part("a.xml", &mut budget).unwrap_err();
        assert!(matches!(err, IngestError::UnpackedTooLarge { max: 5_000, .. }), "{err:?}");
    }

    #[test]
    fn not_a_zip_is_corrupt_and_ole_files_are_named() {
        let limits = ConvertLimits::unlimited();
        let budget = Budget::new("x.docx", "docx", &limits);
        let err = Package::open(b"hello", &budget).err().unwrap();
        assert!(err.to_string().contains("not a zip archive"), "{err}");
        let err = Package::open(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0], &budget).err().unwrap();
        assert!(err.to_string().contains("password-protected"), "{err}");
    }
}
