//! Collections made by an older tamis: a version 1 collection (ranked by `ts_rank`) keeps
//! working, and `rebuild_lexical` gives it the postings a new collection has, in one
//! transaction, while nodes that opened it before follow without reopening.

use tamis_engine::backend::Catalog;
use tamis_engine::{Document, Index, ScoreKind, SearchMode, SearchRequest};
use tamis_postgres::{LexicalRebuild, PgOptions};
use tamis_testkit::HashEmbedder;

use crate::bm25::{Scratch, check_stats, table};
use crate::{MODELS, catalog, doc, raw_client, settings, unique_name};

const WORDS: &[&str] = &[
    "vitamin",
    "sunlight",
    "cholesterol",
    "statins",
    "blood",
    "pressure",
    "sugar",
    "diet",
    "exercise",
    "sleep",
    "heart",
    "risk",
    "cancer",
    "fiber",
    "protein",
    "the",
    "of",
    "running",
];

/// Documents of varied lengths and word mixes.
fn corpus(prefix: &str, n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| {
            let word = |j: usize| WORDS[(i * 7 + j * j * 3 + j) % WORDS.len()];
            let title = format!("{} {}", word(1), word(4));
            let text: Vec<&str> = (0..5 + i % 23).map(word).collect();
            doc(&format!("{prefix}{i}"), &title, &text.join(" "), None)
        })
        .collect()
}

/// BM25 results as (document, score).
fn bm25(index: &Index, query: &str) -> Vec<(String, f32)> {
    let request = SearchRequest::new(query, SearchMode::Bm25);
    let hits = index.search(&request, Some(&HashEmbedder)).unwrap();
    hits.into_iter().map(|h| (h.doc_id, h.score)).collect()
}

/// Same documents in the same order, scores within float rounding.
fn assert_same(got: &[(String, f32)], want: &[(String, f32)], what: &str) {
    let ids = |hits: &[(String, f32)]| hits.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(got), ids(want), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 - w.1).abs() <= 1e-5 * w.1.abs().max(1.0), "{what}: {g:?} vs {w:?}");
    }
}

