//! Document formats ([`Format`]) and how a path's extension maps to one. This is the single
//! list of supported extensions: the local-file source filters with it and validates
//! `file_types` against it, and [`crate::convert()`] dispatches on the result (binary formats,
//! PDF and Office, to their own parsers; images, audio and video to the media reader; the rest
//! are decoded as UTF-8 text first). It also says which media type (`Content-Type`) a path's
//! bytes are served with ([`content_type`]).

use serde::{Deserialize, Serialize};

/// The format of a document, which decides its converter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Markdown (CommonMark with tables, task lists, footnotes, strikethrough).
    Markdown,
    /// Plain text.
    Text,
    /// reStructuredText.
    Rst,
    /// HTML.
    Html,
    /// JSON.
    Json,
    /// PDF (the text of each page; scanned pages without a text layer have none).
    Pdf,
    /// Word (Office Open XML) document.
    Docx,
    /// PowerPoint (Office Open XML) presentation.
    Pptx,
    /// Excel (Office Open XML) workbook.
    Xlsx,
    /// An image (png, jpeg, webp, gif, tiff, bmp): its text comes from its metadata and OCR.
    Image,
    /// A sound recording (mp3, wav, m4a, ogg, flac).
    Audio,
    /// A video (mp4, mov, webm, mkv).
    Video,
    /// Source code (or configuration) in a language named by its canonical lowercase name.
    Code {
        /// Canonical language name, e.g. `rust`, `python`, `yaml`.
        language: String,
    },
}

/// Extensions of the non-code formats.
const DOC_EXTENSIONS: &[(&str, &str)] = &[
    ("md", "markdown"),
    ("markdown", "markdown"),
    ("mdx", "markdown"),
    ("mkd", "markdown"),
    ("txt", "text"),
    ("text", "text"),
    ("rst", "rst"),
    ("rest", "rst"),
    ("html", "html"),
    ("htm", "html"),
    ("xhtml", "html"),
    ("json", "json"),
    ("pdf", "pdf"),
    ("docx", "docx"),
    ("pptx", "pptx"),
    ("xlsx", "xlsx"),
    ("png", "image"),
    ("jpg", "image"),
    ("jpeg", "image"),
    ("webp", "image"),
    ("gif", "image"),
    ("tiff", "image"),
    ("tif", "image"),
    ("bmp", "image"),
    ("mp3", "audio"),
    ("wav", "audio"),
    ("m4a", "audio"),
    ("ogg", "audio"),
    ("flac", "audio"),
    ("mp4", "video"),
    ("mov", "video"),
    ("webm", "video"),
    ("mkv", "video"),
];

