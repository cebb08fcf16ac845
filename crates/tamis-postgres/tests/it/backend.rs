//! Writes, searches and filters of one collection, and what happens when things break.

use serde_json::json;
use tamis_engine::backend::Catalog;
use tamis_engine::filter::{Filter, FilterLimits};
use tamis_engine::{Document, Index, ScoreKind, SearchHit, SearchMode, SearchRequest};
use tamis_testkit::HashEmbedder;

use crate::{MODELS, catalog, doc, raw_client, settings, unique_name};

fn corpus() -> Vec<Document> {
    vec![
        doc(
            "vit",
            "Vitamin D",
            "sunlight exposure raises vitamin d levels in blood",
            Some(json!({"topic": "nutrition", "year": 2012})),
        ),
        doc(
            "stat",
            "Statins",
            "statins lower cholesterol and cardiovascular risk",
            Some(json!({"topic": "drugs", "year": 2018})),
        ),
        doc(
            "soy",
            "Soy",
            "soy isoflavones and breast cancer risk in women",
            Some(json!({"topic": "nutrition", "year": 2020})),
        ),
    ]
}

fn search(index: &Index, query: &str, mode: SearchMode, filter: Option<&Filter>) -> Vec<SearchHit> {
    let mut request = SearchRequest::new(query, mode);
    request.filter = filter;
    index.search(&request, Some(&HashEmbedder)).unwrap()
}

fn ids(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.doc_id.as_str()).collect()
}

/// A collection dropped when the test ends, pass or fail.
struct Scratch {
    catalog: tamis_postgres::PgCatalog,
    name: String,
}

impl Scratch {
    fn new(prefix: &str) -> Scratch {
        Scratch { catalog: catalog(), name: unique_name(prefix) }
    }

    fn create(&self, settings: tamis_engine::IndexSettings) -> Index {
        self.catalog.create(&self.name, settings).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.catalog.remove(&self.name);
    }
}

#[test]
fn every_mode_finds_documents_and_writes_reach_both_retrievers() {
    let scratch = Scratch::new("modes");
    let mut index = scratch.create(settings());
    let report = index.ingest_batch(&corpus(), MODELS).unwrap();
    assert_eq!((report.written, report.chunks), (3, 3));
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        assert_eq!(search(&index, "statins cholesterol", mode, None)[0].doc_id, "stat", "{mode:?}");
    }
    let lexical = search(&index, "statins cholesterol", SearchMode::Bm25, None);
    assert_eq!(lexical[0].score_kind, ScoreKind::Bm25);
    // Stemming: "statin" and "lowering" match "statins" and "lower" (tamis's analyzer).
    assert_eq!(ids(&search(&index, "statin lowering", SearchMode::Bm25, None)), ["stat"]);

    // Unchanged documents are skipped; a changed one is replaced with all its chunks.
    let again = index.ingest_batch(&corpus(), MODELS).unwrap();
    assert_eq!((again.written, again.unchanged), (0, 3));
    let replaced =
        doc("stat", "Trains", "high speed trains cross europe", Some(json!({"topic": "travel"})));
    index.ingest_batch(&[replaced], MODELS).unwrap();
    for mode in [SearchMode::Bm25, SearchMode::Dense] {
        assert_eq!(search(&index, "high speed trains", mode, None)[0].doc_id, "stat", "{mode:?}");
    }
    assert!(!ids(&search(&index, "statins cholesterol", SearchMode::Bm25, None)).contains(&"stat"));
    let stats = index.stats().unwrap();
    assert_eq!((stats.documents, stats.chunks, stats.backend), (3, 3, "postgres"));

    assert_eq!(index.delete(&["soy", "unknown"]).unwrap(), 1);
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        assert!(!ids(&search(&index, "soy isoflavones", mode, None)).contains(&"soy"), "{mode:?}");
    }
    let nutrition = Filter::parse(r#"topic = "nutrition""#).unwrap();
    assert_eq!(index.delete_matching(&nutrition).unwrap(), (1, 1));
    assert_eq!(ids(&search(&index, "vitamin trains", SearchMode::Hybrid, None)), ["stat"]);
}