fn version(name: &str) -> i32 {
    raw_client()
        .query_one("SELECT schema_version FROM tamis_collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0)
}

const QUERIES: &[&str] = &["vitamin sunlight", "heart risk of cancer", "running diet", "sleep"];

#[test]
fn a_version_1_collection_is_rebuilt_to_rank_as_a_new_one() {
    let old = Scratch(unique_name("upgrade_v1"));
    let new = Scratch(unique_name("upgrade_new"));
    let catalog = catalog();
    let options = PgOptions::default();
    let mut legacy = catalog.create_legacy(&old.0, &settings(), options, 1).unwrap();
    let mut current = catalog.create(&new.0, settings()).unwrap();
    for index in [&mut legacy, &mut current] {
        index.ingest_batch(&corpus("d", 120), MODELS).unwrap();
        index.delete(&["d3", "d50"]).unwrap();
    }
    // Before: ts_rank, which orders differently than BM25.
    assert_eq!(legacy.stats().unwrap().lexical_scoring, ScoreKind::TsRank);
    let before: Vec<_> = QUERIES.iter().map(|q| bm25(&legacy, q)).collect();
    let want: Vec<_> = QUERIES.iter().map(|q| bm25(&current, q)).collect();
    assert_ne!(before, want, "ts_rank and BM25 rank differently");

    // A node that opened the collection before the rebuild (`legacy`) and one after.
    let mut calls = Vec::new();
    let done =
        catalog.rebuild_lexical(&old.0, &mut |done, total| calls.push((done, total))).unwrap();
    assert_eq!((done.from_version, done.built_postings), (1, true));
    assert_eq!(done.to_version, version(&old.0));
    assert_eq!(done.chunks, 118);
    assert_eq!(calls.first(), Some(&(0, 118)));
    assert_eq!(calls.last(), Some(&(118, 118)));
    check_stats(&old.0);
    let reopened = catalog.open(&old.0).unwrap().unwrap();
    assert_eq!(reopened.stats().unwrap().lexical_scoring, ScoreKind::Bm25);
    for (query, want) in QUERIES.iter().zip(&want) {
        assert_same(&bm25(&reopened, query), want, query);
        assert_same(&bm25(&legacy, query), want, &format!("{query} (opened before)"));
    }
    assert_eq!(legacy.stats().unwrap().lexical_scoring, ScoreKind::Bm25);

    // The node opened before writes postings too, and the statistics stay exact.
    let more = corpus("e", 30);
    for index in [&mut legacy, &mut current] {
        index.ingest_batch(&more, MODELS).unwrap();
        index.delete(&["d7"]).unwrap();
    }
    check_stats(&old.0);
    for query in QUERIES {
        assert_same(&bm25(&reopened, query), &bm25(&current, query), query);
    }

    // Once current, a rebuild changes nothing.
    let again = catalog.rebuild_lexical(&old.0, &mut |_, _| {}).unwrap();
    let current_version = again.to_version;
    assert_eq!(
        again,
        LexicalRebuild {
            from_version: current_version,
            to_version: current_version,
            built_postings: false,
            chunks: 0,
            postings: 0
        }
    );
}

#[test]
fn a_version_2_collection_loses_its_chunk_term_columns() {
    let old = Scratch(unique_name("upgrade_v2"));
    let catalog = catalog();
    let mut legacy = catalog.create_legacy(&old.0, &settings(), PgOptions::default(), 2).unwrap();
    legacy.ingest_batch(&corpus("d", 40), MODELS).unwrap();
    assert_eq!(legacy.stats().unwrap().lexical_scoring, ScoreKind::Bm25);
    check_stats(&old.0);
    let want: Vec<_> = QUERIES.iter().map(|q| bm25(&legacy, q)).collect();
    let done = catalog.rebuild_lexical(&old.0, &mut |_, _| {}).unwrap();
    assert_eq!((done.from_version, done.built_postings, done.chunks), (2, false, 0));
    let columns: i64 = raw_client()
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = $1::text::regclass \
             AND attname IN ('title_terms', 'text_terms') AND NOT attisdropped",
            &[&table(&old.0, "chunks")],
        )
        .unwrap()
        .get(0);
    assert_eq!(columns, 0);
    for (query, want) in QUERIES.iter().zip(&want) {
        assert_same(&bm25(&legacy, query), want, query);
    }
    // The handle opened at version 2 writes without the dropped columns.
    legacy.ingest_batch(&corpus("e", 10), MODELS).unwrap();
    legacy.delete(&["d1"]).unwrap();
    check_stats(&old.0);
}

#[test]
fn a_rebuild_cut_by_a_lost_connection_keeps_nothing() {
    let old = Scratch(unique_name("upgrade_cut"));
    let catalog = catalog();
    let mut legacy = catalog.create_legacy(&old.0, &settings(), PgOptions::default(), 1).unwrap();
    legacy.ingest_batch(&corpus("d", 50), MODELS).unwrap();
    let before: Vec<_> = QUERIES.iter().map(|q| bm25(&legacy, q)).collect();
    let postings = table(&old.0, "postings");
    // Once the postings are written, the server drops the rebuilding connection.
    let mut killed = 0;
    let err = catalog
        .rebuild_lexical(&old.0, &mut |done, _| {
            if done > 0 && killed == 0 {
                killed = raw_client()
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE state = 'idle in transaction' AND query LIKE $1",
                        &[&format!("INSERT INTO {postings}%")],
                    )
                    .unwrap()
                    .get::<_, i64>(0);
            }
        })
        .unwrap_err();
    assert_eq!(killed, 1, "the rebuilding connection was found");
    assert!(err.to_string().contains("rebuilding the lexical index"), "{err}");
    assert_eq!(version(&old.0), 1);
    let exists: bool =
        raw_client().query_one("SELECT to_regclass($1) IS NOT NULL", &[&postings]).unwrap().get(0);
    assert!(!exists, "no postings table is left");
    let reopened = catalog.open(&old.0).unwrap().unwrap();
    assert_eq!(reopened.stats().unwrap().lexical_scoring, ScoreKind::TsRank);
    for (query, before) in QUERIES.iter().zip(&before) {
        assert_same(&bm25(&reopened, query), before, query);
    }
    let err = catalog.rebuild_lexical("no_such_collection", &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, tamis_engine::Error::NoCollection { .. }), "{err}");
}
