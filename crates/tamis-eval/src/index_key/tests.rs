use tamis_engine::chunker::{ChunkMode, ChunkingConfig};
use tamis_engine::{
    Bm25Params, HnswSettings, IndexSettings, LateInteractionSettings, LexicalFields,
    LexicalSettings, TokenStorage,
};

use super::IndexKey;

/// Every field written out, so that a change of a default cannot move the pinned key.
fn settings() -> IndexSettings {
    IndexSettings {
        embedder_id: "sentence-transformers/all-MiniLM-L6-v2@abc123".to_string(),
        dimension: 384,
        chunking: ChunkingConfig {
            max_tokens: None,
            overlap_tokens: 32,
            prepend_title: true,
            mode: ChunkMode::Windows,
        },
        lexical: LexicalSettings {
            stemming: true,
            stopwords: true,
            fields: LexicalFields::Multifield,
            bm25: Bm25Params::LEGACY,
        },
        hnsw: HnswSettings { m: 16, ef_construction: 128, ef_search: 64 },
        exact_below: 20_000,
        late_interaction: None,
    }
}

const CORPUS_SHA256: [u8; 32] = [7; 32];

/// Late-interaction settings the changes below start from (a change sets them first).
fn late() -> LateInteractionSettings {
    LateInteractionSettings { model_id: "m".into(), dimension: 128, storage: TokenStorage::F16 }
}

/// The key is stored on disk (directory and collection names): it changes only with
/// `INDEX_KEY_FORMAT`. If this test fails, the text changed; raise the format and pin the
/// new key.
#[test]
fn the_key_of_fixed_settings_is_pinned() {
    let key = IndexKey::new("nfcorpus", CORPUS_SHA256, &settings(), "fp32");
    assert_eq!(
        key.description(),
        "tamis eval index key, format 2\n\
         corpus.sha256 = 0707070707070707070707070707070707070707070707070707070707070707\n\
         embedder_id = \"sentence-transformers/all-MiniLM-L6-v2@abc123\"\n\
         embedder.precision = \"fp32\"\n\
         dimension = 384\n\
         chunking.mode = windows\n\
         chunking.max_tokens = none\n\
         chunking.overlap_tokens = 32\n\
         chunking.prepend_title = true\n\
         lexical.stemming = true\n\
         lexical.stopwords = true\n\
         lexical.fields = multifield\n\
         hnsw.m = 16\n\
         hnsw.ef_construction = 128\n\
         hnsw.ef_search = 64\n\
         exact_below = 20000\n"
    );
    assert_eq!(key.name(), "nfcorpus-606791fd7f0594d6");
}

/// A change of one setting, named.
type Change = (&'static str, fn(&mut IndexSettings));

#[test]
fn every_setting_and_the_corpus_change_the_key() {
    let base = IndexKey::new("d", CORPUS_SHA256, &settings(), "fp32").name();
    let changes: Vec<Change> = vec![
        ("embedder_id", |s| s.embedder_id.push('x')),
        ("dimension", |s| s.dimension = 768),
        ("chunking.mode", |s| s.chunking.mode = ChunkMode::Whole),
        ("chunking.max_tokens", |s| s.chunking.max_tokens = Some(256)),
        ("chunking.overlap_tokens", |s| s.chunking.overlap_tokens = 0),
        ("chunking.prepend_title", |s| s.chunking.prepend_title = false),
        ("lexical.stemming", |s| s.lexical.stemming = false),
        ("lexical.stopwords", |s| s.lexical.stopwords = false),
        ("lexical.fields", |s| s.lexical.fields = LexicalFields::Concatenated),
        ("hnsw.m", |s| s.hnsw.m = 32),
        ("hnsw.ef_construction", |s| s.hnsw.ef_construction = 200),
        ("hnsw.ef_search", |s| s.hnsw.ef_search = 100),
        ("exact_below", |s| s.exact_below = 0),
        ("late_interaction", |s| s.late_interaction = Some(late())),
        ("late_interaction.model_id", |s| {
            s.late_interaction = Some(LateInteractionSettings { model_id: "m2".into(), ..late() })
        }),
        ("late_interaction.dimension", |s| {
            s.late_interaction = Some(LateInteractionSettings { dimension: 96, ..late() })
        }),
        ("late_interaction.storage", |s| {
            s.late_interaction =
                Some(LateInteractionSettings { storage: TokenStorage::Int8, ..late() })
        }),
    ];
    let mut names = std::collections::HashSet::from([base.clone()]);
    for (field, change) in &changes {
        let mut changed = settings();
        change(&mut changed);
        let name = IndexKey::new("d", CORPUS_SHA256, &changed, "fp32").name();
        assert!(names.insert(name), "changing {field} left the key {base} or another's");
    }
    let other_corpus = IndexKey::new("d", [8; 32], &settings(), "fp32").name();
    assert!(names.insert(other_corpus), "another corpus left the key");
    // Documents embedded in another precision are other documents.
    for precision in ["bf16x3", "bf16", "int8"] {
        let name = IndexKey::new("d", CORPUS_SHA256, &settings(), precision).name();
        assert!(names.insert(name), "precision {precision} left the key {base} or another's");
    }
    // The dataset name is the readable prefix, not part of the digest.
    let renamed = IndexKey::new("scifact", CORPUS_SHA256, &settings(), "fp32").name();
    assert_eq!(renamed.strip_prefix("scifact"), base.strip_prefix("d"));
}

#[test]
fn bm25_parameters_leave_the_key_alone() {
    // They apply at query time: a sweep reuses the one index and its embeddings.
    let base = IndexKey::new("d", CORPUS_SHA256, &settings(), "fp32");
    let mut swept = settings();
    swept.lexical.bm25 = Bm25Params { k1: 0.9, b: 0.4, title_weight: 2.0 };
    assert_eq!(IndexKey::new("d", CORPUS_SHA256, &swept, "fp32"), base);
}

#[test]
fn an_embedder_id_cannot_forge_another_line() {
    let mut forged = settings();
    forged.embedder_id = "m\"\ndimension = 768".to_string();
    let key = IndexKey::new("d", CORPUS_SHA256, &forged, "fp32");
    assert!(key.description().contains("embedder_id = \"m\\\"\\ndimension = 768\"\n"));
    assert_eq!(key.description().lines().filter(|l| l.starts_with("dimension")).count(), 1);
}

#[test]
fn a_dataset_directory_is_keyed_by_its_corpus_bytes_and_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("my data.v2");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("corpus.jsonl"), "{\"_id\": \"d1\", \"text\": \"x\"}\n").unwrap();
    let key = IndexKey::for_dataset(&dir, &settings(), "fp32").unwrap();
    let expected: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(b"{\"_id\": \"d1\", \"text\": \"x\"}\n").into()
    };
    assert_eq!(key, IndexKey::new("my_data_v2", expected, &settings(), "fp32"));
    assert!(key.name().starts_with("my_data_v2-"), "{}", key.name());

    let empty = root.path().join("empty");
    fs_err::create_dir_all(&empty).unwrap();
    let err = IndexKey::for_dataset(&empty, &settings(), "fp32").unwrap_err();
    assert!(matches!(err, crate::Error::MissingFile { .. }), "{err}");
}
