//! The storage conformance suite (feature `testing`): behaviour every backend must show,
//! written once against the traits and grouped as they are: [`vaults`], [`documents`],
//! [`memory`], [`conversations`], [`jobs`], [`tenancy`], [`audit`]. A backend's tests invoke
//! [`conformance_tests!`](crate::conformance_tests) with a factory of fresh, empty stores; it
//! expands to a module `conformance` with a module per domain and one `#[test]` per check, so
//! each check is reported on its own (`conformance::memory::memory_lifecycle`) and chosen like
//! any test (`cargo nextest run conformance::memory`):
//!
//! ```ignore
//! trove_store::conformance_tests!(
//!     || {
//!         let dir = tempfile::tempdir().expect("a temporary folder");
//!         let store = EmbeddedStore::open_writer(dir.path(), "conformance").expect("open");
//!         (Box::new(store), Box::new(dir))
//!     },
//!     hybrid = engine,
//! );
//! ```
//!
//! The factory returns the store and a guard (a temporary folder, a test server) dropped after
//! it. `hybrid` says what the backend does with a hybrid query, which decides the hybrid checks
//! it gets: `engine` (it declines, and the engine fuses the backend's own lists), `one_step` (it
//! answers unfiltered queries itself) or `one_step_filtered` (filtered ones too). Every variant
//! is checked against ranks and a fused order computed by hand; a check that does not apply to
//! a backend is not generated, so it is never reported as passed. `ignore = "why"` marks every
//! check ignored (a backend that needs a server the machine may not have): nextest reports them
//! skipped, and runs them with `--run-ignored`.
//!
//! Each check panics with a message naming the behaviour that broke.

use std::any::Any;

use crate::{MemoryFilter, NewChunk, NewDocument, NewMemory, Scored, Store};

pub mod audit;
pub mod conversations;
pub mod documents;
pub mod jobs;
pub mod memory;
pub mod tenancy;
pub mod vaults;

/// A fresh, empty store, and a guard (a temporary folder, a test server) dropped after it.
pub type Fresh = (Box<dyn Store>, Box<dyn Any>);

/// Calls a factory given as a closure, typed so the boxes it returns coerce to [`Fresh`]
/// (used by [`conformance_tests!`](crate::conformance_tests)).
#[doc(hidden)]
pub fn fresh(factory: impl FnOnce() -> Fresh) -> Fresh {
    factory()
}

/// Runs one check on a fresh store. The store is dropped before its guard, also when the check
/// panics (a tuple drops its fields in order).
#[doc(hidden)]
pub fn run(fresh: fn() -> Fresh, check: fn(&dyn Store)) {
    let made = fresh();
    check(made.0.as_ref());
}

