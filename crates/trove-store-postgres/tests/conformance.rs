//! The storage conformance suite against PostgreSQL + pgvector: a real server started for the
//! test (`testing::PgServer`), a fresh database per check.

use trove_store::conformance;
use trove_store_postgres::testing::PgServer;
use trove_store_postgres::{PgOptions, PgStore};

#[test]
fn postgres_store_passes_the_conformance_suite() {
    let server = PgServer::start();
    conformance::run_all(|| {
        let store = PgStore::open(PgOptions::new(server.create_database())).expect("open");
        (Box::new(store), Box::new(()))
    });
}
