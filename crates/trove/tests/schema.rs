//! `trove status --schema` on a workspace an older Trove wrote: it names the store's schema
//! version, this binary's and each pending migration without changing the store; `trove serve`
//! then logs each migration it applies, and the status turns current.

use std::time::Duration;

use serde_json::Value;

#[path = "support/run.rs"]
mod run;
#[path = "support/served.rs"]
mod served;

use run::{succeeded, trove};
use served::{Served, init};

#[test]
fn an_older_workspace_shows_its_pending_migrations_and_the_server_logs_each_one_it_applies() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    init(root);
    // A store written by a build at schema version 13.
    trove_store::embedded::create_at_version(&root.join(".trove"), 13).unwrap();
    let supported = trove_store::embedded::SCHEMA_VERSION;

    let json: Value =
        serde_json::from_str(&succeeded(trove(root, &["status", "--schema", "--json"]).output().unwrap(), "status"))
            .unwrap();
    assert_eq!((json["backend"].as_str(), json["state"].as_str()), (Some("embedded"), Some("pending")), "{json}");
    assert_eq!((json["version"].as_i64(), json["supported"].as_i64()), (Some(13), Some(supported)), "{json}");
    let pending: Vec<i64> =
        json["pending"].as_array().unwrap().iter().map(|m| m["version"].as_i64().unwrap()).collect();
    assert_eq!(pending, (14..=supported).collect::<Vec<_>>(), "{json}");
    assert_eq!(json["pending"][0]["summary"], "DROP TRIGGER memories_fts_delete; DROP TABLE memories_fts", "{json}");

    let text = succeeded(trove(root, &["status", "--schema"]).output().unwrap(), "status");
    assert!(
        text.contains("schema version 13") && text.contains(&format!("knows schema version {supported}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} migration(s)", supported - 13)) && text.contains("CREATE TABLE changes"),
        "{text}"
    );
    // Reading the status changed nothing.
    let again = succeeded(trove(root, &["status", "--schema", "--json"]).output().unwrap(), "status");
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap()["version"], 13);

    // The server migrates it on open, one log line per migration.
    let mut served = Served::start(root, &[]);
    let logs = served.logs().join("\n");
    for version in 14..=supported {
        assert!(
            logs.lines().any(|l| l.contains("applied a schema migration") && l.contains(&format!("version={version}"))),
            "version {version} not logged:\n{logs}"
        );
    }
    let kill = std::process::Command::new("kill").args(["-TERM", &served.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    served.wait(Duration::from_secs(20));
    let current: Value =
        serde_json::from_str(&succeeded(trove(root, &["status", "--schema", "--json"]).output().unwrap(), "status"))
            .unwrap();
    assert_eq!((current["state"].as_str(), current["version"].as_i64()), (Some("current"), Some(supported)));
    assert_eq!(current["pending"], serde_json::json!([]));
}
