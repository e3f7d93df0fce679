//! The error reference, generated from the error-code table ([`Code::info`]): for every code
//! its `type`, HTTP status, exit code, cause, what to do and an example. [`markdown`] is the
//! checked-in `docs/errors.md` (a test here fails when the file differs, naming the command
//! that regenerates it); [`html`] is the page `trove serve` answers at [`ERRORS_PATH`], with
//! an anchor per code, which the `link` of every error body points at.
//!
//! The table's texts use one kind of markup, `code` in backticks, rendered as such in both.

use crate::error::{Code, ERRORS_PATH};

/// The page's title.
const TITLE: &str = "Error reference";

/// The paragraphs before the table (backticks mark code).
const INTRO: &[&str] = &[
    "Every error Trove reports has a stable `code` from one table and the same body on every transport: \
     `{message, code, type, link}`. The command line prints `error: MESSAGE` and `code: CODE (LINK)` on \
     stderr (the body as JSON with `--json`) and exits with the code's exit code; the HTTP API answers \
     with the code's status; an MCP tool answers a result with `isError` and the body under \
     `structuredContent.error`.",
    "`link` leads to the code's entry below. A server links to its own copy of this page, \
     `/docs/errors`, under `auth.public_url` (else under the address the request reached). The \
     command line and `trove mcp` link to the page `TROVE_DOCS_URL` names when it is set, else to \
     the `/docs/errors` of the server at `auth.public_url` when the configuration sets one, else \
     to this file, `docs/errors.md`, in the checkout Trove was built from.",
    "`type` says whose fault it is: `invalid_request` (the request or the configuration: the same \
     request fails again until it changes), `system` (something Trove depends on: retrying may help), \
     `auth` (identity or permission) and `internal` (a bug in Trove).",
];

/// The command that rewrites `docs/errors.md` from the table.
pub const REGENERATE: &str = "TROVE_UPDATE_DOCS=1 cargo nextest run -p trove-types -E 'test(errors_md)'";

/// One code's entry, its prose (`cause`, `fix`, `example`) as the format writes it.
struct Entry {
    name: &'static str,
    kind: &'static str,
    status: u16,
    exit: i32,
    cause: String,
    fix: String,
    example: String,
}

/// Every code's entry in table order, its prose through `prose`.
fn entries(prose: fn(&str) -> String) -> impl Iterator<Item = Entry> {
    Code::ALL.iter().map(move |c| {
        let i = c.info();
        Entry {
            name: i.name,
            kind: i.kind.as_str(),
            status: i.http_status,
            exit: i.exit_code,
            cause: prose(i.cause),
            fix: prose(i.fix),
            example: prose(i.example),
        }
    })
}

/// The reference as Markdown (`docs/errors.md`).
pub fn markdown() -> String {
    let mut out = format!("# {TITLE}\n\n");
    out.push_str(&format!(
        "<!-- Generated from the error-code table in crates/trove-types/src/error.rs: edit the table, then run {REGENERATE} -->\n\n"
    ));
    for p in INTRO {
        out.push_str(p);
        out.push_str("\n\n");
    }
    out.push_str("| code | type | HTTP status | exit code |\n|---|---|---|---|\n");
    for Entry { name, kind, status, exit, .. } in entries(str::to_string) {
        out.push_str(&format!("| [`{name}`](#{name}) | `{kind}` | {status} | {exit} |\n"));
    }
    for Entry { name, kind, status, exit, cause, fix, example } in entries(str::to_string) {
        out.push_str(&format!(
            "\n## {name}\n\n`{kind}` · HTTP {status} · exit code {exit}\n\n**Cause.** {cause}\n\n\
             **What to do.** {fix}\n\n**Example.** {example}\n"
        ));
    }
    out
}

