//! A node on a hot standby (`TAMIS_PG_STANDBY_URL`, streaming from `TAMIS_PG_URL`): it
//! starts without writing, searches what the primary wrote, and its writes fail clearly.

use std::time::{Duration, Instant};

use tamis_engine::backend::Catalog;
use tamis_engine::{ErrorKind, Index, SearchMode, SearchRequest};
use tamis_postgres::{PgCatalog, PgConfig};
use tamis_testkit::HashEmbedder;

use crate::{MODELS, catalog, doc, settings, unique_name};

/// Waits up to 30 s for the standby to replay the collection with `documents` documents.
fn replayed(standby: &PgCatalog, name: &str, documents: u64) -> Index {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(index) = standby.open(name).unwrap()
            && index.stats().unwrap().documents == documents
        {
            return index;
        }
        assert!(Instant::now() < deadline, "the standby did not replay collection {name}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_on_a_hot_standby_searches_and_refuses_writes() {
    let primary = catalog();
    let name = unique_name("standby");
    let mut index = primary.create(&name, settings()).unwrap();
    let docs = [
        doc("a", "", "glaciers melt in warm summers", None),
        doc("b", "", "the borrow checker and lifetimes", None),
    ];
    index.ingest_batch(&docs, MODELS).unwrap();

    let config = PgConfig::from_url(&tamis_testkit::postgres_standby_url()).unwrap();
    let standby = PgCatalog::connect(&config, Default::default())
        .expect("a node starts on a standby once the primary has the schema");
    let mut replica = replayed(&standby, &name, 2);
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        let hits = replica.search(&SearchRequest::new("borrow", mode), Some(&HashEmbedder));
        assert_eq!(hits.unwrap()[0].doc_id, "b", "{mode:?}");
    }
    let changed = [doc("a", "", "glaciers grow in cold winters", None)];
    let err = replica.ingest_batch(&changed, MODELS).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::User, "{err}");
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    let err = standby.create(&unique_name("standby"), settings()).expect_err("refused");
    assert!(err.to_string().contains("read-only transaction"), "{err}");

    // A write on the primary reaches searches on the standby.
    index.ingest_batch(&[doc("c", "", "borrow checker errors explained", None)], MODELS).unwrap();
    let replica = replayed(&standby, &name, 3);
    let hits = replica.search(&SearchRequest::new("errors explained", SearchMode::Bm25), None);
    assert_eq!(hits.unwrap()[0].doc_id, "c");
    assert!(primary.remove(&name).unwrap());
}
