//! The engine's ingest over a real index: batches, the pipeline, and searches during an
//! ingest.

use std::sync::atomic::{AtomicUsize, Ordering};

use tamis_core::{Embedder, TextRole};
use tamis_engine::ingest::Silent;
use tamis_engine::{
    Document, Error, Index, IndexSettings, IngestConfig, IngestModels, IngestProgress,
    IngestReport, SearchHit, SearchMode, SearchRequest, ingest, ingest_shared,
};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, word_bags};

const MODELS: IngestModels<'static> = IngestModels::new(&HashEmbedder, &HashEmbedder);

fn documents(n: usize) -> Vec<Document> {
    word_bags(n)
        .into_iter()
        .enumerate()
        .map(|(i, text)| Document {
            id: format!("d{i}"),
            title: format!("title {i}"),
            text,
            metadata: None,
        })
        .collect()
}

fn new_index(dir: &std::path::Path) -> Index {
    tamis_embedded::create(dir, IndexSettings::new("hash-embedder", HASH_DIMENSION)).unwrap()
}

/// Records what `ingest` reports.
#[derive(Default)]
struct Batches(Vec<(Vec<String>, IngestReport)>);

impl IngestProgress for Batches {
    fn batch_written(&mut self, ids: &[String], report: &IngestReport) -> tamis_engine::Result<()> {
        self.0.push((ids.to_vec(), *report));
        Ok(())
    }
}

/// Counts embedding calls and the texts in them.
struct CountingEmbedder {
    calls: AtomicUsize,
    texts: AtomicUsize,
}

impl Embedder for CountingEmbedder {
    fn dimension(&self) -> usize {
        HASH_DIMENSION
    }

    fn embed(&self, texts: &[&str], role: TextRole) -> tamis_core::Result<Vec<Vec<f32>>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        HashEmbedder.embed(texts, role)
    }
}

#[test]
fn a_stream_is_written_in_batches_reported_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = new_index(dir.path());
    let docs = documents(23);
    let mut batches = Batches::default();
    let config = IngestConfig { batch_docs: 5 };
    let report =
        ingest(&mut index, docs.clone().into_iter().map(Ok), MODELS, config, &mut batches).unwrap();
    assert_eq!(report.written, 23);
    assert_eq!(report.unchanged, 0);
    let sizes: Vec<usize> = batches.0.iter().map(|(ids, _)| ids.len()).collect();
    assert_eq!(sizes, [5, 5, 5, 5, 3]);
    let reported: Vec<String> = batches.0.iter().flat_map(|(ids, _)| ids.clone()).collect();
    let expected: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    assert_eq!(reported, expected);
    let chunks: usize = batches.0.iter().map(|(_, r)| r.chunks).sum();
    assert_eq!(chunks, report.chunks);
    assert_eq!(index.stats().unwrap().documents, 23);

    // Again: nothing changed, nothing is embedded.
    let counting = CountingEmbedder { calls: AtomicUsize::new(0), texts: AtomicUsize::new(0) };
    let models = IngestModels::new(&counting, &HashEmbedder);
    let again = ingest(&mut index, docs.into_iter().map(Ok), models, config, &mut Silent).unwrap();
    assert_eq!(again, IngestReport { written: 0, unchanged: 23, chunks: 0 });
    assert_eq!(counting.texts.load(Ordering::SeqCst), 0);
}

#[test]
fn a_batch_is_embedded_in_one_call_across_its_documents() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = new_index(dir.path());
    let counting = CountingEmbedder { calls: AtomicUsize::new(0), texts: AtomicUsize::new(0) };
    let models = IngestModels::new(&counting, &HashEmbedder);
    let config = IngestConfig { batch_docs: 8 };
    let report =
        ingest(&mut index, documents(16).into_iter().map(Ok), models, config, &mut Silent).unwrap();
    assert_eq!(counting.calls.load(Ordering::SeqCst), 2);
    assert_eq!(counting.texts.load(Ordering::SeqCst), report.chunks);
}

#[test]
fn the_pipelined_ingest_builds_what_batch_by_batch_ingest_builds() {
    let docs = documents(40);
    let (pipelined_dir, plain_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut pipelined = new_index(pipelined_dir.path());
    let config = IngestConfig { batch_docs: 7 };
    ingest(&mut pipelined, docs.clone().into_iter().map(Ok), MODELS, config, &mut Silent).unwrap();
    let mut plain = new_index(plain_dir.path());
    for batch in docs.chunks(7) {
        plain.ingest_batch(batch, MODELS).unwrap();
    }
    plain.flush().unwrap();
    assert_eq!(pipelined.stats().unwrap().chunks, plain.stats().unwrap().chunks);
    for doc in docs.iter().step_by(5) {
        for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
            let request = SearchRequest::new(&doc.text, mode);
            let a = pipelined.search(&request, Some(&HashEmbedder)).unwrap();
            let b = plain.search(&request, Some(&HashEmbedder)).unwrap();
            let ids = |hits: &[SearchHit]| {
                hits.iter().map(|h| (h.doc_id.clone(), h.score)).collect::<Vec<_>>()
            };
            assert_eq!(ids(&a), ids(&b), "{mode:?}");
        }
    }
}