/// The media type of each extension whose bytes are not served as text; every other supported
/// extension is text (`text/plain`, or its own text type below).
const CONTENT_TYPES: &[(&str, &str)] = &[
    ("md", "text/markdown; charset=utf-8"),
    ("markdown", "text/markdown; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("xhtml", "application/xhtml+xml"),
    ("json", "application/json"),
    ("pdf", "application/pdf"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("webp", "image/webp"),
    ("gif", "image/gif"),
    ("tiff", "image/tiff"),
    ("tif", "image/tiff"),
    ("bmp", "image/bmp"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("m4a", "audio/mp4"),
    ("ogg", "audio/ogg"),
    ("flac", "audio/flac"),
    ("mp4", "video/mp4"),
    ("mov", "video/quicktime"),
    ("webm", "video/webm"),
    ("mkv", "video/x-matroska"),
];

/// The media type a document's original bytes are served with, by its path's extension:
/// `image/png`, `video/mp4`, `application/pdf`, `text/plain; charset=utf-8` for text and code,
/// and `application/octet-stream` for what the table does not know.
pub fn content_type(path: &str) -> &'static str {
    let Some(ext) = extension(path) else { return "application/octet-stream" };
    if let Some((_, mime)) = CONTENT_TYPES.iter().find(|(e, _)| *e == ext) {
        return mime;
    }
    if Format::from_extension(&ext).is_some() { "text/plain; charset=utf-8" } else { "application/octet-stream" }
}

/// Extensions of source-code files and the language each stands for.
const CODE_EXTENSIONS: &[(&str, &str)] = &[
    ("rs", "rust"),
    ("py", "python"),
    ("pyi", "python"),
    ("js", "javascript"),
    ("mjs", "javascript"),
    ("cjs", "javascript"),
    ("jsx", "jsx"),
    ("ts", "typescript"),
    ("mts", "typescript"),
    ("cts", "typescript"),
    ("tsx", "tsx"),
    ("go", "go"),
    ("java", "java"),
    ("c", "c"),
    ("h", "c"),
    ("cpp", "cpp"),
    ("cc", "cpp"),
    ("cxx", "cpp"),
    ("hpp", "cpp"),
    ("hh", "cpp"),
    ("hxx", "cpp"),
    ("cs", "csharp"),
    ("fs", "fsharp"),
    ("rb", "ruby"),
    ("php", "php"),
    ("swift", "swift"),
    ("kt", "kotlin"),
    ("kts", "kotlin"),
    ("scala", "scala"),
    ("groovy", "groovy"),
    ("gradle", "groovy"),
    ("dart", "dart"),
    ("sh", "sh"),
    ("bash", "bash"),
    ("zsh", "zsh"),
    ("fish", "fish"),
    ("ps1", "powershell"),
    ("bat", "batch"),
    ("cmd", "batch"),
    ("sql", "sql"),
    ("toml", "toml"),
    ("yaml", "yaml"),
    ("yml", "yaml"),
    ("ini", "ini"),
    ("cfg", "ini"),
    ("xml", "xml"),
    ("css", "css"),
    ("scss", "scss"),
    ("sass", "sass"),
    ("less", "less"),
    ("lua", "lua"),
    ("r", "r"),
    ("jl", "julia"),
    ("pl", "perl"),
    ("pm", "perl"),
    ("hs", "haskell"),
    ("ml", "ocaml"),
    ("mli", "ocaml"),
    ("ex", "elixir"),
    ("exs", "elixir"),
    ("erl", "erlang"),
    ("clj", "clojure"),
    ("cljs", "clojure"),
    ("elm", "elm"),
    ("zig", "zig"),
    ("nim", "nim"),
    ("vue", "vue"),
    ("svelte", "svelte"),
    ("proto", "protobuf"),
    ("graphql", "graphql"),
    ("gql", "graphql"),
    ("tf", "hcl"),
    ("hcl", "hcl"),
    ("cmake", "cmake"),
    ("mk", "make"),
    ("vim", "vim"),
    ("el", "elisp"),
    ("tex", "latex"),
];

impl Format {
    /// The format of a path (or URI, or file name) by its extension, case-insensitively;
    /// `None` when no converter handles it.
    pub fn from_path(path: &str) -> Option<Format> {
        let ext = extension(path)?;
        Self::from_extension(&ext)
    }

    /// The format for an extension given without the dot (case-insensitive).
    pub fn from_extension(ext: &str) -> Option<Format> {
        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
        if let Some((_, kind)) = DOC_EXTENSIONS.iter().find(|(e, _)| *e == ext) {
            return Some(match *kind {
                "markdown" => Format::Markdown,
                "text" => Format::Text,
                "rst" => Format::Rst,
                "html" => Format::Html,
                "json" => Format::Json,
                "pdf" => Format::Pdf,
                "docx" => Format::Docx,
                "pptx" => Format::Pptx,
                "image" => Format::Image,
                "audio" => Format::Audio,
                "video" => Format::Video,
                _ => Format::Xlsx,
            });
        }
        CODE_EXTENSIONS
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, language)| Format::Code { language: (*language).to_string() })
    }

    /// The format a user names: a format name (`markdown`, `text`, `html`, ...), an extension
    /// (`md`, `py`) or a code language (`python`, `rust`); case-insensitive.
    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.trim().to_ascii_lowercase();
        Self::from_extension(&name).or_else(|| {
            CODE_EXTENSIONS
                .iter()
                .find(|(_, language)| *language == name)
                .map(|(_, language)| Format::Code { language: (*language).to_string() })
        })
    }

    /// Every supported extension (lowercase, without the dot), in a stable order.
    pub fn supported_extensions() -> impl Iterator<Item = &'static str> {
        DOC_EXTENSIONS.iter().chain(CODE_EXTENSIONS).map(|(e, _)| *e)
    }

    /// A short lowercase name of the format: `markdown`, `text`, `rst`, `html`, `json`, `pdf`,
    /// `docx`, `pptx`, `xlsx`, `image`, `audio`, `video` or `code`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Markdown => "markdown",
            Format::Text => "text",
            Format::Rst => "rst",
            Format::Html => "html",
            Format::Json => "json",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Pptx => "pptx",
            Format::Xlsx => "xlsx",
            Format::Image => "image",
            Format::Audio => "audio",
            Format::Video => "video",
            Format::Code { .. } => "code",
        }
    }

    /// Whether documents of this format are binary files read by their own parser (PDF,
    /// Office and media), rather than text decoded as UTF-8.
    pub fn is_binary(&self) -> bool {
        matches!(self, Format::Pdf | Format::Docx | Format::Pptx | Format::Xlsx) || self.is_media()
    }

    /// Whether this is an image, a recording or a video: a document whose original bytes are
    /// what a user wants back, and whose text comes from its metadata, OCR and transcripts.
    pub fn is_media(&self) -> bool {
        matches!(self, Format::Image | Format::Audio | Format::Video)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Format::Code { language } => write!(f, "code ({language})"),
            other => f.write_str(other.name()),
        }
    }
}

