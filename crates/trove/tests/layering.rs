//! The layering the architecture promises, read from the manifests as Cargo resolves them
//! (`cargo metadata --offline --no-deps`: workspace inheritance and renames included): the
//! transports reach storage only through the engine, so neither `trove-server` nor `trove-mcp`
//! depends on a store crate directly.

use std::process::Command;

/// The crates that must not depend on `trove-store*`.
const TRANSPORTS: [&str; 2] = ["trove-server", "trove-mcp"];

#[test]
fn transports_depend_on_no_store_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--offline", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    for transport in TRANSPORTS {
        let package = packages.iter().find(|p| p["name"] == transport).unwrap_or_else(|| panic!("{transport} is gone"));
        let direct: Vec<&str> = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            // Normal and build dependencies; tests may use what they like.
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert!(direct.contains(&"trove-engine"), "{transport}: {direct:?}");
        let store: Vec<&&str> = direct.iter().filter(|d| d.starts_with("trove-store")).collect();
        assert!(store.is_empty(), "{transport} depends on {store:?}: reach the store through trove-engine instead");
    }
}
