use tamis_engine::chunker::{ChunkMode, ChunkingConfig};
use tamis_engine::{HnswSettings, IndexSettings, LexicalFields, LexicalSettings};
use tamis_lexical::{Bm25Config, FieldMode};
use tamis_vector::HnswParams;

use super::{bm25_config, hnsw_params, lexical_settings};
use crate::EmbeddedBackend;
use crate::store::STORE_FILE;

/// Settings that differ from every default, so that each one is seen to be recorded.
fn unusual() -> IndexSettings {
    IndexSettings {
        embedder_id: "org/model@abc123".into(),
        dimension: 64,
        chunking: ChunkingConfig {
            max_tokens: Some(100),
            overlap_tokens: 16,
            prepend_title: false,
            mode: ChunkMode::Whole,
        },
        lexical: LexicalSettings {
            stemming: false,
            stopwords: true,
            fields: LexicalFields::Concatenated,
        },
        hnsw: HnswSettings { m: 8, ef_construction: 64, ef_search: 200 },
        exact_below: 7,
    }
}

/// The on-disk format: indexes written by earlier versions record exactly these names and
/// values, and must keep opening.
#[test]
fn the_store_records_the_settings_under_their_released_names() {
    let dir = tempfile::tempdir().unwrap();
    drop(EmbeddedBackend::create(dir.path(), unusual()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).unwrap();
    let mut statement = conn.prepare("SELECT name, value FROM settings ORDER BY name").unwrap();
    let rows: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let expected = [
        ("bm25_fields", "concatenated"),
        ("bm25_stemming", "false"),
        ("bm25_stopwords", "true"),
        (
            "chunking",
            r#"{"max_tokens":100,"overlap_tokens":16,"prepend_title":false,"mode":"whole"}"#,
        ),
        ("dimension", "64"),
        ("embedder", "org/model@abc123"),
        ("exact_below", "7"),
        ("hnsw_ef_construction", "64"),
        ("hnsw_ef_search", "200"),
        ("hnsw_m", "8"),
        ("schema_version", "1"),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    assert_eq!(rows, expected);
    // The BM25 directory records its analyzer too (tamis-lexical's file).
    let lexical =
        fs_err::read_to_string(dir.path().join("bm25").join(tamis_lexical::SETTINGS_FILE)).unwrap();
    for line in ["stemming = false", "stopwords = true", "fields = concatenated"] {
        assert!(lexical.lines().any(|l| l == line), "{line:?} in {lexical}");
    }
    // And they read back as they were given.
    let reopened = EmbeddedBackend::open(dir.path()).unwrap();
    assert_eq!(tamis_engine::backend::Backend::settings(&reopened), &unusual());
}

#[test]
fn the_engine_defaults_are_the_libraries_measured_ones() {
    assert_eq!(bm25_config(&LexicalSettings::default()), Bm25Config::default());
    assert_eq!(hnsw_params(&HnswSettings::default()), HnswParams::default());
}

#[test]
fn lexical_settings_map_both_ways_under_the_same_names() {
    for fields in [LexicalFields::Multifield, LexicalFields::Concatenated] {
        for (stemming, stopwords) in [(true, true), (true, false), (false, true), (false, false)] {
            let settings = LexicalSettings { stemming, stopwords, fields };
            let config = bm25_config(&settings);
            assert_eq!(lexical_settings(&config), settings);
            assert_eq!(config.fields.name(), fields.name());
            assert_eq!(FieldMode::from_name(fields.name()), Some(config.fields));
        }
    }
}
