//! The table of doctor's checks: each check's name (what `--only` takes and the report
//! shows), what it looks at (what `trove doctor --help` lists), and the order they print in.
//! clap's possible values and help come from this enum, and [`super::run_check`] matches it
//! without a wildcard, so a new check cannot be left out of either.

use clap::ValueEnum;
use serde::Serialize;

/// One check, in the order they print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// config.yaml and .env load and validate: variables set, paths present, secrets long enough.
    Config,
    /// The data folder (storage.data_dir) is a folder this user can write in.
    DataDir,
    /// Free space where the data folder is: fails under 64 MiB, warns under 1 GiB.
    Disk,
    /// The workspace lock: free, shared by writing processes, held by one process that has
    /// the workspace to itself (a schema upgrade, `trove migrate`), or stale (--fix clears it).
    Lock,
    /// Which processes have the embedded store open (pid, command, since), what each holds (the
    /// lock, job leases); entries of processes that are gone are removed.
    Processes,
    /// The store: the embedded index's schema and consistency, or PostgreSQL's connection,
    /// pgvector, schema and room for this node's pool.
    Store,
    /// The embedded store's approximate vector index files: for each vault at or above
    /// vectors.ann.min_rows, present, at which generation, holding every vector once caught up.
    Vectors,
    /// Qdrant beside PostgreSQL: it answers with the API key, each vault's collection exists
    /// with its dimension, nothing waits to be applied (--fix rebuilds from PostgreSQL).
    Qdrant,
    /// Every ${secret:…} in config.yaml is stored and opens with the configured keys.
    Secrets,
    /// The built-in model's files and the checksum of its weights.
    Model,
    /// Each remote embeddings API in use: name, connection, proxy, TLS, key, model, vector size.
    Embedder,
    /// Each configured chat model (answers): name, connection, proxy, TLS, key, model, rate
    /// limit, with a one-token answer.
    Chat,
    /// The vision model that captions images (llm.models.vision), with a caption of a test
    /// image.
    Vision,
    /// The speech-to-text model (llm.models.transcription), with a transcript of a second of
    /// test audio.
    Transcription,
    /// The CLIP model's folder (embedder.clip.model_dir, $TROVE_CLIP_DIR or the cache folder),
    /// loaded, with a text embedded.
    Clip,
    /// Each configured source can be read (a folder listed, `git ls-remote`, one request to a
    /// wiki, tracker or site; nothing indexed).
    Sources,
    /// Mail can go out: the SMTP server answers, upgrades to TLS and accepts the login
    /// (nothing sent).
    Mail,
    /// server.bind is an address this process may listen on, and free.
    Bind,
    /// server.tls: certificate and key readable, matching, valid, not expiring within 14 days.
    Tls,
}

impl Check {
    /// Every check, in the order they print.
    pub fn all() -> &'static [Check] {
        Check::value_variants()
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_possible_value() {
            Some(v) => f.write_str(v.get_name()),
            None => write!(f, "{self:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn help(long: bool) -> String {
        let mut cli = Cli::command();
        let doctor = cli.find_subcommand_mut("doctor").expect("a doctor command");
        let text = if long { doctor.render_long_help() } else { doctor.render_help() };
        // Help is wrapped to the terminal: compare words, not lines.
        text.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn every_check_is_in_doctors_help_with_what_it_looks_at() {
        let (short, long) = (help(false), help(true));
        for check in Check::all() {
            let value = check.to_possible_value().unwrap();
            assert!(short.contains(&check.to_string()), "`trove doctor -h` lacks {check}: {short}");
            assert!(long.contains(&format!("- {check}:")), "`trove doctor --help` lacks {check}: {long}");
            let about = value.get_help().expect("every check says what it looks at").to_string();
            let about = about.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(long.contains(&about), "`trove doctor --help` lacks what {check} looks at: {about}");
        }
    }

    #[test]
    fn the_report_and_the_command_line_spell_checks_alike() {
        for check in Check::all() {
            assert_eq!(serde_json::to_value(check).unwrap(), check.to_string(), "{check:?}");
            assert_eq!(Check::from_str(&check.to_string(), false), Ok(*check));
        }
        assert_eq!(Check::DataDir.to_string(), "data_dir");
    }
}
