//! `install_clip` against a local HTTP server serving the generated tiny CLIP of
//! `fixtures/clip/`: the files land and load, the checksum pins them (a mismatch is refused
//! and the previous install stays), a missing file fails the install, and no staging folder
//! is ever left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use trove_embed::{CLIP_REQUIRED_FILES, ClipModel, EmbedError, install_clip, resolve_clip};
use trove_http::testing::{MockServer, Reply};
use trove_types::error::{Code, HasCode};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clip")
}

/// Serves the fixture folder under `/clip/`, leaving out `omit`.
fn serve(omit: &'static [&'static str]) -> MockServer {
    MockServer::start(move |request| {
        let name = request.path.strip_prefix("/clip/").unwrap_or_default();
        let path = fixtures().join(name);
        if omit.contains(&name) || name.contains('/') || !path.is_file() {
            return Reply::text(404, "not found");
        }
        let mut reply = Reply::text(200, "");
        reply.body = fs::read(path).unwrap();
        reply
    })
}

fn pinned() -> String {
    hex::encode(Sha256::digest(fs::read(fixtures().join("model.safetensors")).unwrap()))
}

/// The entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    names
}

#[test]
fn installs_the_pinned_checkpoint_and_it_loads() {
    let server = serve(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models/clip");
    let got =
        install_clip(&format!("{}/clip/", server.url()), &pinned().to_uppercase(), &dest, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, dest);
    for f in CLIP_REQUIRED_FILES.iter().chain(["preprocessor_config.json"].iter()) {
        assert_eq!(fs::read(dest.join(f)).unwrap(), fs::read(fixtures().join(f)).unwrap(), "{f}");
    }
    assert_eq!(entries(&tmp.path().join("models")), vec!["clip"], "no staging folder left");
    assert_eq!(resolve_clip(Some(&dest)).unwrap(), dest);
    let model = ClipModel::load(&dest).unwrap();
    assert!(model.dimension() > 0);

    // The optional preprocessor settings may be absent from the server.
    let server = serve(&["preprocessor_config.json"]);
    let other = tmp.path().join("other");
    install_clip(&format!("{}/clip", server.url()), &pinned(), &other, Duration::from_secs(60)).unwrap();
    assert!(!other.join("preprocessor_config.json").exists());
}

#[test]
fn a_checksum_mismatch_is_refused_and_the_previous_install_stays() {
    let server = serve(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("clip");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("model.safetensors"), b"the previous install").unwrap();
    let wrong = "0".repeat(64);
    let err = install_clip(&format!("{}/clip", server.url()), &wrong, &dest, Duration::from_secs(60)).unwrap_err();
    assert!(matches!(err, EmbedError::ClipInstallFailed { .. }));
    assert_eq!(err.code(), Code::ModelInstallFailed);
    let msg = err.to_string();
    assert!(
        msg.contains(&pinned()) && msg.contains("not the pinned") && msg.contains("nothing was installed"),
        "{msg}"
    );
    assert_eq!(fs::read(dest.join("model.safetensors")).unwrap(), b"the previous install");
    assert_eq!(entries(tmp.path()), vec!["clip"], "no staging folder left");

    let err = install_clip(&format!("{}/clip", server.url()), "abc", &dest, Duration::from_secs(60)).unwrap_err();
    assert!(err.to_string().contains("not a SHA-256"), "{err}");
}

#[test]
fn a_missing_file_fails_the_install_and_leaves_nothing() {
    let server = serve(&["merges.txt"]);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("clip");
    let err = install_clip(&format!("{}/clip", server.url()), &pinned(), &dest, Duration::from_secs(60)).unwrap_err();
    assert!(err.to_string().contains("merges.txt answered HTTP 404"), "{err}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
    let err = resolve_clip(Some(&dest)).unwrap_err();
    assert_eq!(err.code(), Code::ModelNotInstalled);
}
