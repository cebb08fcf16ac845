use serde_json::json;
use tamis_testkit::{HASH_DIMENSION, HashEmbedder};

use tamis_engine::filter::Filter;
use tamis_engine::{
    Document, Index, IndexSettings, IngestModels, NewChunk, SearchHit, SearchMode, SearchRequest,
};

use crate::store::Store;

const MODELS: IngestModels<'static> = IngestModels::new(&HashEmbedder, &HashEmbedder);

fn doc(id: &str, title: &str, text: &str, metadata: serde_json::Value) -> Document {
    Document { id: id.into(), title: title.into(), text: text.into(), metadata: Some(metadata) }
}

fn settings() -> IndexSettings {
    IndexSettings::new("hash-embedder", HASH_DIMENSION)
}

fn corpus() -> Vec<Document> {
    vec![
        doc(
            "vit",
            "Vitamin D",
            "sunlight exposure raises vitamin d levels in blood",
            json!({"topic": "nutrition", "year": 2012}),
        ),
        doc(
            "stat",
            "Statins",
            "statins lower cholesterol and cardiovascular risk",
            json!({"topic": "drugs", "year": 2018}),
        ),
        doc(
            "soy",
            "Soy",
            "soy isoflavones and breast cancer risk in women",
            json!({"topic": "nutrition", "year": 2020}),
        ),
    ]
}

fn ids(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.doc_id.as_str()).collect()
}

fn search<'a>(
    index: &Index,
    query: &'a str,
    mode: SearchMode,
    filter: Option<&'a Filter>,
) -> Vec<SearchHit> {
    let mut request = SearchRequest::new(query, mode);
    request.filter = filter;
    index.search(&request, Some(&HashEmbedder)).unwrap()
}

#[test]
fn every_mode_finds_the_matching_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = crate::create(dir.path(), settings()).unwrap();
    let report = index.ingest_batch(&corpus(), MODELS).unwrap();
    assert_eq!((report.written, report.chunks), (3, 3));
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        let hits = search(&index, "statins cholesterol", mode, None);
        assert_eq!(hits[0].doc_id, "stat", "{mode:?}");
    }
    let hybrid = search(&index, "statins cholesterol", SearchMode::Hybrid, None);
    assert_eq!(hybrid[0].score_kind, tamis_engine::ScoreKind::Fused);
    assert_eq!(hybrid[0].bm25.map(|(rank, _)| rank), Some(1));
    assert_eq!(hybrid[0].dense.map(|(rank, _)| rank), Some(1));
}

#[test]
fn upserts_and_deletes_reach_both_retrievers() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = crate::create(dir.path(), settings()).unwrap();
    index.ingest_batch(&corpus(), MODELS).unwrap();
    let replaced =
        doc("stat", "Trains", "high speed trains cross europe", json!({"topic": "travel"}));
    index.ingest_batch(&[replaced], MODELS).unwrap();
    for mode in [SearchMode::Bm25, SearchMode::Dense] {
        assert_eq!(search(&index, "high speed trains", mode, None)[0].doc_id, "stat", "{mode:?}");
    }
    // The old text is gone from BM25, and no stale vector is left behind.
    assert!(!ids(&search(&index, "statins cholesterol", SearchMode::Bm25, None)).contains(&"stat"));
    assert_eq!(index.stats().unwrap().vectors, 3);
    assert_eq!(index.delete(&["soy", "unknown"]).unwrap(), 1);
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        assert!(!ids(&search(&index, "soy isoflavones", mode, None)).contains(&"soy"), "{mode:?}");
    }
    let stats = index.stats().unwrap();
    assert_eq!((stats.documents, stats.chunks), (2, 2));
}

#[test]
fn deletes_by_filter_reach_both_retrievers() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = crate::create(dir.path(), settings()).unwrap();
    index.ingest_batch(&corpus(), MODELS).unwrap();
    let nutrition = Filter::parse(r#"topic = "nutrition""#).unwrap();
    assert_eq!(index.delete_matching(&nutrition).unwrap(), (2, 2));
    assert_eq!(index.delete_matching(&nutrition).unwrap(), (0, 0));
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        assert_eq!(ids(&search(&index, "vitamin soy statins", mode, None)), ["stat"], "{mode:?}");
    }
}

