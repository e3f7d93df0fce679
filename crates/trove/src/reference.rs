//! Where the command line's error links point: the `link` of every error it prints is the
//! code's entry (`#CODE`) in an error reference. No server is asked, so the reference is, in
//! this order: the one `TROVE_DOCS_URL` names; the `/docs/errors` of the server at the
//! workspace's `auth.public_url`, when its configuration sets one; the `docs/errors.md` of the
//! checkout this binary was built from (`cargo install --path` leaves it in place); and, when
//! that file is gone too, `docs/errors.md` as the path in Trove's sources.

use std::path::Path;
use std::sync::OnceLock;

use trove_config::Workspace;
use trove_types::ERRORS_PATH;

/// The environment variable naming the error reference to link to (a URL or a path).
pub const DOCS_URL_VAR: &str = "TROVE_DOCS_URL";

/// The loaded workspace's `auth.public_url`.
static PUBLIC_URL: OnceLock<Option<String>> = OnceLock::new();

/// Records the workspace the command runs in (its `auth.public_url`).
pub fn workspace_loaded(ws: &Workspace) {
    let _ = PUBLIC_URL.set(ws.config.auth.public_url.clone());
}

/// The error reference to link to.
pub fn errors_reference() -> String {
    let env = std::env::var(DOCS_URL_VAR).ok();
    let public_url = PUBLIC_URL.get().cloned().flatten();
    choose(env.as_deref(), public_url.as_deref(), &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md"))
}

fn choose(env: Option<&str>, public_url: Option<&str>, checkout: &Path) -> String {
    if let Some(url) = env.map(str::trim).filter(|u| !u.is_empty()) {
        return url.to_string();
    }
    if let Some(url) = public_url {
        return format!("{}{ERRORS_PATH}", url.trim_end_matches('/'));
    }
    match checkout.canonicalize() {
        Ok(path) => path.display().to_string(),
        Err(_) => "docs/errors.md".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_then_the_public_url_then_the_checkouts_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("errors.md");
        std::fs::write(&file, "# Error reference\n").unwrap();
        let url = "https://docs.example.com/trove/errors.html";
        assert_eq!(choose(Some(url), Some("https://trove.example.com"), &file), url);
        assert_eq!(
            choose(Some(" "), Some("https://trove.example.com/"), &file),
            "https://trove.example.com/docs/errors"
        );
        assert_eq!(choose(None, None, &file), file.canonicalize().unwrap().display().to_string());
        assert_eq!(choose(None, None, &dir.path().join("gone.md")), "docs/errors.md");
    }

    #[test]
    fn this_checkout_has_the_reference() {
        let link = choose(None, None, &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md"));
        assert!(link.ends_with("docs/errors.md") && Path::new(&link).is_absolute(), "{link}");
    }
}