#[test]
fn long_documents_are_chunked_and_reranking_reads_their_chunks() {
    let scratch = Scratch::new("chunks");
    let mut index = scratch.create(settings());
    let long_text = (0..300).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let report = index.ingest_batch(&[doc("long", "Long", &long_text, None)], MODELS).unwrap();
    assert!(report.chunks > 1);
    let keys = index.backend().chunks_of_document("long").unwrap();
    assert_eq!(keys.len(), report.chunks);
    let chunks = index.backend().chunks(&keys).unwrap();
    let mut ordinals: Vec<u32> = chunks.iter().map(|c| c.ordinal).collect();
    ordinals.sort();
    assert_eq!(ordinals, (0..report.chunks as u32).collect::<Vec<_>>());
    assert_eq!(ids(&search(&index, "word299", SearchMode::Bm25, None)), ["long"]);
}

/// One document per entry of the filters' tricky metadata, all with the same text.
fn tricky_docs() -> Vec<Document> {
    tamis_testkit::tricky_metadata()
        .iter()
        .enumerate()
        .map(|(i, m)| doc(&format!("d{i:02}"), "shared title", "common words here", m.clone()))
        .collect()
}

/// The ids of `docs` that `filter` passes by the Rust evaluator, in order.
fn matching(docs: &[Document], filter: &Filter) -> Vec<String> {
    docs.iter()
        .filter(|d| filter.matches(d.metadata.as_ref().unwrap_or(&serde_json::Value::Null)))
        .map(|d| d.id.clone())
        .collect()
}

#[test]
fn metadata_reads_back_as_written() {
    let scratch = Scratch::new("metadata");
    let mut index = scratch.create(settings());
    let docs = tricky_docs();
    index.ingest_batch(&docs, MODELS).unwrap();
    let mut asked: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    asked.push("unknown");
    let read = index.metadata(&asked).unwrap();
    for doc in &docs {
        assert_eq!(read.get(&doc.id), doc.metadata.as_ref(), "{}", doc.id);
    }
    assert_eq!(read.len(), docs.iter().filter(|d| d.metadata.is_some()).count());
}

#[test]
fn sql_filters_select_what_the_rust_evaluator_selects_in_every_retriever() {
    let scratch = Scratch::new("filters");
    let mut index = scratch.create(settings());
    let docs = tricky_docs();
    index.ingest_batch(&docs, MODELS).unwrap();
    let mut counts = Vec::new();
    for expression in tamis_testkit::FILTER_EXPRESSIONS {
        let filter = Filter::parse(expression).unwrap();
        let expected = matching(&docs, &filter);
        assert_eq!(index.backend().documents_matching(&filter).unwrap(), expected, "{expression}");
        for mode in [SearchMode::Bm25, SearchMode::Dense] {
            let mut request = SearchRequest::new("common words", mode);
            request.filter = Some(&filter);
            request.k = 50;
            let mut found: Vec<String> = index
                .search(&request, Some(&HashEmbedder))
                .unwrap()
                .into_iter()
                .map(|h| h.doc_id)
                .collect();
            found.sort();
            assert_eq!(found, expected, "{expression} ({mode:?})");
        }
        counts.push(expected.len());
    }
    assert!(counts.contains(&0) && counts.iter().any(|&n| n >= 3), "{counts:?}");
}

