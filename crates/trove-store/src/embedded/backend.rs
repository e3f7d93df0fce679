//! What kind of backend the embedded store is ([`Backend`]): processes of one machine write
//! it, nothing beside it, no shared rate-limit buckets (the trait's defaults say so); and its integrity
//! check for `trove doctor`: chunks without a document, vectors of the wrong dimension, gaps in
//! chunk numbering, memories whose keyword index cannot be built, a keyword index whose counts
//! disagree with the rows (`keywords::check`), a change log ahead of its vault, and SQLite's
//! `quick_check`.

use super::{EmbeddedStore, keywords};
use crate::{Backend, IntegrityReport, StoreError};

impl Backend for EmbeddedStore {
    fn settle_indexes(&self, waiting: &mut dyn FnMut()) -> Result<(), StoreError> {
        match &self.folder {
            Some(folder) => folder.settle(waiting),
            None => Ok(()),
        }
    }

    fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        let conn = self.read()?;
        let count =
            |sql: &str| -> Result<u64, StoreError> { Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
        let mut report = IntegrityReport {
            documents: count("SELECT count(*) FROM documents")?,
            chunks: count("SELECT count(*) FROM chunks")?,
            vectors: count(
                "SELECT count(*) FROM chunks c JOIN vaults v ON v.id = c.vault_id WHERE length(c.vector) = 4 * v.dimension",
            )?,
            problems: Vec::new(),
        };
        let orphans =
            count("SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id WHERE d.id IS NULL")?;
        if orphans > 0 {
            report.problems.push(format!("{orphans} chunks belong to no document"));
        }
        if report.vectors != report.chunks {
            report.problems.push(format!(
                "{} chunks have a vector of their vault's dimension, of {}",
                report.vectors, report.chunks
            ));
        }
        let empty_docs = count(
            "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
        )?;
        if empty_docs > 0 {
            tracing::debug!(empty_docs, "documents without chunks (empty files)");
        }
        let gaps = count(
            "SELECT count(*) FROM (SELECT document_id, max(idx) + 1 AS n, count(*) AS c FROM chunks GROUP BY document_id) WHERE n != c",
        )?;
        if gaps > 0 {
            report.problems.push(format!("{gaps} documents have gaps in their chunk numbering"));
        }
        // Memories' keyword index is built from their text and tags: every row must hold what
        // it is built from (text, and tags as a JSON array of strings).
        let unindexable = count(
            "SELECT count(*) FROM memories WHERE typeof(text) != 'text' OR CASE WHEN json_valid(tags)
             THEN json_type(tags) != 'array' OR EXISTS (SELECT 1 FROM json_each(memories.tags) WHERE type != 'text')
             ELSE 1 END",
        )?;
        if unindexable > 0 {
            report
                .problems
                .push(format!("{unindexable} memories have text or tags their keyword index cannot be built from"));
        }
        let bad_memory_vectors = count(
            "SELECT count(*) FROM memories m JOIN vaults v ON v.id = m.vault_id WHERE length(m.vector) != 4 * v.dimension",
        )?;
        if bad_memory_vectors > 0 {
            report.problems.push(format!("{bad_memory_vectors} memories have a vector of the wrong dimension"));
        }
        report.problems.extend(keywords::check(&conn)?);
        let ahead = count(
            "SELECT count(*) FROM changes c JOIN vaults v ON v.id = c.vault_id
             WHERE c.generation > CASE c.space WHEN 0 THEN v.generation ELSE v.memory_generation END",
        )?;
        if ahead > 0 {
            report.problems.push(format!("{ahead} change log rows are ahead of their vault's generation"));
        }
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            report.problems.push(format!("sqlite quick_check: {check}"));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use crate::conformance::new_memory;
    use crate::embedded::tests::writer_with_vault;
    use crate::prelude::*;

    #[test]
    fn doctor_finds_memories_their_keyword_index_cannot_be_built_from() {
        let (_dir, store, v) = writer_with_vault();
        for tags in [&["a"][..], &[]] {
            store.memory_put(v.id, &new_memory("fine", None, tags, [1.0, 0.0]), 1).unwrap();
        }
        assert!(store.check_integrity().unwrap().problems.is_empty());
        for bad in ["not json", "{\"a\": 1}", "[1]"] {
            store.conn().execute("UPDATE memories SET tags = ? WHERE tags = '[]'", [bad]).unwrap();
            let problems = store.check_integrity().unwrap().problems;
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].contains("1 memories"), "{problems:?}");
            store.conn().execute("UPDATE memories SET tags = '[]' WHERE tags = ?", [bad]).unwrap();
        }
    }
}
