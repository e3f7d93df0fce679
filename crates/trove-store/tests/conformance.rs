//! The storage conformance suite against the embedded store: each check on a store in a fresh
//! temporary folder. The embedded store declines hybrid queries (the engine fuses them).
//! It runs twice: as configured by default (small vaults are scanned exactly), and with every
//! space searched through the approximate index, built and folded right after each commit
//! (tiny vaults with a wide search: the graph search is exact there).

use trove_store::embedded::{AnnSettings, EmbeddedStore, Folding};

trove_store::conformance_tests!(
    || {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = EmbeddedStore::open_writer(dir.path(), "conformance").expect("open the store");
        (Box::new(store), Box::new(dir))
    },
    hybrid = engine,
);

mod approximate {
    use super::*;

    trove_store::conformance_tests!(
        || {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let settings = AnnSettings {
                min_rows: 0,
                ef: 512,
                fold_after: 4,
                folding: Folding::AtCommit,
                ..AnnSettings::default()
            };
            let store =
                EmbeddedStore::open_writer(dir.path(), "conformance").expect("open the store").with_ann(settings);
            (Box::new(store), Box::new(dir))
        },
        hybrid = engine,
    );
}
