//! The schema: created once, migrated idempotently, safe when nodes start together.

use tamis_engine::backend::Catalog;

use crate::{catalog, config, raw_client, settings, unique_name};

#[test]
fn connecting_again_and_concurrently_migrates_nothing_twice() {
    // Nodes starting together: the advisory lock serializes them.
    let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(catalog)).collect();
    for thread in threads {
        thread.join().expect("a connecting thread panicked");
    }
    let first = catalog();
    let again = catalog();
    let mut client = raw_client();
    let versions: Vec<i32> = client
        .query("SELECT version FROM tamis_migrations ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [1], "each migration ran exactly once");
    let extension: i64 = client
        .query_one("SELECT count(*) FROM pg_extension WHERE extname = 'vector'", &[])
        .unwrap()
        .get(0);
    assert_eq!(extension, 1);
    // Both see the same catalog.
    let name = unique_name("schema");
    first.create(&name, settings()).unwrap();
    assert!(again.names().unwrap().contains(&name));
    assert!(again.remove(&name).unwrap());
    assert!(!first.remove(&name).unwrap(), "a second drop finds nothing");
}

#[test]
fn a_collection_gets_typed_tables_with_hnsw_and_postings_indexes() {
    let catalog = catalog();
    let name = unique_name("tables");
    catalog.create(&name, settings()).unwrap();
    let mut client = raw_client();
    let id: i64 = client
        .query_one("SELECT id FROM tamis_collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0);
    let indexes: Vec<String> = client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
            &[&format!("tamis_c{id}_chunks")],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let all = indexes.join("\n");
    assert!(
        all.contains(
            "USING hnsw (embedding vector_cosine_ops) WITH (m='16', ef_construction='128')"
        ),
        "{all}"
    );
    assert!(!all.contains("gin"), "no tsvector index since BM25 has its postings: {all}");
    let postings: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
            &[&format!("tamis_c{id}_postings_term")],
        )
        .unwrap()
        .get(0);
    assert!(postings.contains("(term, field) INCLUDE (chunk_key, tf, stored_len)"), "{postings}");
    let column: String = client
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attname = 'embedding'",
            &[&format!("tamis_c{id}_chunks")],
        )
        .unwrap()
        .get(0);
    assert_eq!(column, format!("vector({})", tamis_testkit::HASH_DIMENSION));
    // Duplicate names are refused with a typed error, and nothing is half-made.
    let err = catalog.create(&name, settings()).unwrap_err();
    assert!(matches!(err, tamis_engine::Error::CollectionExists { .. }), "{err}");
    assert!(catalog.remove(&name).unwrap());
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE $1",
            &[&format!("tamis_c{id}_%")],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "dropping a collection drops its tables");
}

#[test]
fn halfvec_and_inner_product_are_options() {
    let catalog = catalog();
    let name = unique_name("halfvec");
    let options = tamis_postgres::PgOptions { halfvec: true, normalized: true };
    let index = catalog.create_with(&name, &settings(), options).unwrap();
    let mut client = raw_client();
    let id: i64 = client
        .query_one("SELECT id FROM tamis_collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0);
    let def: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
            &[&format!("tamis_c{id}_chunks_embedding")],
        )
        .unwrap()
        .get(0);
    assert!(def.contains("halfvec_ip_ops"), "{def}");
    drop(index);
    catalog.remove(&name).unwrap();

    // Searches of a halfvec collection: exact while small, then through its HNSW index.
    let name = unique_name("halfvec");
    let mut small = settings();
    small.exact_below = 1_000;
    let mut index = catalog.create_with(&name, &small, options).unwrap();
    let texts = tamis_testkit::word_bags(2_000);
    let docs: Vec<_> =
        texts.iter().enumerate().map(|(i, t)| crate::doc(&format!("d{i}"), "", t, None)).collect();
    let first = |index: &tamis_engine::Index, text: &str| {
        let mut request = tamis_engine::SearchRequest::new(text, tamis_engine::SearchMode::Dense);
        // A narrow walk: at 2000 rows, pgvector's cost estimate for ef_search 64 exceeds
        // a scan and sort's, and the planner rightly prefers those.
        (request.k, request.depth, request.ef_search) = (1, 1, Some(16));
        index.search(&request, Some(&tamis_testkit::HashEmbedder)).unwrap()[0].doc_id.clone()
    };
    index.ingest_batch(&docs[..500], crate::MODELS).unwrap();
    assert_eq!(first(&index, &texts[3]), "d3");
    let before = crate::hnsw_scans(&name, None);
    index.ingest_batch(&docs[500..], crate::MODELS).unwrap();
    client.batch_execute("ANALYZE").unwrap();
    assert_eq!(first(&index, &texts[1_500]), "d1500");
    assert!(crate::hnsw_scans(&name, Some(before)) > before, "the HNSW index served the search");
    catalog.remove(&name).unwrap();
}

