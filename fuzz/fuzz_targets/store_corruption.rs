//! An embedded index read back after random corruption: the SQLite store, the saved HNSW
//! graph (usearch), its sequence file and the tantivy files, each in a fresh copy of a
//! small index built once with the hash embedder of `tamis-testkit`.
//!
//! Input: a file selector byte, a mode byte (bit 0: patch bytes, bit 1: truncate), then
//! 5-byte patches (offset: u32 little-endian, taken modulo the file's length; new byte),
//! the last 4 bytes of a truncating input giving the new length (modulo the file's).
//!
//! Invariant: opening and searching (BM25, dense, hybrid, with a filter) return an error
//! or results, never panic or crash; ASan reports out-of-bounds reads in Rust code, and
//! the C/C++ libraries' allocations go through its allocator.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tamis_engine::filter::Filter;
use tamis_engine::ingest::Silent;
use tamis_engine::{
    Document, IndexSettings, IngestConfig, IngestModels, SearchMode, SearchRequest, ingest,
};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, word_bags};

struct Fixture {
    _dir: tempfile::TempDir,
    index: PathBuf,
    /// The index's files relative to it, in an order that does not depend on tantivy's
    /// random segment names: by extension, then name.
    files: Vec<PathBuf>,
}

fn files_under(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("listing the index") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files_under(root, &path, files);
        } else if !path.file_name().is_some_and(|name| name.to_string_lossy().ends_with(".lock")) {
            files.push(path.strip_prefix(root).expect("under the root").to_path_buf());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy");
    for entry in std::fs::read_dir(from).expect("listing the index") {
        let path = entry.expect("a directory entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copying a file");
        }
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    // tamis-lexical contains tantivy's panics on some damaged files (`Error::Damaged`);
    // libFuzzer's hook would abort on those too. This hook only prints: a panic that
    // escapes the target still aborts (libfuzzer-sys catches it and aborts), so it is
    // still a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("{info}"))));
    FIXTURE.get_or_init(|| {
        let dir = tamis_fuzz::scratch_dir("tamis-fuzz-store");
        let index_dir = dir.path().join("index");
        let mut settings = IndexSettings::new("hash-embedder", HASH_DIMENSION);
        // Above this many chunks the vectors live in a saved HNSW graph: corrupt that too.
        settings.exact_below = 1;
        let mut index = tamis_embedded::create(&index_dir, settings).expect("creating the index");
        let documents = word_bags(24).into_iter().enumerate().map(|(idx, text)| {
            let metadata = serde_json::json!({"n": idx, "tags": ["a", if idx % 2 == 0 { "even" } else { "odd" }]});
            Ok(Document { id: format!("d{idx}"), title: format!("title {idx}"), text, metadata: Some(metadata) })
        });
        let models = IngestModels::new(&HashEmbedder, &HashEmbedder);
        ingest(&mut index, documents, models, IngestConfig::default(), &mut Silent)
            .expect("ingesting the documents");
        drop(index);
        let mut files = Vec::new();
        files_under(&index_dir, &index_dir, &mut files);
        files.sort_by_key(|path| (path.extension().map(|e| e.to_os_string()), path.clone()));
        assert!(files.iter().any(|f| f.ends_with("vectors.usearch")), "no HNSW file: {files:?}");
        Fixture { _dir: dir, index: index_dir, files }
    })
}

fn corrupt(file: &Path, mode: u8, patches: &[u8]) {
    let mut bytes = std::fs::read(file).expect("reading the file to corrupt");
    if bytes.is_empty() {
        return;
    }
    let (patches, length) = match (mode & 2 != 0, patches.len().checked_sub(4)) {
        (true, Some(at)) => (&patches[..at], Some(&patches[at..])),
        _ => (patches, None),
    };
    if mode & 1 != 0 {
        for patch in patches.chunks_exact(5) {
            let offset = u32::from_le_bytes([patch[0], patch[1], patch[2], patch[3]]) as usize;
            let len = bytes.len();
            bytes[offset % len] = patch[4];
        }
    }
    if let Some(length) = length {
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        bytes.truncate(length % bytes.len());
    }
    std::fs::write(file, bytes).expect("writing the corrupted file");
}

fuzz_target!(|data: &[u8]| {
    let [selector, mode, patches @ ..] = data else { return };
    let fixture = fixture();
    let scratch = tamis_fuzz::scratch_dir("tamis-fuzz-store-copy");
    let copy = scratch.path().join("index");
    copy_dir(&fixture.index, &copy);
    let file = &fixture.files[usize::from(*selector) % fixture.files.len()];
    corrupt(&copy.join(file), *mode, patches);

    let Ok(index) = tamis_embedded::open(&copy) else { return };
    let filter = Filter::parse(r#"tags = "even" and n >= 3"#).expect("a valid filter");
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        for filter in [None, Some(&filter)] {
            let mut request = SearchRequest::new("alpha beta sieve", mode);
            request.filter = filter;
            if let Ok(hits) = index.search(&request, Some(&HashEmbedder)) {
                assert!(hits.len() <= request.k);
            }
        }
    }
    let _ = index.stats();
});
