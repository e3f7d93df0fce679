//! Checks that `model::resolve`, `model::cache_dir` and `model::default_model_dir` read
//! `TROVE_MODEL_DIR` and `TROVE_CACHE_DIR`. Setting variables inside a multi-threaded test
//! process would race other tests, so the parent test re-runs this test binary with the
//! variables set, and the same test, finding itself started as that child, does the checking.
//! There is one test, so the report never counts a check that did not happen: in a normal
//! run it is the parent, and it fails unless every child ran its case and passed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use trove_embed::{EmbedError, model};

const CASE: &str = "TROVE_EMBED_TEST_CASE";
const EXPECT: &str = "TROVE_EMBED_TEST_EXPECT";
const CONFIGURED: &str = "TROVE_EMBED_TEST_CONFIGURED";

fn make_model_dir(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for f in model::REQUIRED_FILES {
        fs::write(dir.join(f), b"x").unwrap();
    }
}

fn run_child(case: &str, cache: &Path, model_dir: Option<&Path>, expect: &Path, configured: &Path) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "resolve_reads_the_environment", "--nocapture", "--test-threads=1"])
        .env(CASE, case)
        .env(EXPECT, expect)
        .env(CONFIGURED, configured)
        .env(model::CACHE_DIR_ENV, cache)
        .env_remove(model::MODEL_DIR_ENV);
    if let Some(dir) = model_dir {
        cmd.env(model::MODEL_DIR_ENV, dir);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "case {case} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("checked case {case}")), "the child did not check case {case}: {stdout}");
}

#[test]
fn resolve_reads_the_environment() {
    if let Ok(case) = std::env::var(CASE) {
        check_case(&case);
        println!("checked case {case}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let env_dir = tmp.path().join("env-model");
    let configured = tmp.path().join("configured");
    let default_dir = cache.join("models").join(model::MODEL_NAME);

    // Nothing anywhere: the error lists TROVE_MODEL_DIR and the default, in that order.
    run_child("missing", &cache, Some(&env_dir), &default_dir, &configured);
    // TROVE_MODEL_DIR holds a model: it is used.
    make_model_dir(&env_dir);
    run_child("found", &cache, Some(&env_dir), &env_dir, &configured);
    // Without TROVE_MODEL_DIR, the default under TROVE_CACHE_DIR.
    make_model_dir(&default_dir);
    run_child("found", &cache, None, &default_dir, &configured);
    // A configured path beats both.
    make_model_dir(&configured);
    run_child("configured", &cache, Some(&env_dir), &configured, &configured);
}

/// The child's checks of one case, with the variables its parent set.
fn check_case(case: &str) {
    let expect = PathBuf::from(std::env::var_os(EXPECT).unwrap());
    let configured = PathBuf::from(std::env::var_os(CONFIGURED).unwrap());
    let cache = PathBuf::from(std::env::var_os(model::CACHE_DIR_ENV).unwrap());
    assert_eq!(model::cache_dir(), cache);
    assert_eq!(model::default_model_dir(), cache.join("models").join(model::MODEL_NAME));
    match case {
        "missing" => {
            let env_dir = PathBuf::from(std::env::var_os(model::MODEL_DIR_ENV).unwrap());
            let err = model::resolve(None).unwrap_err();
            let msg = err.to_string();
            match err {
                EmbedError::ModelNotInstalled { searched } => assert_eq!(searched, vec![env_dir, expect]),
                other => panic!("unexpected {other:?}"),
            }
            assert!(msg.contains("trove model install"), "{msg}");
            // No auto-install requested: the same error.
            assert!(matches!(model::resolve_or_install(None, false), Err(EmbedError::ModelNotInstalled { .. })));
        }
        "found" => {
            assert_eq!(model::resolve(None).unwrap(), expect);
            assert_eq!(model::resolve_or_install(None, true).unwrap(), expect);
        }
        "configured" => {
            assert_eq!(model::resolve(Some(&configured)).unwrap(), expect);
            let broken = configured.with_file_name("broken");
            assert!(matches!(model::resolve_or_install(Some(&broken), true), Err(EmbedError::ModelInvalid { .. })));
        }
        other => panic!("unknown case {other}"),
    }
}