#[test]
fn a_bad_document_stops_the_ingest_and_earlier_batches_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = new_index(dir.path());
    let mut stream: Vec<tamis_engine::Result<Document>> =
        documents(12).into_iter().map(Ok).collect();
    stream.insert(
        9,
        Err(Error::BadInput { location: "line 10 of corpus.jsonl".into(), reason: "bad".into() }),
    );
    let mut batches = Batches::default();
    let config = IngestConfig { batch_docs: 4 };
    let err = ingest(&mut index, stream.into_iter(), MODELS, config, &mut batches).unwrap_err();
    assert!(err.to_string().starts_with("line 10 of corpus.jsonl"), "{err}");
    // The batches acknowledged before the error are there; the one holding it is not.
    let acknowledged: usize = batches.0.iter().map(|(ids, _)| ids.len()).sum();
    assert_eq!(index.stats().unwrap().documents, acknowledged as u64);
    assert!(acknowledged <= 8, "{acknowledged}");
}

#[test]
fn a_batch_naming_a_document_twice_keeps_its_last_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = new_index(dir.path());
    let mut docs = documents(3);
    let mut later = docs[0].clone();
    later.text = "the replaced text".into();
    docs.push(later);
    let pending = index.pending(docs).unwrap();
    assert_eq!(pending.len(), 3);
    let embedded = pending.embed(index.settings(), MODELS).unwrap();
    let report = index.write_embedded(embedded).unwrap();
    assert_eq!(report.written, 3);
    let request = SearchRequest::new("replaced", SearchMode::Bm25);
    let hits = index.search(&request, None).unwrap();
    assert_eq!(hits[0].doc_id, "d0");
}

/// Embeds documents slowly (as a real bi-encoder on a loaded machine would), saying
/// when it is at it; queries at once.
struct SlowEmbedder {
    pause: std::time::Duration,
    embedding: std::sync::atomic::AtomicBool,
}

impl Embedder for SlowEmbedder {
    fn dimension(&self) -> usize {
        HASH_DIMENSION
    }

    fn embed(&self, texts: &[&str], role: TextRole) -> tamis_core::Result<Vec<Vec<f32>>> {
        if role == TextRole::Document {
            self.embedding.store(true, Ordering::SeqCst);
            std::thread::sleep(self.pause);
            self.embedding.store(false, Ordering::SeqCst);
        }
        HashEmbedder.embed(texts, role)
    }
}

#[test]
fn searches_answer_while_a_shared_index_is_embedding_an_ingest() {
    use std::sync::RwLock;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let index = RwLock::new(new_index(dir.path()));
    // Something to find from the start.
    index.write().unwrap().ingest_batch(&documents(5), MODELS).unwrap();
    let pause = Duration::from_millis(800);
    let slow = SlowEmbedder { pause, embedding: false.into() };
    let models = IngestModels::new(&slow, &HashEmbedder);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let (mut during_embedding, mut slowest) = (0, Duration::ZERO);
    std::thread::scope(|scope| {
        let ingest = scope.spawn(|| {
            let more = documents(45).into_iter().skip(5).map(Ok);
            let config = IngestConfig { batch_docs: 10 };
            let report = ingest_shared(&index, more, models, config, &mut Silent);
            finished.store(true, Ordering::SeqCst);
            report
        });
        let request = SearchRequest::new("title", SearchMode::Hybrid);
        while !finished.load(Ordering::SeqCst) {
            let start = Instant::now();
            let hits = index.read().unwrap().search(&request, Some(&HashEmbedder)).unwrap();
            let elapsed = start.elapsed();
            assert!(!hits.is_empty());
            slowest = slowest.max(elapsed);
            if slow.embedding.load(Ordering::SeqCst) {
                during_embedding += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(ingest.join().unwrap().unwrap().written, 40);
    });
    // Four batches of 800 ms embedding: searches ran all along, and none waited for an
    // embedding call (a search may wait for a batch's write: measured 85-260 ms here, the
    // store's and BM25's fsyncs).
    assert!(during_embedding >= 10, "only {during_embedding} searches ran during embedding");
    assert!(slowest < pause, "a search took {slowest:?}, as long as an embedding call");
    assert_eq!(index.read().unwrap().stats().unwrap().documents, 45);
}

#[test]
fn the_chunks_of_many_documents_come_in_one_call_in_document_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = new_index(dir.path());
    let long_text = (0..300).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    // More documents than one statement takes, long and short, and ids SQL would quote.
    let docs: Vec<Document> = (0..40)
        .map(|i| Document {
            id: if i == 7 { "it's \"seven\", ok?".to_string() } else { format!("d{i}") },
            title: String::new(),
            text: if i % 2 == 0 { long_text.clone() } else { format!("short {i}") },
            metadata: None,
        })
        .collect();
    index.ingest_batch(&docs, MODELS).unwrap();
    let mut ids: Vec<&str> = docs.iter().rev().map(|d| d.id.as_str()).collect();
    ids.push("missing");
    let lists = index.backend().chunks_of_documents(&ids).unwrap();
    assert_eq!(lists.len(), docs.len(), "the missing document is left out");
    for (i, doc) in docs.iter().enumerate() {
        let keys = &lists[&doc.id];
        assert_eq!(keys, &index.backend().chunks_of_document(&doc.id).unwrap());
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
