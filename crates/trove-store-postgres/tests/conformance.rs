//! The storage conformance suite against PostgreSQL + pgvector: each check on a fresh database
//! of a server started for it (`testing::PgServer`). Without an external index, PostgreSQL
//! declines hybrid queries (the engine fuses them).

use trove_store_postgres::testing::PgServer;
use trove_store_postgres::{PgOptions, PgStore};

trove_store::conformance_tests!(
    || {
        let server = PgServer::start();
        let store = PgStore::open(PgOptions::new(server.create_database())).expect("open the store");
        (Box::new(store), Box::new(server))
    },
    hybrid = engine,
);
