//! The client libraries beside the server, each driven by its own test runner against a real
//! `trove serve` this test starts on a free port with authentication on (an owner account
//! and an API key limited to 60 requests a minute, so a 429 comes quickly): the Python client
//! (`clients/python`, pytest in the venv `scripts/clients-venv` makes, found through
//! `$TROVE_CLIENTS_PYTHON`), the TypeScript client (`clients/typescript`, Node's test runner)
//! and the LangChain and LlamaIndex integrations (`integrations/`, pytest in the same venv,
//! each running its example too). The runners get the server's address, the account and the
//! key in `TROVE_TEST_*`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/run.rs"]
mod run;
#[path = "support/served.rs"]
mod served;

use run::succeeded;
use served::Served;

const EMAIL: &str = "ada@acme.test";
const PASSWORD: &str = "correct horse battery staple";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A workspace with an owner account and an admin key, served; the key is returned too.
fn serve() -> (tempfile::TempDir, Served, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("config.yaml"),
        "auth:\n  rate_limits:\n    requests_per_key_per_minute: 60\nvaults:\n  notes:\n    organization: acme\n    sources: {}\n",
    )
    .unwrap();
    let mut user = run::trove(root, &["admin", "create-user", "--email", EMAIL, "--org", "acme", "--owner"]);
    succeeded(user.env("TROVE_ADMIN_PASSWORD", PASSWORD).output().unwrap(), "create-user");
    let args = ["admin", "create-key", "--email", EMAIL, "--org", "acme", "--vault", "*", "--action", "admin"];
    let key = succeeded(run::trove(root, &args).output().unwrap(), "create-key").trim().to_string();
    let served = Served::start(root, &[]);
    (dir, served, key)
}

/// `program args` in `cwd` with the server's address, account and key in the environment.
fn runner(program: &Path, args: &[&str], cwd: &Path, served: &Served, key: &str) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(cwd)
        .env("TROVE_TEST_URL", format!("http://{}", served.addr))
        .env("TROVE_TEST_EMAIL", EMAIL)
        .env("TROVE_TEST_PASSWORD", PASSWORD)
        .env("TROVE_TEST_KEY", key)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy");
    c
}

fn python() -> PathBuf {
    let p = std::env::var_os("TROVE_CLIENTS_PYTHON").expect(
        "TROVE_CLIENTS_PYTHON is not set: run the tests with scripts/test, which makes the client tests' venv (scripts/clients-venv)",
    );
    PathBuf::from(p)
}

/// pytest over `tests` of the Python package in `package` (its `src` and the client's on
/// PYTHONPATH, with the integrations' shared fixtures, `integrations/testing`).
fn pytest(package: &str) {
    let (_dir, served, key) = serve();
    let cwd = repo().join(package);
    let mut args = vec!["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"];
    if package.starts_with("integrations/") {
        args.extend(["-p", "trove_fixtures"]);
    }
    let mut c = runner(&python(), &args, &cwd, &served, &key);
    let paths = [repo().join("clients/python/src"), cwd.join("src"), repo().join("integrations/testing")];
    c.env("PYTHONPATH", paths.map(|p| p.display().to_string()).join(":"));
    c.env("PYTHONDONTWRITEBYTECODE", "1");
    let out = succeeded(c.output().unwrap(), &format!("pytest in {package}"));
    assert!(out.contains(" passed"), "{out}");
    assert!(!out.contains("skipped"), "no test may be skipped: {out}");
}

#[test]
fn the_python_client_passes_its_tests_against_a_real_server() {
    pytest("clients/python");
}

#[test]
fn the_typescript_client_passes_its_tests_against_a_real_server() {
    let (_dir, served, key) = serve();
    let cwd = repo().join("clients/typescript");
    let mut c = runner(Path::new("node"), &["--test", "test/"], &cwd, &served, &key);
    let out =
        succeeded(c.output().expect("node runs (Node.js 20 is on the machine)"), "node --test in clients/typescript");
    assert!(out.contains("# fail 0") && out.contains("# skipped 0"), "{out}");
    assert!(!out.contains("# pass 0"), "{out}");
}

#[test]
fn the_langchain_integration_passes_its_tests_against_a_real_server() {
    pytest("integrations/langchain-trove");
}

#[test]
fn the_llama_index_integration_passes_its_tests_against_a_real_server() {
    pytest("integrations/llama-index-trove");
}