#[test]
fn whole_mode_keeps_long_documents_in_one_chunk() {
    let long_text = (0..300).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let long = doc("long", "Long", &long_text, json!({}));
    let ingest = |mode| {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings();
        settings.chunking.mode = mode;
        let mut index = crate::create(dir.path(), settings).unwrap();
        let chunks = index.ingest_batch(std::slice::from_ref(&long), MODELS).unwrap().chunks;
        // BM25 sees the end of the document in both modes.
        assert_eq!(ids(&search(&index, "word299", SearchMode::Bm25, None)), ["long"]);
        drop(index);
        // The mode is recorded in the index.
        assert_eq!(crate::open(dir.path()).unwrap().settings().chunking.mode, mode);
        chunks
    };
    assert!(ingest(tamis_engine::chunker::ChunkMode::Windows) > 1);
    assert_eq!(ingest(tamis_engine::chunker::ChunkMode::Whole), 1);
}

#[test]
fn unchanged_documents_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = crate::create(dir.path(), settings()).unwrap();
    index.ingest_batch(&corpus(), MODELS).unwrap();
    let again = index.ingest_batch(&corpus(), MODELS).unwrap();
    assert_eq!((again.written, again.unchanged), (0, 3));
    assert_eq!(index.stats().unwrap().sequence, Some(1), "no new batch for unchanged documents");
}

#[test]
fn filters_apply_inside_both_retrievers() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = crate::create(dir.path(), settings()).unwrap();
    // 200 documents all matching the query; 5 of them in 2024.
    let docs: Vec<Document> = (0..200)
        .map(|i| {
            let year = if i % 40 == 0 { 2024 } else { 2000 };
            doc(
                &format!("d{i}"),
                "Vitamin D",
                &format!("vitamin d study number {i}"),
                json!({"year": year}),
            )
        })
        .collect();
    index.ingest_batch(&docs, MODELS).unwrap();
    let recent = Filter::parse("year = 2024").unwrap();
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        let hits = search(&index, "vitamin d study", mode, Some(&recent));
        assert_eq!(hits.len(), 5, "{mode:?}: a post-filter of the top 100 would have fewer");
        assert!(
            hits.iter()
                .all(|h| h.doc_id.trim_start_matches('d').parse::<usize>().unwrap() % 40 == 0)
        );
    }
}

#[test]
fn reopening_catches_derived_indexes_up_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut index = crate::create(dir.path(), settings()).unwrap();
        index.ingest_batch(&corpus(), MODELS).unwrap();
    }
    // A write acknowledged by the store whose process died before the derived indexes saw it.
    {
        let mut store = Store::open(dir.path()).unwrap();
        let text = "quantum chromodynamics of gluons";
        let vector = tamis_core::Embedder::embed(
            &HashEmbedder,
            &[&format!("Physics {text}")],
            tamis_core::TextRole::Document,
        )
        .unwrap();
        let chunk = NewChunk { text: text.into(), vector: vector[0].clone(), tokens: None };
        store.write_batch(&[(doc("qcd", "Physics", text, json!({})), vec![chunk])]).unwrap();
        store.delete_documents(&["vit"]).unwrap();
    }
    let index = crate::open(dir.path()).unwrap();
    for mode in [SearchMode::Bm25, SearchMode::Dense] {
        assert_eq!(search(&index, "quantum gluons", mode, None)[0].doc_id, "qcd", "{mode:?}");
        assert!(!ids(&search(&index, "sunlight vitamin", mode, None)).contains(&"vit"), "{mode:?}");
    }
}

/// Settings whose vector index switches to HNSW at 50 chunks.
fn small_settings() -> IndexSettings {
    IndexSettings { exact_below: 50, ..settings() }
}

/// `n` word-bag texts, and documents `d0`, `d1`, … holding them.
fn word_bag_documents(n: usize) -> (Vec<String>, Vec<Document>) {
    let texts = tamis_testkit::word_bags(n);
    let docs =
        texts.iter().enumerate().map(|(i, t)| doc(&format!("d{i}"), "", t, json!({}))).collect();
    (texts, docs)
}

/// The id of the best document for `text` in `mode`.
fn top_id(index: &Index, text: &str, mode: SearchMode) -> String {
    let mut request = SearchRequest::new(text, mode);
    request.k = 1;
    index.search(&request, Some(&HashEmbedder)).unwrap()[0].doc_id.clone()
}

