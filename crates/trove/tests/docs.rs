//! The Markdown documentation stays navigable: every relative link and image in `README.md`,
//! `ARCHITECTURE.md` and `docs/*.md` points at a file that exists and, with a `#fragment`, at
//! a heading of that file (GitHub's anchors); and every page of `docs/` is linked from the
//! README, so none is left unreachable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The Markdown files checked: the README, the architecture notes and every page of `docs/`.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// GitHub's anchor for a heading: lowercase, letters, digits, `-` and `_` kept, spaces become
/// `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A page's links (destinations as written) and its headings' anchors (a repeated heading gets
/// `-1`, `-2`, ... as on GitHub).
fn read(path: &Path) -> (Vec<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut links, mut anchors) = (Vec::new(), BTreeSet::new());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(&text) {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string());
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&heading.take().unwrap_or_default());
                let n = seen.entry(base.clone()).or_default();
                anchors.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
                *n += 1;
            }
            _ => {}
        }
    }
    (links, anchors)
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("Running Trove for a team"), "running-trove-for-a-team");
    assert_eq!(slug("`trove migrate`"), "trove-migrate");
    assert_eq!(slug("Signed tokens for a backend's end users"), "signed-tokens-for-a-backends-end-users");
    assert_eq!(slug("Integer precision (embedder.precision: int16)"), "integer-precision-embedderprecision-int16");
}

#[test]
fn every_relative_link_points_at_an_existing_file_and_heading() {
    let root = root();
    let pages = pages(&root);
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let (links, own) = read(page);
        for link in links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, fragment) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            let name = format!("{}: {link}", page.strip_prefix(&root).unwrap().display());
            if !target.exists() {
                broken.push(format!("{name}: no file {}", target.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                let anchors = if file.is_empty() { own.clone() } else { read(&target).1 };
                if !anchors.contains(fragment) {
                    broken.push(format!("{name}: no heading with that anchor (have: {anchors:?})"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 20, "only {checked} relative links found: is the parser seeing the pages?");
}

#[test]
fn every_docs_page_is_linked_from_the_readme() {
    let root = root();
    let (links, _) = read(&root.join("README.md"));
    let linked: BTreeSet<String> =
        links.iter().filter_map(|l| l.split('#').next()).map(|l| l.trim_start_matches("./").to_string()).collect();
    let missing: Vec<String> = pages(&root)
        .iter()
        .filter_map(|p| p.strip_prefix(&root).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("docs/") && !linked.contains(p))
        .collect();
    assert!(missing.is_empty(), "pages of docs/ the README does not link: {missing:?}");
}