#[test]
fn hnsw_serves_large_collections_and_iterative_scans_serve_filters() {
    let scratch = Scratch::new("hnsw");
    let mut small = settings();
    small.exact_below = 50;
    let mut index = scratch.create(small);
    let docs: Vec<Document> = (0..300)
        .map(|i| {
            doc(
                &format!("d{i}"),
                "",
                &format!("topic{} word{} shared text", i % 7, i),
                Some(json!({"bucket": i % 3})),
            )
        })
        .collect();
    for batch in docs.chunks(100) {
        index.ingest_batch(batch, MODELS).unwrap();
    }
    assert_eq!(index.stats().unwrap().vector_index, "hnsw");
    assert_eq!(search(&index, "topic3 word45", SearchMode::Dense, None)[0].doc_id, "d45");
    // 100 allowed chunks of 300: an HNSW walk keeps going until it has enough of them.
    let bucket = Filter::parse("bucket = 0").unwrap();
    let mut request = SearchRequest::new("topic3 word45", SearchMode::Dense);
    request.filter = Some(&bucket);
    request.k = 60;
    let hits = index.search(&request, Some(&HashEmbedder)).unwrap();
    assert_eq!(hits[0].doc_id, "d45");
    assert!(hits.iter().all(|h| h.doc_id[1..].parse::<usize>().unwrap() % 3 == 0));
    assert!(hits.len() >= 50, "a post-filtered top-k would have about a third: {}", hits.len());
}

/// How many of `texts`, searched for with k = depth = 1 and `ef_search`, do not find
/// themselves first.
fn self_retrieval_misses(index: &Index, texts: &[String], ef: Option<usize>) -> usize {
    texts
        .iter()
        .enumerate()
        .filter(|(i, text)| {
            let mut request = SearchRequest::new(text, SearchMode::Dense);
            (request.k, request.depth, request.ef_search) = (1, 1, ef);
            let hits = index.search(&request, Some(&HashEmbedder)).unwrap();
            hits[0].doc_id != format!("d{i}")
        })
        .count()
}

#[test]
fn each_search_sets_its_ef_search_and_depths_beyond_pgvectors_limit_are_served() {
    let scratch = Scratch::new("ef");
    let mut small = settings();
    small.exact_below = 50;
    let mut index = scratch.create(small);
    let texts = tamis_testkit::word_bags(2_000);
    let docs: Vec<Document> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| doc(&format!("d{i}"), "", text, Some(json!({"half": i % 2}))))
        .collect();
    for batch in docs.chunks(500) {
        index.ingest_batch(batch, MODELS).unwrap();
    }
    raw_client().batch_execute("ANALYZE").unwrap();
    assert_eq!(index.stats().unwrap().vector_index, "hnsw");
    let before = crate::hnsw_scans(&scratch.name, None);
    let probes = &texts[..600];
    // hnsw.ef_search = 1 gets lost (measured: 9 misses in 300); 1000 finds every text.
    let narrow = self_retrieval_misses(&index, probes, Some(1));
    let wide = self_retrieval_misses(&index, probes, Some(tamis_engine::MAX_EF_SEARCH));
    assert!(narrow > 0 && wide == 0, "misses: {narrow} at ef 1, {wide} at ef 1000");
    assert!(
        crate::hnsw_scans(&scratch.name, Some(before)) > before,
        "searches used the HNSW index"
    );

    // pgvector's ef_search stops at 1000; an iterative scan serves deeper requests.
    let mut deep = SearchRequest::new(&texts[8], SearchMode::Dense);
    (deep.k, deep.depth) = (1_500, 1_500);
    let hits = index.search(&deep, Some(&HashEmbedder)).unwrap();
    assert_eq!(hits.len(), 1_500);
    assert_eq!(hits[0].doc_id, "d8");
    // Under a filter too: 1000 documents pass, all of them come back.
    let even = Filter::parse("half = 0").unwrap();
    deep.filter = Some(&even);
    let hits = index.search(&deep, Some(&HashEmbedder)).unwrap();
    assert_eq!(hits.len(), 1_000);
    assert_eq!(hits[0].doc_id, "d8");
    assert!(hits.iter().all(|h| h.doc_id[1..].parse::<usize>().unwrap() % 2 == 0));
}

#[test]
fn two_catalogs_see_each_others_writes_and_drops() {
    let scratch = Scratch::new("nodes");
    let mut on_a = scratch.create(settings());
    let node_b = catalog();
    let on_b = node_b.open(&scratch.name).unwrap().expect("node B sees the new collection");
    on_a.ingest_batch(&corpus(), MODELS).unwrap();
    assert_eq!(search(&on_b, "statins", SearchMode::Bm25, None)[0].doc_id, "stat");
    assert!(scratch.catalog.remove(&scratch.name).unwrap());
    assert!(node_b.open(&scratch.name).unwrap().is_none());
    let err = on_b.search(&SearchRequest::new("statins", SearchMode::Bm25), None).unwrap_err();
    assert!(matches!(err, tamis_engine::Error::NoCollection { .. }), "{err}");
}