#[test]
fn hnsw_takes_over_above_the_exact_threshold_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let small = small_settings();
    let docs: Vec<Document> = (0..120)
        .map(|i| {
            doc(&format!("d{i}"), "", &format!("topic{} word{} shared text", i % 7, i), json!({}))
        })
        .collect();
    let before = {
        let mut index = crate::create(dir.path(), small).unwrap();
        for batch in docs.chunks(30) {
            index.ingest_batch(batch, MODELS).unwrap();
        }
        assert_eq!(index.stats().unwrap().vector_index, "hnsw");
        assert!(!dir.path().join(super::VECTOR_FILE).exists(), "batches do not rewrite the graph");
        index.flush().unwrap();
        assert!(dir.path().join(super::VECTOR_FILE).is_file());
        search(&index, "topic3 word45", SearchMode::Dense, None)
    };
    let index = crate::open(dir.path()).unwrap();
    assert_eq!(index.stats().unwrap().vector_index, "hnsw");
    let after = search(&index, "topic3 word45", SearchMode::Dense, None);
    assert_eq!(ids(&before), ids(&after));
    assert_eq!(after[0].doc_id, "d45");
}

/// A saved graph damaged on disk is never handed to usearch (which would crash searching
/// it): its checksum fails, the graph is rebuilt from the store and searches as before.
#[test]
fn a_damaged_saved_graph_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (texts, docs) = word_bag_documents(120);
    let before = {
        let mut index = crate::create(dir.path(), small_settings()).unwrap();
        index.ingest_batch(&docs, MODELS).unwrap();
        index.flush().unwrap();
        search(&index, &texts[45], SearchMode::Dense, None)
    };
    let graph = dir.path().join(super::VECTOR_FILE);
    let record = fs_err::read_to_string(dir.path().join(super::VECTOR_SEQ_FILE)).unwrap();
    assert!(super::parse_saved_vectors(&record).unwrap().1.is_some(), "{record:?}");
    let mut bytes = fs_err::read(&graph).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0xff);
    fs_err::write(&graph, &bytes).unwrap();

    let index = crate::open(dir.path()).unwrap();
    assert_eq!(index.stats().unwrap().vector_index, "hnsw");
    assert_eq!(ids(&search(&index, &texts[45], SearchMode::Dense, None)), ids(&before));
    assert_eq!(self_retrieval_misses(&index, &texts, None), 0);
}

#[test]
fn graph_records_parse_with_or_without_a_checksum_and_nothing_else() {
    use super::parse_saved_vectors as parse;
    assert_eq!(parse("17 0badf00d\n"), Some((17, Some(0x0bad_f00d))));
    assert_eq!(parse("17\n"), Some((17, None)));
    for bad in ["", "x", "17 0bad", "17 0badf00d 1", "-1 0badf00d", "17 zzzzzzzz"] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}

/// How many of `texts`, searched for with k = depth = 1 and `ef_search`, do not find
/// themselves first.
pub(crate) fn self_retrieval_misses(index: &Index, texts: &[String], ef: Option<usize>) -> usize {
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
fn each_search_can_set_its_hnsw_breadth() {
    let dir = tempfile::tempdir().unwrap();
    let (texts, docs) = word_bag_documents(2_000);
    let mut index = crate::create(dir.path(), small_settings()).unwrap();
    index.ingest_batch(&docs, MODELS).unwrap();
    assert_eq!(index.stats().unwrap().vector_index, "hnsw");
    let probes = &texts[..300];
    // A walk of one candidate gets lost (measured: 24 of 300 misses); the widest one
    // finds every text itself.
    let narrow = self_retrieval_misses(&index, probes, Some(1));
    let wide = self_retrieval_misses(&index, probes, Some(tamis_engine::MAX_EF_SEARCH));
    assert!(narrow > 0 && wide == 0, "misses: {narrow} at ef 1, {wide} at ef 1000");
    for bad in [0, tamis_engine::MAX_EF_SEARCH + 1] {
        let mut request = SearchRequest::new("w1", SearchMode::Dense);
        request.ef_search = Some(bad);
        let err = index.search(&request, Some(&HashEmbedder)).unwrap_err();
        assert!(matches!(err, tamis_engine::Error::InvalidSearch { .. }), "{err}");
        assert!(err.to_string().contains("ef_search"), "{err}");
    }
}

#[test]
fn misuse_gets_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(crate::open(dir.path()), Err(tamis_engine::Error::NoIndex { .. })));
    let index = crate::create(dir.path(), settings()).unwrap();
    drop(index);
    assert!(matches!(
        crate::create(dir.path(), settings()),
        Err(tamis_engine::Error::IndexExists { .. })
    ));
    let index = crate::open(dir.path()).unwrap();
    assert!(index.check_embedder("hash-embedder").is_ok());
    let err = index.check_embedder("all-MiniLM-L6-v2").unwrap_err();
    assert!(err.to_string().contains("was built with embedder 'hash-embedder'"), "{err}");
    let request = SearchRequest::new("q", SearchMode::Dense);
    assert!(matches!(index.search(&request, None), Err(tamis_engine::Error::EmbedderRequired)));
}

