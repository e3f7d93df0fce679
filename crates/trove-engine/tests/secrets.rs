//! Secrets at rest through the engine: a JIRA source whose token is `${secret:jira}` fails to
//! sync, naming the secret and how to set it, until an administrator stores it; then it syncs
//! against the fake JIRA with the stored value, which is nowhere in the workspace's files. A
//! new key encryption secret reads old values while the old one is listed as previous; the
//! rotation re-seals them so the old one can go; a lost key is named.

#[path = "support/fake.rs"]
mod fake;

use std::path::Path;
use std::sync::Arc;

use fake::Fake;
use trove_config::Workspace;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_ingest::Deployment;
use trove_ingest::testing::{FakeIssue, FakeJira, PAT};
use trove_types::{Code, HasCode, Role};

const KEY_A: &str = "first-key-encryption-secret-0123456789";
const KEY_B: &str = "second-key-encryption-secret-0123456789";

fn write_config(root: &Path, jira: &str, key: &str, previous: &[&str]) {
    let previous = previous.iter().map(|p| format!("\n    - {p}")).collect::<String>();
    let previous =
        if previous.is_empty() { String::new() } else { format!("  previous_key_encryption_secrets:{previous}\n") };
    std::fs::write(
        root.join("config.yaml"),
        format!(
            "auth:\n  key_encryption_secret: {key}\n{previous}vaults:\n  ops:\n    organization: acme\n    sources:\n      \
             tickets:\n        type: jira\n        deployment: datacenter\n        base_url: {jira}\n        \
             project: OPS\n        token: ${{secret:jira}}\n        timeout_s: 5\n"
        ),
    )
    .unwrap();
}

fn open(root: &Path) -> Engine {
    let ws = Workspace::load(Some(root), None).unwrap();
    Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(Fake::new("fake/a", 8, usize::MAX) as Arc<_>)
}

/// Every byte the workspace's data folder holds (database, WAL, everything).
fn stored_bytes(root: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(".trove")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_source_token_stored_as_a_secret_syncs_and_survives_key_rotation() {
    let jira = FakeJira::start(Deployment::DataCenter);
    jira.put(FakeIssue::new("OPS-1", "Pager is loud", "The pager beeps at night."));
    let ws = tempfile::tempdir().unwrap();
    write_config(ws.path(), &jira.url(), KEY_A, &[]);
    let engine = open(ws.path());
    engine.create_user("ada@acme.test", "correct horse battery staple", "acme", Role::Owner).unwrap();

    // Not stored yet: the sync fails naming the key, the secret and how to set it.
    let e = engine.ingest(&IngestOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(e.code(), Code::SecretNotFound, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("vaults.ops.sources.tickets.token") && msg.contains("PUT /v1/org/secrets/jira"), "{msg}");

    // A wrong value is used as given (the fake refuses it); the right one syncs.
    engine.admin_secret_set("acme", "jira", "wrong-token").unwrap();
    let e = engine.ingest(&IngestOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(e.code(), Code::SourceRefused, "{e}");
    let (info, created) = engine.admin_secret_set("acme", "jira", PAT).unwrap();
    assert!(!created && info.current_key && info.updated_by == "cli", "{info:?}");
    let report = engine.ingest(&IngestOptions::default(), &NoProgress).unwrap();
    assert_eq!(report.total.added, 1, "{report:?}");
    drop(engine);
    let bytes = stored_bytes(ws.path());
    assert!(!bytes.is_empty());
    assert!(!contains(&bytes, PAT), "the token is stored in the clear");
    assert!(!contains(&bytes, "wrong-token"), "an old value is left in the clear");

    // A new key, with the old one listed: old values still open; rotation re-seals them.
    write_config(ws.path(), &jira.url(), KEY_B, &[KEY_A]);
    let engine = open(ws.path());
    assert!(!engine.admin_secrets("acme").unwrap()[0].current_key);
    jira.put(FakeIssue::new("OPS-2", "Disk is full", "Clean the logs."));
    assert_eq!(engine.ingest(&IngestOptions::default(), &NoProgress).unwrap().total.added, 1);
    let rotation = engine.rotate_secrets().unwrap();
    assert_eq!((rotation.resealed, rotation.current, rotation.raced), (1, 0, 0));
    assert_eq!(engine.rotate_secrets().unwrap().current, 1, "a second rotation has nothing to do");
    drop(engine);

    // The old key can go now.
    write_config(ws.path(), &jira.url(), KEY_B, &[]);
    let engine = open(ws.path());
    assert!(engine.admin_secrets("acme").unwrap()[0].current_key);
    jira.put(FakeIssue::new("OPS-3", "Fan is noisy", "Replace it."));
    assert_eq!(engine.ingest(&IngestOptions::default(), &NoProgress).unwrap().total.added, 1);
    drop(engine);

    // A key that never sealed it: named, with the fix.
    write_config(ws.path(), &jira.url(), "a-third-unrelated-secret-0123456789abc", &[]);
    let engine = open(ws.path());
    let e = engine.ingest(&IngestOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(e.code(), Code::SecretUnreadable, "{e}");
    assert!(e.to_string().contains("previous_key_encryption_secrets"), "{e}");

    // Deleting it makes the source fail again; the organization must exist to hold secrets.
    engine.admin_secret_delete("acme", "jira").unwrap();
    assert_eq!(engine.admin_secret_delete("acme", "jira").unwrap_err().code(), Code::SecretNotFound);
    assert_eq!(engine.admin_secret_set("nobody", "jira", "x").unwrap_err().code(), Code::OrganizationNotFound);
    assert_eq!(engine.admin_secret_set("acme", "bad name", "x").unwrap_err().code(), Code::BadRequest);
}
