//! The single-user mode's access to a vault (what the CLI acts as), for engine tests that
//! call vault-scoped operations directly.

#![allow(dead_code)]

use trove_engine::auth::Principal;
use trove_engine::{Access, Engine, SearchRequest, perm, perm::Permission};
use trove_types::SearchMode;

/// `Principal::Local`'s access to `vault` with permission `P`.
pub fn local<P: Permission>(engine: &Engine, vault: &str) -> Access<P> {
    engine.authorize(&Principal::Local, vault).expect("the single-user mode reaches every vault")
}

/// The uris of a keyword search of `vault` for `query`, best first.
pub fn keyword_uris(engine: &Engine, vault: &str, query: &str) -> Vec<String> {
    let request = SearchRequest { query: query.into(), mode: Some(SearchMode::Keyword), ..Default::default() };
    let answer = engine.search(&local::<perm::Search>(engine, vault), &request).expect("the search answers");
    answer.hits.into_iter().map(|h| h.uri).collect()
}
