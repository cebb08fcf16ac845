//! `kill -9` during an ingest loses nothing acknowledged and never leaves half a batch.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tamis_engine::{SearchMode, SearchRequest};

const N_DOCS: usize = 400;
const BATCH: usize = 8;
const TRIALS: usize = 20;

fn model() -> String {
    crate::model_fixture("bert-embed-cls")
}

/// Above this many chunks the index searches an HNSW graph: odd trials cross it.
const EXACT_BELOW: usize = 64;

fn text_of(i: usize) -> String {
    format!("uniqword{i} shared text about topic {}", i % 13)
}

/// Document `i` carries a word no other document has, so BM25 can find exactly it.
fn corpus(path: &std::path::Path, n_docs: usize) {
    let lines: Vec<String> = (0..n_docs)
        .map(|i| serde_json::json!({"id": format!("d{i}"), "text": text_of(i)}).to_string())
        .collect();
    fs_err::write(path, lines.join("\n")).unwrap();
}

fn ingest(dir: &std::path::Path, input: &std::path::Path, hnsw: bool, late: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tamis"));
    command.args(["index", dir.to_str().unwrap(), "-i", input.to_str().unwrap()]).args([
        "--batch-docs",
        &BATCH.to_string(),
        "--ack-batches",
        "--threads",
        "1",
    ]);
    if !dir.exists() {
        command.args(["-m", &model()]);
        if hnsw {
            command.args(["--exact-below", &EXACT_BELOW.to_string()]);
        }
        if late {
            command.args(["--late-interaction", &crate::model_fixture("colbert-pylate")]);
        }
    }
    command
}

/// The model is a local directory: the hub is never asked.
fn offline_hub() -> tamis_models::HubOptions {
    tamis_models::HubOptions {
        cache_dir: std::env::temp_dir(),
        revision: None,
        offline: true,
        endpoint: None,
        token: None,
    }
}

/// The ids of one `--ack-batches` line.
fn committed_ids(line: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["committed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[test]
fn kill_9_at_random_points_keeps_acknowledged_batches_whole() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("corpus.jsonl");
    corpus(&input, N_DOCS);
    // Odd trials first ingest this half to the end, so that a saved HNSW graph exists
    // and the killed run updates it: reopening must replay the log into the saved graph.
    let first_half = work.path().join("first-half.jsonl");
    corpus(&first_half, N_DOCS / 2);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed_mid_ingest = 0;
    let embedder = tamis_models::BiEncoder::load(
        &tamis_models::ModelDir::resolve(&model(), &offline_hub()).unwrap(),
        &Default::default(),
    )
    .unwrap();
    for trial in 0..TRIALS {
        let dir = work.path().join(format!("index-{trial}"));
        // Seeded pseudo-random number of acknowledgements to wait for before the kill.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait_for = (seed % (N_DOCS / BATCH) as u64) as usize;
        let hnsw = trial % 2 == 1;
        // Every third trial stores ColBERT token vectors too, in the same transactions.
        let late = trial % 3 == 2;
        if hnsw {
            let output =
                ingest(&dir, &first_half, hnsw, late).stdout(Stdio::null()).output().unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            assert!(dir.join("vectors.usearch").is_file(), "trial {trial}: no saved graph");
        }
        let mut child = ingest(&dir, &input, hnsw, late)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acknowledged: Vec<String> = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        for _ in 0..wait_for {
            let Some(Ok(line)) = lines.next() else { break };
            acknowledged.extend(committed_ids(&line));
            assert!(Instant::now() < deadline, "ingest too slow");
        }
        // A seeded pause spreads the kill over the batch cycle (embedding, store commit, BM25 commit).
        std::thread::sleep(Duration::from_millis(seed % 15));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        killed_mid_ingest += usize::from(!status.success());
        // Acknowledgements already written but not yet read still count.
        for line in lines.map_while(Result::ok) {
            acknowledged.extend(committed_ids(&line));
        }
        if !dir.join(tamis_embedded::store::STORE_FILE).exists() {
            assert!(acknowledged.is_empty());
            continue;
        }
        let index = tamis_embedded::open(&dir).unwrap();
        let stored: std::collections::HashSet<String> = (0..N_DOCS)
            .map(|i| format!("d{i}"))
            .filter(|id| !index.backend().chunks_of_document(id).unwrap().is_empty())
            .collect();
        for id in &acknowledged {
            assert!(stored.contains(id), "trial {trial}: acknowledged {id} is missing");
        }
        for batch in (0..N_DOCS).collect::<Vec<_>>().chunks(BATCH) {
            let present = batch.iter().filter(|i| stored.contains(&format!("d{i}"))).count();
            assert!(
                present == 0 || present == batch.len(),
                "trial {trial}: batch {batch:?} is half there ({present})"
            );
        }
        // The derived BM25 index caught up: each stored document is found by its unique word.
        for id in stored.iter().take(40) {
            let word = format!("uniqword{}", id.trim_start_matches('d'));
            let hits = index.search(&SearchRequest::new(&word, SearchMode::Bm25), None).unwrap();
            assert_eq!(hits.first().map(|h| h.doc_id.as_str()), Some(id.as_str()), "trial {trial}");
        }
        // The vector index caught up too: one vector per stored chunk, on the graph when
        // the index is past the threshold, and each document found by its own text.
        let stats = index.stats().unwrap();
        let n_chunks = stats.chunks;
        assert_eq!(stats.vectors, n_chunks, "trial {trial}");
        let token_chunks = stats.token_vectors.map(|tokens| tokens.chunks);
        assert_eq!(token_chunks, late.then_some(n_chunks), "trial {trial}");
        assert_eq!(
            stats.vector_index == "hnsw",
            hnsw && n_chunks as usize >= EXACT_BELOW,
            "trial {trial}"
        );
        for id in stored.iter().take(40) {
            let text = text_of(id.trim_start_matches('d').parse().unwrap());
            let mut request = SearchRequest::new(&text, SearchMode::Dense);
            request.k = 3;
            let hits = index.search(&request, Some(&embedder)).unwrap();
            assert!(hits.iter().any(|h| &h.doc_id == id), "trial {trial}: {id} not found densely");
        }
    }
    assert!(
        killed_mid_ingest >= TRIALS / 2,
        "only {killed_mid_ingest} of {TRIALS} kills landed mid-ingest"
    );
}
