//! Schema migrations as operators see them: where a store's schema stands against this build
//! ([`SchemaStatus`]: its version, the build's, the migrations still to apply) and a one-line
//! summary of what a migration does, read from its SQL ([`summary`]: `CREATE TABLE jobs;
//! ALTER TABLE vaults ADD COLUMN log_floor; …`). Both backends describe their migrations with
//! these, for `trove status --schema` and for the log line of each migration applied.

use serde::Serialize;

/// A migration this build would apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingMigration {
    /// The version it upgrades the schema to.
    pub version: i64,
    /// What it does, from its SQL ([`summary`]).
    pub summary: String,
}

/// Where a store's schema stands against this build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaStatus {
    /// `embedded` or `postgres`.
    pub backend: &'static str,
    /// The store: its folder, or the database (without a password).
    pub location: String,
    /// The store's schema version; `None` when it holds no Trove schema yet.
    pub version: Option<i64>,
    /// The newest schema version this build knows.
    pub supported: i64,
    /// The migrations the next writer applies, oldest first (empty when the store is current
    /// or newer than this build).
    pub pending: Vec<PendingMigration>,
}

impl SchemaStatus {
    /// The status of a store at `version` whose backend's migrations are `migrations` (entry
    /// `i` upgrades version `i` to `i + 1`).
    pub fn new(backend: &'static str, location: String, version: Option<i64>, migrations: &[&str]) -> SchemaStatus {
        let supported = migrations.len() as i64;
        let from = version.unwrap_or(0).max(0);
        let pending = migrations
            .iter()
            .enumerate()
            .skip(from as usize)
            .map(|(i, sql)| PendingMigration { version: i as i64 + 1, summary: summary(sql) })
            .collect();
        SchemaStatus { backend, location, version, supported, pending }
    }

    /// `current`, `pending` (the next writer migrates it), `absent` (no schema yet: the next
    /// writer creates it) or `too_new` (written by a newer Trove; this build refuses it).
    pub fn state(&self) -> &'static str {
        match self.version {
            None | Some(0) => "absent",
            Some(v) if v > self.supported => "too_new",
            Some(v) if v < self.supported => "pending",
            Some(_) => "current",
        }
    }
}

/// The words that end a statement's summary: what follows them is detail.
const DETAIL: &[&str] = &["SET", "WHERE", "ON", "AS", "VALUES", "SELECT", "FROM", "USING", "DEFAULT", "REFERENCES"];

/// The most characters of a summary; longer ones end with `… (N statements)`.
const MAX_SUMMARY: usize = 200;

/// What a migration's SQL does in one line: each statement's leading words (`CREATE TABLE
/// jobs`, `ALTER TABLE vaults ADD COLUMN log_floor`, `UPDATE users`), comments and column
/// lists left out.
pub fn summary(sql: &str) -> String {
    let without_comments: String =
        sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
    let statements: Vec<String> = without_comments
        .split(';')
        .map(|s| {
            let mut words = Vec::new();
            for (i, word) in s.split_whitespace().enumerate() {
                if i > 0 && DETAIL.contains(&word.to_ascii_uppercase().as_str()) {
                    break;
                }
                let (head, cut) = match word.find('(') {
                    Some(at) => (&word[..at], true),
                    None => (word, false),
                };
                if !head.is_empty() {
                    words.push(head);
                }
                if cut || words.len() == 7 {
                    break;
                }
            }
            words.join(" ")
        })
        .filter(|s| !s.is_empty())
        .collect();
    let all = statements.join("; ");
    if all.chars().count() <= MAX_SUMMARY {
        return all;
    }
    let mut out = String::new();
    for s in &statements {
        if out.chars().count() + s.chars().count() + 2 > MAX_SUMMARY {
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(s);
    }
    format!("{out}; … ({} statements)", statements.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_each_statement_without_its_details() {
        let sql = r#"
            -- accounts made before are verified
            ALTER TABLE users ADD COLUMN email_verified_ms INTEGER;
            UPDATE users SET email_verified_ms = created_ms;
            CREATE TABLE user_tokens (
                id INTEGER PRIMARY KEY
            );
            CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);
            CREATE TABLE keyword_stats(vault_id INTEGER) WITHOUT ROWID;
            DROP TRIGGER memories_fts_delete;
        "#;
        assert_eq!(
            summary(sql),
            "ALTER TABLE users ADD COLUMN email_verified_ms INTEGER; UPDATE users; CREATE TABLE user_tokens; \
             CREATE INDEX user_tokens_user; CREATE TABLE keyword_stats; DROP TRIGGER memories_fts_delete"
        );
        let long = "CREATE TABLE t (a INT);".repeat(40);
        let s = summary(&long);
        assert!(s.chars().count() < MAX_SUMMARY + 30 && s.ends_with("… (40 statements)"), "{s}");
    }

    #[test]
    fn the_status_lists_what_the_next_writer_applies() {
        let migrations = ["CREATE TABLE a (x INT)", "CREATE TABLE b (x INT)", "ALTER TABLE a ADD COLUMN y INT"];
        let older = SchemaStatus::new("embedded", "/w/.trove".into(), Some(1), &migrations);
        assert_eq!(older.state(), "pending");
        assert_eq!(
            older.pending,
            [
                PendingMigration { version: 2, summary: "CREATE TABLE b".into() },
                PendingMigration { version: 3, summary: "ALTER TABLE a ADD COLUMN y INT".into() },
            ]
        );
        assert_eq!(SchemaStatus::new("embedded", String::new(), None, &migrations).pending.len(), 3);
        assert_eq!(SchemaStatus::new("embedded", String::new(), None, &migrations).state(), "absent");
        let current = SchemaStatus::new("postgres", String::new(), Some(3), &migrations);
        assert!(current.pending.is_empty() && current.state() == "current");
        let newer = SchemaStatus::new("postgres", String::new(), Some(9), &migrations);
        assert!(newer.pending.is_empty() && newer.state() == "too_new");
    }
}