#[test]
fn deleted_derived_indexes_are_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings();
    settings.exact_below = 2;
    settings.lexical.stemming = false;
    {
        let mut index = crate::create(dir.path(), settings).unwrap();
        index.ingest_batch(&corpus(), MODELS).unwrap();
        index.flush().unwrap();
    }
    assert!(dir.path().join("vectors.usearch").is_file());
    fs_err::remove_dir_all(dir.path().join("bm25")).unwrap();
    fs_err::remove_file(dir.path().join("vectors.usearch")).unwrap();
    let index = crate::open(dir.path()).unwrap();
    assert!(!index.settings().lexical.stemming, "the recorded BM25 settings are used");
    assert_eq!(index.stats().unwrap().vector_index, "hnsw");
    for mode in [SearchMode::Bm25, SearchMode::Dense] {
        assert_eq!(search(&index, "statins cholesterol", mode, None)[0].doc_id, "stat", "{mode:?}");
    }
}

#[test]
fn hnsw_parameters_are_recorded_and_invalid_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut custom = settings();
    custom.hnsw.m = 8;
    custom.hnsw.ef_construction = 64;
    custom.hnsw.ef_search = 200;
    drop(crate::create(dir.path(), custom.clone()).unwrap());
    assert_eq!(crate::open(dir.path()).unwrap().settings().hnsw, custom.hnsw);
    let other = tempfile::tempdir().unwrap();
    custom.hnsw.m = 1;
    // The vector index's own error, carried whole through the engine's.
    let err = crate::create(other.path(), custom).unwrap_err();
    assert_eq!(err.kind(), tamis_engine::ErrorKind::User, "{err}");
    let tamis_engine::Error::Backend(backend) = &err else { panic!("{err:?}") };
    assert!(matches!(backend.get_ref().downcast_ref(), Some(crate::Error::Vector(_))), "{err}");
}

#[test]
fn a_batch_naming_a_document_twice_keeps_the_last_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = crate::create(dir.path(), settings()).unwrap();
    let batch = [
        doc("x", "First", "the first version about trains", json!({})),
        doc("x", "Second", "the second version about boats", json!({})),
    ];
    assert_eq!(index.ingest_batch(&batch, MODELS).unwrap().written, 1);
    let hits = search(&index, "boats", SearchMode::Bm25, None);
    assert_eq!((ids(&hits), hits[0].title.as_str()), (vec!["x"], "Second"));
    assert!(search(&index, "trains", SearchMode::Bm25, None).is_empty());
    assert_eq!(index.stats().unwrap().chunks, 1);
}

#[test]
fn catalogs_refuse_names_that_are_not_plain_words() {
    use tamis_engine::backend::Catalog;
    let root = tempfile::tempdir().unwrap();
    let catalog = crate::EmbeddedCatalog::open(&root.path().join("collections")).unwrap();
    let long = "x".repeat(65);
    for bad in ["", "../escape", "a b", "dot.dot", "é", long.as_str()] {
        let refused = |err: tamis_engine::Error| {
            assert!(
                matches!(err, tamis_engine::Error::InvalidCollectionName { .. }),
                "{bad:?}: {err}"
            );
        };
        refused(catalog.create(bad, settings()).unwrap_err());
        refused(catalog.open(bad).unwrap_err());
        refused(catalog.remove(bad).unwrap_err());
    }
    assert!(!root.path().join("escape").exists(), "nothing was made outside the catalog");
    // A directory made by hand under an invalid name is not listed.
    let odd = root.path().join("collections").join("odd name");
    drop(crate::create(&odd, settings()).unwrap());
    catalog.create(&"y".repeat(64), settings()).unwrap();
    catalog.create("ok_name-2", settings()).unwrap();
    assert_eq!(catalog.names().unwrap(), vec!["ok_name-2".to_string(), "y".repeat(64)]);
}

