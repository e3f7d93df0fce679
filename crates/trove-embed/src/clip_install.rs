//! Where the CLIP model's files live and how they get there: the search order for a usable
//! folder ([`resolve_clip`]: `embedder.clip.model_dir`, then `$TROVE_CLIP_DIR`, then
//! [`default_clip_dir`]) and the installer ([`install_clip`]). No CLIP weights ship with
//! Trove: the user names an http(s) folder URL serving a Hugging Face `CLIPModel` checkpoint
//! (`model.safetensors`, `config.json`, `vocab.json`, `merges.txt`, optionally
//! `preprocessor_config.json`) and the SHA-256 of its weights, which pins what is installed.
//!
//! An install is atomic: the files are downloaded into a staging folder beside the
//! destination, the weights' checksum is verified, the model is loaded once (every tensor's
//! name and shape checked against `config.json`), and only then does the staging folder
//! replace the destination. A failure at any step removes the staging folder and leaves the
//! previous install as it was.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::clip::{CLIP_REQUIRED_FILES, CLIP_WEIGHTS_FILE, ClipModel};
use crate::error::EmbedError;
use crate::model::cache_dir;

/// Environment variable naming a CLIP model folder, searched after a configured one.
pub const CLIP_DIR_ENV: &str = "TROVE_CLIP_DIR";
/// Files of a CLIP folder that are fetched when the server has them.
pub const CLIP_OPTIONAL_FILES: [&str; 1] = ["preprocessor_config.json"];
/// The most bytes of one downloaded file (ViT-L/14 weights are 1.7 GB).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Where [`install_clip`] puts the model by default: `cache_dir()/models/clip`.
pub fn default_clip_dir() -> PathBuf {
    cache_dir().join("models").join("clip")
}

/// The files of [`CLIP_REQUIRED_FILES`] missing from `dir` (all of them when it is no folder).
fn missing(dir: &Path) -> Vec<&'static str> {
    CLIP_REQUIRED_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect()
}

/// The CLIP model folder to load: `configured` (an error when files are missing there: a
/// configured folder is never silently passed over), else `$TROVE_CLIP_DIR`, else
/// [`default_clip_dir`].
pub fn resolve_clip(configured: Option<&Path>) -> Result<PathBuf, EmbedError> {
    let env_dir = std::env::var_os(CLIP_DIR_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    resolve_clip_from(configured, env_dir, default_clip_dir())
}

fn resolve_clip_from(
    configured: Option<&Path>,
    env_dir: Option<PathBuf>,
    default: PathBuf,
) -> Result<PathBuf, EmbedError> {
    if let Some(dir) = configured {
        let lacking = missing(dir);
        return if lacking.is_empty() {
            Ok(dir.to_path_buf())
        } else {
            Err(EmbedError::ClipNotInstalled {
                detail: format!("embedder.clip.model_dir {} lacks {}", dir.display(), lacking.join(", ")),
            })
        };
    }
    let mut searched = Vec::new();
    for dir in env_dir.into_iter().chain([default]) {
        if missing(&dir).is_empty() {
            return Ok(dir);
        }
        searched.push(dir.display().to_string());
    }
    Err(EmbedError::ClipNotInstalled { detail: format!("searched: {}", searched.join(", ")) })
}

/// Downloads the CLIP checkpoint at the folder URL `url` into `dest`, refusing weights whose
/// SHA-256 is not `sha256`, within `timeout` in all; see the module documentation. Returns
/// `dest`.
pub fn install_clip(url: &str, sha256: &str, dest: &Path, timeout: Duration) -> Result<PathBuf, EmbedError> {
    let fail = |reason: String| EmbedError::ClipInstallFailed { reason };
    let want = sha256.trim().to_ascii_lowercase();
    if want.len() != 64 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(fail(format!("`{sha256}` is not a SHA-256 (64 hexadecimal digits) of model.safetensors")));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(fail(format!("`{url}` is not an http:// or https:// folder URL")));
    }
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    let name = dest.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "clip".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.staging-"))
        .tempdir_in(parent)
        .map_err(|e| fail(format!("cannot create a staging folder in {}: {e}", parent.display())))?;
    let deadline = Instant::now() + timeout;
    let agent = agent(url)?;
    let base = url.trim_end_matches('/');
    for file in CLIP_REQUIRED_FILES {
        download(&agent, &format!("{base}/{file}"), &staging.path().join(file), deadline, true)?;
    }
    for file in CLIP_OPTIONAL_FILES {
        download(&agent, &format!("{base}/{file}"), &staging.path().join(file), deadline, false)?;
    }
    let got = sha256_of(&staging.path().join(CLIP_WEIGHTS_FILE))
        .map_err(|e| fail(format!("cannot read the downloaded weights: {e}")))?;
    if got != want {
        return Err(fail(format!(
            "the checksum of {base}/{CLIP_WEIGHTS_FILE} is {got}, not the pinned {want}: the file changed or is not the one pinned; nothing was installed"
        )));
    }
    ClipModel::load(staging.path())
        .map_err(|e| fail(format!("the downloaded files do not load as a CLIP model: {e}")))?;
    // Swap: the old install moves aside, the staging folder takes its place, the old one goes.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_old = dest.exists();
    if had_old {
        fs::rename(dest, &old).map_err(|e| fail(format!("cannot move the previous install aside: {e}")))?;
    }
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, dest) {
        let _ = fs::remove_dir_all(&staged);
        if had_old {
            let _ = fs::rename(&old, dest);
        }
        return Err(fail(format!("cannot place the model at {}: {e}", dest.display())));
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    tracing::info!(dest = %dest.display(), "CLIP model installed");
    Ok(dest.to_path_buf())
}