/// Expands to `mod conformance { mod vaults { #[test] fn vaults() ... } ... }`: one test per
/// conformance check, each on a fresh store from `$factory` (a closure returning a
/// [`Fresh`](crate::conformance::Fresh)). `hybrid = engine | one_step | one_step_filtered`
/// declares what the backend does with hybrid queries; `ignore = "why"` ignores every check.
/// See [`crate::conformance`].
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr, hybrid = $hybrid:ident $(, ignore = $reason:literal)? $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;

            fn fresh() -> $crate::conformance::Fresh {
                $crate::conformance::fresh($factory)
            }

            $crate::__conformance_modules! {
                $hybrid, { $($reason)? };
                vaults: [
                    vaults,
                    vaults_are_isolated,
                    dimension_is_enforced,
                    restaging_vectors_switches_atomically,
                    restaging_resumes_only_for_the_same_model,
                    delete_vault_removes_everything_in_it,
                    vectors_before_the_embedder_is_recorded_are_refused,
                ],
                documents: [
                    put_and_read_back,
                    replace_leaves_no_old_chunks,
                    delete_removes_from_every_index,
                    documents_list_in_pages_with_their_chunks,
                    keyword_search_ranks_and_filters,
                    keyword_scores_are_bm25_over_the_live_chunks,
                    keyword_query_syntax_is_inert,
                    vector_search_ranks_and_filters,
                    metadata_filters_match_values_and_array_members,
                    batch_put_is_atomic,
                    source_syncs_keep_the_last_outcome_per_source,
                ],
                memory: [
                    memory_lifecycle,
                    memory_filters_and_expiry,
                    memory_pagination,
                    memory_keyword_search_follows_writes_and_scope,
                    restaging_includes_memories,
                    restaging_skips_memories_changed_meanwhile,
                    memory_history_records_every_change,
                    memory_batches_are_all_or_nothing_and_check_versions,
                    concurrent_writers_to_one_memory_lose_no_update,
                    memory_kinds_and_importance_filter_every_read,
                ],
                conversations: [
                    conversations_are_per_owner_and_keep_their_turns,
                    conversations_expire_and_are_purged,
                ],
                jobs: [
                    job_lifecycle,
                    job_retries_then_dead_letter,
                    job_lease_expiry_hands_the_job_over,
                    job_cancel_recover_dedupe_and_list,
                ],
                tenancy: [
                    users_organizations_and_vault_ownership,
                    api_keys_are_stored_listed_revoked_and_touched,
                    sessions_are_capped_listed_revoked_and_follow_the_role,
                    teams_and_vault_grants,
                    user_tokens_work_once_and_expire,
                    invitations_are_accepted_once,
                    secrets_are_per_organization_and_resealed_only_if_unchanged,
                ],
                audit: [audit_log_filters_pages_and_prunes],
            }
        }
    };
}

/// A module per domain with a test per check, and the domain's hybrid checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_modules {
    ($hybrid:ident, $ignore:tt; $($domain:ident: [$($check:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $domain {
                $( $crate::__conformance_test!($ignore, $domain, $check); )*
                $crate::__conformance_hybrid!($hybrid, $ignore, $domain);
            }
        )*
    };
}

/// The hybrid checks a backend gets for what it declares.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_hybrid {
    (engine, $ignore:tt, documents) => {
        $crate::__conformance_test!($ignore, documents, hybrid_search_is_left_to_the_engine);
    };
    (engine, $ignore:tt, memory) => {
        $crate::__conformance_test!($ignore, memory, memory_hybrid_search_is_left_to_the_engine);
    };
    (one_step, $ignore:tt, documents) => {
        $crate::__conformance_test!($ignore, documents, hybrid_search_in_one_step_fuses_both_lists);
    };
    (one_step, $ignore:tt, memory) => {
        $crate::__conformance_test!($ignore, memory, memory_hybrid_search_in_one_step_fuses_both_lists);
    };
    (one_step_filtered, $ignore:tt, documents) => {
        $crate::__conformance_test!($ignore, documents, hybrid_search_in_one_step_fuses_both_lists);
        $crate::__conformance_test!($ignore, documents, hybrid_search_in_one_step_keeps_the_filter);
    };
    (one_step_filtered, $ignore:tt, memory) => {
        $crate::__conformance_test!($ignore, memory, memory_hybrid_search_in_one_step_fuses_both_lists);
        $crate::__conformance_test!($ignore, memory, memory_hybrid_search_in_one_step_keeps_the_scope);
    };
    ($other:ident, $ignore:tt, documents) => {
        compile_error!(concat!(
            "conformance_tests!: hybrid = ",
            stringify!($other),
            " is not one of engine, one_step, one_step_filtered"
        ));
    };
    ($hybrid:ident, $ignore:tt, $domain:ident) => {};
}

/// One check as a test (ignored with a reason when `$ignore` holds one).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ({}, $domain:ident, $check:ident) => {
        #[test]
        fn $check() {
            $crate::conformance::run(super::fresh, $crate::conformance::$domain::$check);
        }
    };
    ({ $reason:literal }, $domain:ident, $check:ident) => {
        #[test]
        #[ignore = $reason]
        fn $check() {
            $crate::conformance::run(super::fresh, $crate::conformance::$domain::$check);
        }
    };
}

