//! The storage conformance suite against PostgreSQL + pgvector: a real server started for the
//! test (`testing::PgServer`), a fresh database per check.

use trove_store::conformance;
use trove_store_postgres::testing::PgServer;
use trove_store_postgres::{PgOptions, PgStore};

#[test]
fn postgres_store_passes_the_conformance_suite() {
    let server = PgServer::start();
    // Each check gets a copy of one migrated database.
    let template = server.create_database();
    drop(PgStore::open(PgOptions::new(template.clone())).expect("migrate the template"));
    let template = template.rsplit('/').next().unwrap().to_string();
    conformance::run_all(|| {
        let store = PgStore::open(PgOptions::new(server.create_database_like(Some(&template)))).expect("open");
        (Box::new(store), Box::new(()))
    });
}