#[test]
fn searches_open_beside_a_writer_and_writes_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (texts, docs) = word_bag_documents(200);
    let mut writer = crate::create(dir.path(), small_settings()).unwrap();
    writer.ingest_batch(&docs[..100], MODELS).unwrap();
    writer.flush().unwrap();

    // A second handle (another process, say `tamis search`) opens and searches.
    let mut reader = crate::open(dir.path()).unwrap();
    let found = |index: &Index, i: usize, mode: SearchMode| top_id(index, &texts[i], mode);
    assert_eq!(found(&reader, 42, SearchMode::Dense), "d42");
    assert_eq!(found(&reader, 42, SearchMode::Bm25), "d42");
    // Its writes wait for the writer, and nothing of them is kept.
    let err = reader.ingest_batch(&docs[100..110], MODELS).unwrap_err();
    assert_eq!(err.kind(), tamis_engine::ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("another process is writing"), "{err}");
    assert_eq!(reader.stats().unwrap().documents, 100);

    // The writer goes on, then stops; the second handle now writes, after taking in
    // everything the first one wrote since it opened, in both retrievers.
    writer.ingest_batch(&docs[100..150], MODELS).unwrap();
    writer.delete(&["d0"]).unwrap();
    drop(writer);
    reader.ingest_batch(&docs[150..], MODELS).unwrap();
    reader.flush().unwrap();
    for (i, mode) in [(120, SearchMode::Dense), (120, SearchMode::Bm25), (170, SearchMode::Hybrid)]
    {
        assert_eq!(found(&reader, i, mode), format!("d{i}"), "{mode:?}");
    }
    assert_ne!(found(&reader, 0, SearchMode::Bm25), "d0");
    let stats = reader.stats().unwrap();
    assert_eq!((stats.documents, stats.vectors), (199, 199));
    drop(reader);
    // What the second handle saved reopens to the same state.
    let reopened = crate::open(dir.path()).unwrap();
    assert_eq!(found(&reopened, 120, SearchMode::Dense), "d120");
    assert_eq!(reopened.stats().unwrap().vectors, 199);
}

#[test]
fn a_handle_that_only_searches_follows_another_processes_writes_by_refreshing() {
    let dir = tempfile::tempdir().unwrap();
    let (texts, docs) = word_bag_documents(200);
    let mut writer = crate::create(dir.path(), small_settings()).unwrap();
    writer.ingest_batch(&docs[..30], MODELS).unwrap();
    let mut reader = crate::open(dir.path()).unwrap();
    let found = |index: &Index, i: usize, mode: SearchMode| top_id(index, &texts[i], mode);
    assert!(!reader.is_behind().unwrap());
    assert_eq!(reader.stats().unwrap().vector_index, "exact");

    // The writer crosses into HNSW and deletes, without saving its graph: the reader
    // searches what it opened until it refreshes, then replays the store's log (and
    // builds its own graph, having crossed the threshold too).
    writer.ingest_batch(&docs[30..150], MODELS).unwrap();
    writer.delete(&["d0"]).unwrap();
    assert!(reader.is_behind().unwrap() && !writer.is_behind().unwrap());
    assert_ne!(found(&reader, 120, SearchMode::Dense), "d120");
    assert_ne!(found(&reader, 120, SearchMode::Bm25), "d120");
    reader.refresh().unwrap();
    assert!(!reader.is_behind().unwrap());
    for (i, mode) in [(120, SearchMode::Dense), (120, SearchMode::Bm25), (140, SearchMode::Hybrid)]
    {
        assert_eq!(found(&reader, i, mode), format!("d{i}"), "{mode:?}");
    }
    assert_ne!(found(&reader, 0, SearchMode::Bm25), "d0");
    let stats = reader.stats().unwrap();
    assert_eq!((stats.documents, stats.vectors, stats.vector_index.as_str()), (149, 149, "hnsw"));

    // Refreshing took no lock, nor does flushing what it replayed: the writer goes on, and
    // saves its graph, which the reader's next refresh loads.
    reader.flush().unwrap();
    writer.ingest_batch(&docs[150..170], MODELS).unwrap();
    writer.flush().unwrap();
    assert!(reader.is_behind().unwrap());
    reader.refresh().unwrap();
    assert_eq!(found(&reader, 160, SearchMode::Dense), "d160");
    assert_eq!(found(&reader, 160, SearchMode::Bm25), "d160");
    assert_eq!(reader.stats().unwrap().vectors, 169);
    writer.delete(&["d1"]).unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.stats().unwrap().vectors, 168);
    // The writer's refresh does nothing, and it stays the writer.
    writer.refresh().unwrap();
    writer.ingest_batch(&docs[170..], MODELS).unwrap();
    assert_eq!(writer.stats().unwrap().vectors, 198);
}