/// A test document with 2-dimensional vectors.
pub fn doc(source: &str, uri: &str, hash: &str, chunks: &[(&str, [f32; 2])]) -> NewDocument {
    NewDocument {
        source: source.into(),
        uri: uri.into(),
        title: format!("Title of {uri}"),
        content_hash: hash.into(),
        metadata: serde_json::json!({"k": "v"}),
        modified_unix_ms: Some(1_700_000_000_000),
        chunks: chunks
            .iter()
            .map(|(text, v)| NewChunk {
                text: (*text).into(),
                heading_path: vec!["H".into()],
                token_count: text.split_whitespace().count(),
                vector: normalise(v),
            })
            .collect(),
    }
}

fn normalise(v: &[f32; 2]) -> Vec<f32> {
    let n = (v[0] * v[0] + v[1] * v[1]).sqrt().max(1e-12);
    vec![v[0] / n, v[1] / n]
}

fn vault(store: &dyn Store, name: &str) -> i64 {
    let v = store.ensure_vault(name).expect("ensure_vault");
    store.set_vault_embedder(v.id, "test-model", 2).expect("set_vault_embedder");
    v.id
}

fn consistent(store: &dyn Store) {
    let report = store.check_integrity().expect("check_integrity");
    assert!(report.problems.is_empty(), "integrity problems: {:?}", report.problems);
}

/// A test memory with a 2-dimensional vector (agent `agent-1`, no session).
pub fn new_memory(text: &str, user: Option<&str>, tags: &[&str], v: [f32; 2]) -> NewMemory {
    NewMemory {
        text: text.into(),
        user_id: user.map(Into::into),
        agent_id: Some("agent-1".into()),
        session_id: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        metadata: serde_json::json!({"source": "test"}),
        importance: 0.5,
        kind: None,
        expires_ms: None,
        vector: normalise(&v),
    }
}

/// The time the memory checks run at.
const NOW: i64 = 1_800_000_000_000;

fn live(now_ms: i64) -> MemoryFilter {
    MemoryFilter { now_ms, ..Default::default() }
}

/// Asserts a fused ranking: the ids in order and each score, within float error.
fn assert_fused(hits: &[Scored], want: &[(i64, f32)], what: &str) {
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let wanted: Vec<i64> = want.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, wanted, "{what}: the fused order (ties go to the lower id): {hits:?}");
    for (hit, (_, score)) in hits.iter().zip(want) {
        assert!((hit.score - score).abs() < 1e-6, "{what}: {} scored {}, not {score}", hit.id, hit.score);
    }
}

#[cfg(test)]
mod tests {
    /// The macro's lists and the checks agree: every public check of a domain file is a test
    /// (named in `conformance_tests!` or `__conformance_hybrid!`), and every name there is a
    /// check of its domain (the compiler checks that half when a backend expands the macro).
    #[test]
    fn every_check_is_named_in_the_macro() {
        let macros = include_str!("mod.rs");
        let files = [
            ("vaults", include_str!("vaults.rs")),
            ("documents", include_str!("documents.rs")),
            ("memory", include_str!("memory.rs")),
            ("conversations", include_str!("conversations.rs")),
            ("jobs", include_str!("jobs.rs")),
            ("tenancy", include_str!("tenancy.rs")),
            ("audit", include_str!("audit.rs")),
        ];
        let mut checks = 0;
        for (domain, text) in files {
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("pub fn ") else { continue };
                let name = &rest[..rest.find('(').expect("a function")];
                checks += 1;
                // As a list item (`name,` or `name]`) or a macro argument (`, name)`).
                let listed = macros.match_indices(name).any(|(i, _)| {
                    macros[..i].ends_with(|c: char| c.is_whitespace() || c == '[')
                        && macros[i + name.len()..].starts_with([',', ']', ')'])
                });
                assert!(listed, "conformance::{domain}::{name} is not named in the macros, so no backend runs it");
            }
        }
        assert!(checks >= 40, "found only {checks} checks");
    }
}