/// The reference as a standalone HTML page (no script, styles inline), each code's entry a
/// `<section>` whose `id` is the code's name.
pub fn html() -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Trove · {TITLE}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <p><a href=\"/\">Trove</a></p>\n<h1>{TITLE}</h1>\n"
    );
    for p in INTRO {
        out.push_str(&format!("<p>{}</p>\n", inline(p)));
    }
    out.push_str(
        "<table>\n<thead><tr><th>code</th><th>type</th><th>HTTP status</th><th>exit code</th></tr></thead>\n<tbody>\n",
    );
    for Entry { name, kind, status, exit, .. } in entries(inline) {
        out.push_str(&format!(
            "<tr><td><a href=\"#{name}\"><code>{name}</code></a></td><td><code>{kind}</code></td><td>{status}</td><td>{exit}</td></tr>\n"
        ));
    }
    out.push_str("</tbody>\n</table>\n");
    for Entry { name, kind, status, exit, cause, fix, example } in entries(inline) {
        out.push_str(&format!(
            "<section id=\"{name}\">\n<h2><a href=\"#{name}\">{name}</a></h2>\n\
             <p><code>{kind}</code> · HTTP {status} · exit code {exit}</p>\n\
             <p><strong>Cause.</strong> {cause}</p>\n<p><strong>What to do.</strong> {fix}</p>\n\
             <p><strong>Example.</strong> {example}</p>\n</section>\n"
        ));
    }
    out.push_str(&format!(
        "<p>This page is also served at <code>{ERRORS_PATH}</code> by every <code>trove serve</code>.</p>\n"
    ));
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The page's styles (the page loads nothing else).
const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#fff}\
main{max-width:52rem;margin:0 auto;padding:1rem 1.5rem 4rem}\
code{font-family:ui-monospace,monospace;font-size:.9em;background:#f1f3f7;padding:0 .2em;border-radius:3px}\
table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.2rem .8rem .2rem 0;border-bottom:1px solid #e3e6ec}\
section{border-top:1px solid #e3e6ec;margin-top:1.5rem}section:target{background:#fff8db}\
h2 a{color:inherit;text-decoration:none}";

/// Text with backticks as HTML: escaped, code spans as `<code>`.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for (i, part) in text.split('`').enumerate() {
        let escaped = escape(part);
        if i % 2 == 1 {
            out.push_str(&format!("<code>{escaped}</code>"));
        } else {
            out.push_str(&escaped);
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in reference.
    const ERRORS_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");

    #[test]
    fn every_code_says_its_cause_what_to_do_and_an_example() {
        for c in Code::ALL {
            let i = c.info();
            for (what, text) in [("cause", i.cause), ("fix", i.fix), ("example", i.example)] {
                assert!(text.len() > 10, "`{}` has no {what} in the table (crates/trove-types/src/error.rs)", i.name);
                assert!(text.ends_with('.'), "`{}`'s {what} is not a sentence: {text}", i.name);
                assert_eq!(text.matches('`').count() % 2, 0, "`{}`'s {what} has an unclosed backtick", i.name);
            }
        }
    }

    /// The entries of a reference in Markdown: the names of its `## ` headings.
    fn entries(markdown: &str) -> Vec<&str> {
        markdown.lines().filter_map(|l| l.strip_prefix("## ")).collect()
    }

    #[test]
    fn errors_md_is_generated_from_the_table() {
        let generated = markdown();
        if std::env::var_os("TROVE_UPDATE_DOCS").is_some() {
            std::fs::write(ERRORS_MD, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(ERRORS_MD)
            .unwrap_or_else(|e| panic!("cannot read {ERRORS_MD} ({e}): create it with {REGENERATE}"));
        let documented = entries(&checked_in);
        let stale: Vec<&&str> = documented.iter().filter(|name| Code::from_name(name).is_none()).collect();
        assert!(stale.is_empty(), "docs/errors.md documents codes that no longer exist: {stale:?}; run {REGENERATE}");
        let missing: Vec<&str> =
            Code::ALL.iter().map(|c| c.info().name).filter(|name| !documented.contains(name)).collect();
        assert!(missing.is_empty(), "docs/errors.md has no entry for {missing:?}; run {REGENERATE}");
        assert!(
            checked_in == generated,
            "docs/errors.md differs from what the error-code table generates; run {REGENERATE} and review the diff"
        );
    }

    #[test]
    fn the_page_has_an_anchor_per_code_and_escapes_its_text() {
        let page = html();
        for c in Code::ALL {
            let name = c.info().name;
            assert_eq!(page.matches(&format!("id=\"{name}\"")).count(), 1, "{name}");
        }
        assert!(!page.contains('`'), "a backtick left unrendered");
        assert_eq!(inline("a `<b>` & c"), "a <code>&lt;b&gt;</code> &amp; c");
        assert_eq!(entries(&markdown()).len(), Code::ALL.len());
    }
}
