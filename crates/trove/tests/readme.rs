//! The README's first five minutes, run as written: the commands of its "Quick start" block
//! (read from `README.md` itself, so this fails when the README drifts from the binary) are run
//! in a shell whose home is a temporary folder holding a `handbook` of one's own, with the
//! `trove` just built first on the PATH, up to searching that folder; the "Install" block must
//! install this crate's binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap()
}

/// The commands of the first `sh` block under the `## {section}` heading, comments dropped.
fn commands(markdown: &str, section: &str) -> Vec<String> {
    let (mut heading, mut in_section, mut in_block) = (None::<String>, false, false);
    let mut block = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { level: HeadingLevel::H2, .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                in_section = heading.take().as_deref() == Some(section);
            }
            Event::Text(t) if heading.is_some() => heading.as_mut().unwrap().push_str(&t),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if in_section && &*lang == "sh" => {
                in_block = true
            }
            Event::Text(t) if in_block => block.push_str(&t),
            Event::End(TagEnd::CodeBlock) if in_block => break,
            _ => {}
        }
    }
    assert!(!block.is_empty(), "README.md has no ```sh block under `## {section}`");
    block
        .lines()
        .map(|l| l.split("  #").next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn install_builds_this_binary() {
    let install = commands(&readme(), "Install");
    let cargo = install.iter().find(|c| c.starts_with("cargo install")).expect("a `cargo install` command");
    let path = cargo.split_whitespace().skip_while(|w| *w != "--path").nth(1).expect("`--path DIR`");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path).canonicalize().unwrap();
    assert_eq!(manifest, Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap(), "{cargo}");
    assert!(readme().contains("~/.cargo/bin"), "the README says where the binary goes");
}

#[test]
fn the_quick_start_runs_as_written_up_to_searching_ones_own_folder() {
    let quick = commands(&readme(), "Quick start");
    let upto = quick.iter().position(|c| c.starts_with("trove search")).expect("a `trove search` command") + 1;
    let script = quick[..upto].join("\n");
    assert!(script.contains("~/handbook"), "the quick start copies one's own folder (~/handbook):\n{script}");

    // The model as installed for the tests (found before HOME changes).
    let trove = PathBuf::from(env!("CARGO_BIN_EXE_trove"));
    let model = Command::new(&trove).args(["model", "path"]).output().unwrap();
    assert!(model.status.success(), "{}", String::from_utf8_lossy(&model.stderr));
    let model = String::from_utf8(model.stdout).unwrap().trim().to_string();

    let home = tempfile::tempdir().unwrap();
    let handbook = home.path().join("handbook/ops");
    std::fs::create_dir_all(&handbook).unwrap();
    std::fs::write(
        handbook.join("rollback.md"),
        "# Rolling back a deploy\n\nTo roll back a deploy, run `deployctl rollback` with the previous release tag; \
         the old release is live again within a minute.\n",
    )
    .unwrap();
    let path = format!("{}:{}", trove.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .args(["-e", "-c", &script])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("PATH", path)
        .env("TROVE_MODEL_DIR", &model)
        .env("NO_COLOR", "1")
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the quick start failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    // The search's first hit (after what init and ingest printed).
    let first = stdout.lines().find(|l| l.starts_with("1. ")).unwrap_or_default();
    assert!(first.contains("Rolling back a deploy"), "the first hit is the handbook's page:\n{stdout}");
    assert!(stdout.contains("ops/rollback.md"), "{stdout}");
}