/// The lowercase extension of the last path segment, if it has one (`.bashrc` has none).
pub(crate) fn extension(path: &str) -> Option<String> {
    let name = file_name(path);
    let dot = name.rfind('.')?;
    if dot == 0 || dot + 1 == name.len() {
        return None;
    }
    Some(name[dot + 1..].to_ascii_lowercase())
}

/// The last segment of a `/`-separated path (the whole string when it has no `/`).
pub(crate) fn file_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_extensions() {
        assert_eq!(Format::from_path("a/b/readme.md"), Some(Format::Markdown));
        assert_eq!(Format::from_path("README.MD"), Some(Format::Markdown));
        assert_eq!(Format::from_path("x.mdx"), Some(Format::Markdown));
        assert_eq!(Format::from_path("notes.txt"), Some(Format::Text));
        assert_eq!(Format::from_path("index.rst"), Some(Format::Rst));
        assert_eq!(Format::from_path("page.htm"), Some(Format::Html));
        assert_eq!(Format::from_path("data.json"), Some(Format::Json));
        assert_eq!(Format::from_path("src/main.rs"), Some(Format::Code { language: "rust".into() }));
        assert_eq!(Format::from_path("x.yml"), Some(Format::Code { language: "yaml".into() }));
        assert_eq!(Format::from_path("stats.R"), Some(Format::Code { language: "r".into() }));
        assert_eq!(Format::from_path("image.png"), Some(Format::Image));
        assert_eq!(Format::from_path("photo.JPEG"), Some(Format::Image));
        assert_eq!(Format::from_path("scan.tif"), Some(Format::Image));
        assert_eq!(Format::from_path("talk.flac"), Some(Format::Audio));
        assert_eq!(Format::from_path("clip.mkv"), Some(Format::Video));
        assert_eq!(Format::from_name("webm"), Some(Format::Video));
        assert!(Format::Image.is_binary() && Format::Video.is_media() && !Format::Pdf.is_media());
        assert_eq!(Format::from_path("movie.avi"), None);
        assert_eq!(Format::from_path("Makefile"), None);
        assert_eq!(Format::from_path(".bashrc"), None);
        assert_eq!(Format::from_path("trailing."), None);
        assert_eq!(Format::from_path(""), None);
        assert_eq!(Format::from_extension(".MD"), Some(Format::Markdown));
        assert_eq!(Format::from_name("Markdown"), Some(Format::Markdown));
        assert_eq!(Format::from_name("python"), Some(Format::Code { language: "python".into() }));
        assert_eq!(Format::from_name("py"), Some(Format::Code { language: "python".into() }));
        assert_eq!(Format::from_name("pdf"), Some(Format::Pdf));
        assert_eq!(Format::from_path("Report.DOCX"), Some(Format::Docx));
        assert_eq!(Format::from_path("deck.pptx"), Some(Format::Pptx));
        assert_eq!(Format::from_path("sheet.xlsx"), Some(Format::Xlsx));
        assert_eq!(Format::from_path("old.doc"), None);
        assert_eq!(Format::from_name("exe"), None);
        assert!(Format::Pdf.is_binary() && !Format::Markdown.is_binary());
    }

    #[test]
    fn extensions_are_unique_and_all_resolve() {
        let mut all: Vec<_> = Format::supported_extensions().collect();
        for e in &all {
            assert!(Format::from_extension(e).is_some(), "{e}");
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "duplicate extension in the tables");
    }

    #[test]
    fn every_media_extension_has_a_content_type() {
        for ext in Format::supported_extensions() {
            let format = Format::from_extension(ext).unwrap();
            let mime = content_type(&format!("a.{ext}"));
            if format.is_media() {
                assert!(CONTENT_TYPES.iter().any(|(e, _)| *e == ext), "{ext} has no content type");
                assert!(mime.starts_with(format.name()), "{ext}: {mime}");
            }
        }
        assert_eq!(content_type("a/B.PNG"), "image/png");
        assert_eq!(content_type("talk.m4a"), "audio/mp4");
        assert_eq!(content_type("main.rs"), "text/plain; charset=utf-8");
        assert_eq!(content_type("r.pdf"), "application/pdf");
        assert_eq!(content_type("a.exe"), "application/octet-stream");
        assert_eq!(content_type("Makefile"), "application/octet-stream");
    }

    #[test]
    fn names_and_display() {
        assert_eq!(Format::Markdown.to_string(), "markdown");
        assert_eq!(Format::Code { language: "go".into() }.to_string(), "code (go)");
        assert_eq!(file_name("a/b/c.txt"), "c.txt");
        assert_eq!(file_name("c.txt"), "c.txt");
    }
}
