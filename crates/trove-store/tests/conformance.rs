//! The storage conformance suite against the embedded store: each check on a store in a fresh
//! temporary folder. The embedded store declines hybrid queries (the engine fuses them).

use trove_store::embedded::EmbeddedStore;

trove_store::conformance_tests!(
    || {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = EmbeddedStore::open_writer(dir.path(), "conformance").expect("open the store");
        (Box::new(store), Box::new(dir))
    },
    hybrid = engine,
);