#[test]
fn credentials_never_appear_in_errors() {
    let url = tamis_testkit::postgres_url();
    let password = url.split(':').nth(2).and_then(|s| s.split('@').next()).unwrap().to_string();
    // Wrong password: refused, and the message names the server but not the secret.
    let wrong = url.replacen(&password, "not-the-password", 1);
    let err = tamis_postgres::PgCatalog::connect(
        &tamis_postgres::PgConfig::from_url(&wrong).unwrap(),
        Default::default(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(!message.contains("not-the-password") && !message.contains(&password), "{message}");
    assert_eq!(err.kind(), tamis_core::ErrorKind::User, "a wrong password is the user's to fix");
    assert!(!format!("{:?}", config()).contains(&password));
}

#[test]
fn settings_round_trip_and_pgvector_limits_are_checked_first() {
    let catalog = catalog();
    let name = unique_name("settings");
    let mut custom = settings();
    custom.hnsw.m = 8;
    custom.hnsw.ef_construction = 64;
    custom.hnsw.ef_search = 200;
    custom.exact_below = 7;
    catalog.create(&name, custom.clone()).unwrap();
    let reopened = catalog.open(&name).unwrap().unwrap();
    assert_eq!(reopened.settings().hnsw.m, 8);
    assert_eq!(reopened.settings().hnsw.ef_construction, 64);
    assert_eq!(reopened.settings().hnsw.ef_search, 200);
    assert_eq!(reopened.settings().exact_below, 7);
    assert!(catalog.remove(&name).unwrap());
    // Refused before anything is written: nothing to clean up.
    custom.hnsw.ef_construction = 10; // below 2·m
    let err = catalog.create(&name, custom.clone()).unwrap_err();
    assert!(err.to_string().contains("ef_construction"), "{err}");
    assert!(!catalog.names().unwrap().contains(&name));
    // tamis's analyzer drops stop words without stemming (PostgreSQL's configurations
    // could not, and version 1 collections still cannot).
    custom.hnsw.ef_construction = 64;
    custom.lexical.stemming = false;
    catalog.create(&name, custom.clone()).unwrap();
    let reopened = catalog.open(&name).unwrap().unwrap();
    assert_eq!(reopened.settings(), &custom);
    assert!(catalog.remove(&name).unwrap());
    let err = catalog.create_legacy(&name, &custom, Default::default(), 1).unwrap_err();
    assert!(err.to_string().contains("stem"), "{err}");
}

#[test]
fn collection_names_are_checked_before_the_database_is_asked() {
    let catalog = catalog();
    for bad in ["", "a b", "x;DROP TABLE tamis_collections", "ü"] {
        let err = catalog.create(bad, settings()).expect_err("refused");
        assert!(matches!(err, tamis_engine::Error::InvalidCollectionName { .. }), "{bad:?}: {err}");
        let err = catalog.open(bad).expect_err("refused");
        assert!(matches!(err, tamis_engine::Error::InvalidCollectionName { .. }), "{bad:?}: {err}");
        assert!(catalog.remove(bad).is_err());
    }
}

/// A database tamis never ran in cannot be set up through a read-only connection (a
/// standby, a read-only role): the error says why. (`standby.rs` covers a node on a
/// standby of a database the primary set up.)
#[test]
fn a_schema_cannot_be_created_read_only_and_the_error_says_so() {
    let fresh = unique_name("fresh");
    raw_client().batch_execute(&format!("CREATE DATABASE {fresh}")).unwrap();
    let url = tamis_testkit::postgres_url();
    let (base, _) = url.split('?').next().unwrap().rsplit_once('/').unwrap();
    let url = format!("{base}/{fresh}?options=-c%20default_transaction_read_only%3Don");
    let config = tamis_postgres::PgConfig::from_url(&url).unwrap();
    let err = tamis_postgres::PgCatalog::connect(&config, Default::default()).unwrap_err();
    raw_client().batch_execute(&format!("DROP DATABASE {fresh}")).unwrap();
    assert!(err.to_string().contains("creating tamis' schema"), "{err}");
    assert!(err.to_string().contains("read-only transaction"), "{err}");
}