/// An agent honouring the proxy the environment names for `url` and the TLS trust of
/// `SSL_CERT_FILE`, following a few redirects (Hugging Face answers with one to its CDN).
fn agent(url: &str) -> Result<ureq::Agent, EmbedError> {
    let fail = |reason: String| EmbedError::ClipInstallFailed { reason };
    let proxy = match trove_http::proxy_from_env(url, |name| std::env::var(name).ok()) {
        Some(p) => Some(ureq::Proxy::new(&p).map_err(|e| fail(format!("the proxy `{p}` is not usable: {e}")))?),
        None => None,
    };
    let tls = trove_http::tls_config(None, "embedder.clip").map_err(fail)?;
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(proxy)
        .tls_config(tls)
        .max_redirects(5)
        .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

/// Streams `url` into `path` before `deadline`; a 404 of an optional file is no error.
fn download(agent: &ureq::Agent, url: &str, path: &Path, deadline: Instant, required: bool) -> Result<(), EmbedError> {
    let fail = |reason: String| EmbedError::ClipInstallFailed { reason };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(fail(format!("the time limit ran out before {url}")));
    }
    let response =
        agent.get(url).config().timeout_global(Some(left)).build().call().map_err(|e| fail(format!("{url}: {e}")))?;
    let status = response.status().as_u16();
    if status == 404 && !required {
        return Ok(());
    }
    if !(200..300).contains(&status) {
        return Err(fail(format!(
            "{url} answered HTTP {status}; check the URL (a folder serving {})",
            CLIP_REQUIRED_FILES.join(", ")
        )));
    }
    let mut reader = response.into_body().into_with_config().limit(MAX_FILE_BYTES).reader();
    let mut out = fs::File::create(path).map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(format!("{url} was cut off: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    }
    out.sync_all().map_err(|e| fail(format!("cannot write {}: {e}", path.display())))
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_folder_must_hold_the_files_and_others_are_searched_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::write(a.join("config.json"), "{}").unwrap();
        let err = resolve_clip_from(Some(&a), None, b.clone()).unwrap_err().to_string();
        assert!(err.contains("lacks model.safetensors, vocab.json, merges.txt"), "{err}");
        assert!(err.contains("trove model install clip"), "{err}");
        fs::create_dir_all(&b).unwrap();
        for f in CLIP_REQUIRED_FILES {
            fs::write(b.join(f), "x").unwrap();
        }
        assert_eq!(resolve_clip_from(None, Some(a.clone()), b.clone()).unwrap(), b);
        let err = resolve_clip_from(None, Some(a.clone()), tmp.path().join("none")).unwrap_err().to_string();
        assert!(err.contains(&a.display().to_string()), "{err}");
    }
}
