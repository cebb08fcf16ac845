//! The filter language: the engine's parser, `Filter::matches`, the SQLite translation run
//! against the store's own schema, and the PostgreSQL translation as text.
//!
//! Invariants: parsing never panics; a parsed filter's SQLite condition executes and selects
//! exactly the documents `Filter::matches` selects (the evaluator is the reference of every
//! translation); the PostgreSQL condition introduces its placeholders `$1`, `$2`… in order
//! (a path's may recur), one per parameter, with balanced parentheses.
#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tamis_embedded::store::Store;
use tamis_engine::filter::Filter;
use tamis_engine::ingest::Silent;
use tamis_engine::{Document, IndexSettings, IngestConfig, IngestModels, ingest};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder};

/// An index holding one document per metadata value of the shared filter table.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    /// (id, metadata as `Filter::matches` takes it: null when the document has none).
    documents: Vec<(String, Value)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tamis_fuzz::scratch_dir("tamis-fuzz-filter");
        let index_dir = dir.path().join("index");
        let mut index =
            tamis_embedded::create(&index_dir, IndexSettings::new("hash-embedder", HASH_DIMENSION))
                .expect("creating the fixture index");
        let documents: Vec<Document> = tamis_testkit::tricky_metadata()
            .into_iter()
            .enumerate()
            .map(|(idx, metadata)| Document {
                id: format!("d{idx}"),
                title: String::new(),
                text: format!("document {idx}"),
                metadata,
            })
            .collect();
        let expected = documents
            .iter()
            .map(|d| (d.id.clone(), d.metadata.clone().unwrap_or(Value::Null)))
            .collect();
        let models = IngestModels::new(&HashEmbedder, &HashEmbedder);
        ingest(
            &mut index,
            documents.into_iter().map(Ok),
            models,
            IngestConfig::default(),
            &mut Silent,
        )
        .expect("ingesting the fixture documents");
        drop(index);
        let store = Store::open(&index_dir).expect("opening the fixture store");
        Fixture { _dir: dir, store, documents: expected }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(expression) = std::str::from_utf8(data) else { return };
    let Ok(filter) = Filter::parse(expression) else { return };
    let fixture = fixture();

    let by_rust: BTreeSet<&str> = fixture
        .documents
        .iter()
        .filter(|(_, metadata)| filter.matches(metadata))
        .map(|(id, _)| id.as_str())
        .collect();
    let by_sql = fixture
        .store
        .documents_matching(&filter)
        .unwrap_or_else(|err| panic!("the SQLite condition of {expression:?} failed: {err}"));
    let by_sql: BTreeSet<&str> = by_sql.iter().map(String::as_str).collect();
    assert_eq!(by_sql, by_rust, "SQLite and Filter::matches disagree on {expression:?}");

    let (sql, n_params) = tamis_postgres::filter_condition_for_fuzzing(&filter, "metadata");
    let mut highest = 0;
    let mut depth: i64 = 0;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced parentheses in {sql:?}");
            }
            '$' => {
                let mut digits = String::new();
                while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let number: usize = digits.parse().expect("a number after each $");
                assert!((1..=highest + 1).contains(&number), "placeholder ${number} in {sql:?}");
                highest = highest.max(number);
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced parentheses in {sql:?}");
    assert_eq!(highest, n_params, "placeholders and parameters of {sql:?}");
});