#[test]
fn a_connection_dropped_in_the_middle_of_a_batch_keeps_nothing_of_it() {
    let scratch = Scratch::new("dropped");
    let mut index = scratch.create(settings());
    index.ingest_batch(&corpus(), MODELS).unwrap();
    let id: i64 = raw_client()
        .query_one("SELECT id FROM tamis_collections WHERE name = $1", &[&scratch.name])
        .unwrap()
        .get(0);

    // Another session holds an uncommitted row with an id the batch writes: the batch
    // replaces "vit" (deleted inside its transaction), then waits on that row.
    let mut blocker = raw_client();
    let mut hold = blocker.transaction().unwrap();
    hold.execute(
        &format!(
            "INSERT INTO tamis_c{id}_documents (doc_id, title, text, content_hash) \
             VALUES ('zz-blocker', '', '', '')"
        ),
        &[],
    )
    .unwrap();
    let batch = vec![
        doc("vit", "Vitamin D", "rewritten text that must not survive", None),
        doc("new", "New", "a new document that must not appear", None),
        doc("zz-blocker", "Blocker", "waits on the other session", None),
    ];
    let writer = std::thread::spawn(move || {
        let result = index.ingest_batch(&batch, MODELS);
        (index, result)
    });
    // Kill the writer's connection once it waits on the lock, mid-transaction.
    let mut admin = raw_client();
    let mut killed = 0;
    for _ in 0..200 {
        killed = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'tamis' AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0);
        if killed > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(killed, 1, "the writer never waited on the lock");
    let (mut index, result) = writer.join().unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.kind(), tamis_core::ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("nothing of it was kept"), "{err}");
    hold.rollback().unwrap();

    // All or nothing: the old "vit" is intact, "new" never appeared.
    let hits = search(&index, "sunlight vitamin", SearchMode::Bm25, None);
    assert_eq!(hits[0].doc_id, "vit");
    assert!(hits[0].text.contains("sunlight"));
    assert_eq!(index.stats().unwrap().documents, 3);
    // The client retries the same batch and it goes through on a fresh connection.
    let retry = vec![
        doc("vit", "Vitamin D", "rewritten text", None),
        doc("new", "New", "a new document", None),
    ];
    assert_eq!(index.ingest_batch(&retry, MODELS).unwrap().written, 2);
    assert_eq!(index.stats().unwrap().documents, 4);
}

#[test]
fn a_batch_naming_a_document_twice_keeps_the_last_version() {
    let scratch = Scratch::new("twice");
    let mut index = scratch.create(settings());
    let batch = [
        doc("x", "First", "the first version about trains", None),
        doc("x", "Second", "the second version about boats", None),
    ];
    let report = index.ingest_batch(&batch, MODELS).unwrap();
    assert_eq!(report.written, 1);
    let hits = search(&index, "boats", SearchMode::Bm25, None);
    assert_eq!(ids(&hits), ["x"]);
    assert_eq!(hits[0].title, "Second");
    assert!(search(&index, "trains", SearchMode::Bm25, None).is_empty());
}