#[test]
fn an_index_is_built_aside_and_appears_whole() {
    let root = tempfile::tempdir().unwrap();
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // A missing directory, and an empty one its caller made, are built aside and renamed.
    drop(crate::create(&root.path().join("fresh"), settings()).unwrap());
    fs_err::create_dir(root.path().join("empty")).unwrap();
    drop(crate::create(&root.path().join("empty"), settings()).unwrap());
    assert_eq!(entries(), ["empty", "fresh"], "no staging directory is left behind");
    // A directory holding other files is built in place, as before.
    let busy = root.path().join("busy");
    fs_err::create_dir(&busy).unwrap();
    fs_err::write(busy.join("notes.txt"), "mine").unwrap();
    let mut index = crate::create(&busy, settings()).unwrap();
    index.ingest_batch(&[doc("a", "", "glaciers", json!({}))], MODELS).unwrap();
    assert_eq!(fs_err::read_to_string(busy.join("notes.txt")).unwrap(), "mine");
    // A link to an empty directory cannot be replaced by a rename: built in place, through
    // the link.
    let target = root.path().join("target");
    fs_err::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, root.path().join("linked")).unwrap();
    drop(crate::create(&root.path().join("linked"), settings()).unwrap());
    assert!(fs_err::symlink_metadata(root.path().join("linked")).unwrap().is_symlink());
    assert!(target.join(crate::store::STORE_FILE).is_file());
    for name in ["fresh", "empty", "busy", "linked"] {
        let reopened = crate::open(&root.path().join(name)).unwrap();
        assert_eq!(reopened.settings().embedder_id, "hash-embedder");
    }

    // Racing creators of one directory: one wins, the others are told it exists, and the
    // winner's index is whole.
    let contested = root.path().join("contested");
    let outcomes: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| crate::create(&contested, settings()).map(drop)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join().unwrap() {
                Ok(()) => true,
                Err(tamis_engine::Error::IndexExists { .. }) => false,
                Err(err) => panic!("{err}"),
            })
            .collect()
    });
    assert_eq!(outcomes.iter().filter(|won| **won).count(), 1, "{outcomes:?}");
    assert!(crate::open(&contested).is_ok());
    assert_eq!(entries(), ["busy", "contested", "empty", "fresh", "linked", "target"]);
}

#[test]
fn a_handle_knows_when_its_directory_was_removed_or_rebuilt() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("index");
    let (_, docs) = word_bag_documents(20);
    let mut writer = crate::create(&dir, settings()).unwrap();
    writer.ingest_batch(&docs[..10], MODELS).unwrap();
    let reader = crate::open(&dir).unwrap();
    // Writes, and a flush, leave the files in place.
    writer.ingest_batch(&docs[10..], MODELS).unwrap();
    writer.flush().unwrap();
    assert!(!reader.is_replaced().unwrap() && !writer.is_replaced().unwrap());
    drop(writer);

    fs_err::remove_dir_all(&dir).unwrap();
    assert!(reader.is_replaced().unwrap(), "removed");
    // Built again at the same path: still not the index the handle reads.
    drop(crate::create(&dir, settings()).unwrap());
    assert!(reader.is_replaced().unwrap(), "rebuilt");
    assert_eq!(reader.stats().unwrap().documents, 20, "the old files, still open");
    assert!(!crate::open(&dir).unwrap().is_replaced().unwrap());
}