/// Every shape at the default limits runs in each statement that takes a filter (the
/// deletion's selection, lexical, and dense with its planning), and selects what the Rust
/// evaluator selects: no filter the parser accepts is refused by PostgreSQL.
#[test]
fn filters_at_the_limits_run_in_postgres() {
    let scratch = Scratch::new("limits");
    let mut index = scratch.create(settings());
    let docs = tricky_docs();
    index.ingest_batch(&docs, MODELS).unwrap();
    let limits = FilterLimits::default();
    let mut matched_some = false;
    for (name, expression) in tamis_testkit::filters_at_limits(limits.max_depth, limits.max_terms) {
        let filter = Filter::parse_with(&expression, &limits).unwrap();
        let expected = matching(&docs, &filter);
        let started = std::time::Instant::now();
        let found = index.backend().documents_matching(&filter);
        assert_eq!(found.unwrap_or_else(|e| panic!("{name}: {e}")), expected, "{name}");
        eprintln!("{name}: documents_matching {:?}", started.elapsed());
        for mode in [SearchMode::Bm25, SearchMode::Dense] {
            let mut request = SearchRequest::new("common words", mode);
            request.filter = Some(&filter);
            request.k = 50;
            let hits = index
                .search(&request, Some(&HashEmbedder))
                .unwrap_or_else(|e| panic!("{name} ({mode:?}): {e}"));
            let mut found = ids(&hits);
            found.sort();
            assert_eq!(found, expected, "{name} ({mode:?})");
        }
        matched_some |= !expected.is_empty();
    }
    assert!(matched_some);
}

/// A tree deeper than PostgreSQL's parser takes (only a hand-built one, or raised limits,
/// can be) is a user error that names no database, whichever statement carries it.
#[test]
fn filters_postgres_refuses_are_user_errors_without_the_database() {
    let scratch = Scratch::new("refused");
    let mut index = scratch.create(settings());
    index.ingest_batch(&tricky_docs(), MODELS).unwrap();
    let leaf = Filter::parse(r#"lang = "en""#).unwrap();
    let mut filter = leaf.clone();
    // 2000 levels of `NOT (leaf AND …)`, 4000 in SQL: its parser runs out of stack at that.
    for _ in 0..2000 {
        filter = Filter::Not(Box::new(Filter::And(Box::new(leaf.clone()), Box::new(filter))));
    }
    let mut request = SearchRequest::new("common words", SearchMode::Bm25);
    request.filter = Some(&filter);
    for err in [
        index.backend().documents_matching(&filter).unwrap_err(),
        index.search(&request, Some(&HashEmbedder)).unwrap_err(),
    ] {
        assert_eq!(err.kind(), tamis_engine::ErrorKind::User, "{err}");
        assert!(matches!(err, tamis_engine::Error::FilterTooComplex { .. }), "{err:?}");
        let message = err.to_string();
        assert!(!message.contains("postgres://") && !message.contains("127.0.0.1"), "{message}");
    }
}

#[test]
fn the_chunks_of_many_documents_come_in_one_query_in_document_order() {
    let scratch = Scratch::new("chunk_lists");
    let mut index = scratch.create(settings());
    let long_text = (0..300).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let docs: Vec<Document> = (0..40)
        .map(|i| {
            let id = if i == 7 { "it's \"seven\", ok?".to_string() } else { format!("d{i}") };
            let text = if i % 2 == 0 { long_text.clone() } else { format!("short {i}") };
            doc(&id, "", &text, None)
        })
        .collect();
    index.ingest_batch(&docs, MODELS).unwrap();
    let mut ids: Vec<&str> = docs.iter().rev().map(|d| d.id.as_str()).collect();
    ids.push("missing");
    let lists = index.backend().chunks_of_documents(&ids).unwrap();
    assert_eq!(lists.len(), docs.len(), "the missing document is left out");
    for (i, doc) in docs.iter().enumerate() {
        let keys = &lists[&doc.id];
        assert_eq!(keys.len() > 1, i % 2 == 0, "{}: long documents have several chunks", doc.id);
        let by_key: std::collections::HashMap<_, _> = index
            .backend()
            .chunks(keys)
            .unwrap()
            .into_iter()
            .map(|chunk| (chunk.key, (chunk.doc_id, chunk.ordinal)))
            .collect();
        let listed: Vec<(String, u32)> = keys.iter().map(|key| by_key[key].clone()).collect();
        let expected: Vec<(String, u32)> =
            (0..keys.len() as u32).map(|ordinal| (doc.id.clone(), ordinal)).collect();
        assert_eq!(listed, expected, "{}: in document order", doc.id);
    }
    assert!(index.backend().chunks_of_documents(&[]).unwrap().is_empty());
    assert!(index.backend().chunks_of_document("missing").unwrap().is_empty());
}
