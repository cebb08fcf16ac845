use tamis_engine::chunker::{ChunkMode, ChunkingConfig};
use tamis_engine::{
    Bm25Params, HnswSettings, IndexSettings, LateInteractionSettings, LexicalFields,
    LexicalSettings, TokenStorage,
};
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
            bm25: Bm25Params { k1: 0.5, b: 0.3, title_weight: 1.0 },
        },
        hnsw: HnswSettings { m: 8, ef_construction: 64, ef_search: 200 },
        exact_below: 7,
        late_interaction: Some(LateInteractionSettings {
            model_id: "org/colbert@def456".into(),
            dimension: 96,
            storage: TokenStorage::Int8,
        }),
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
        ("bm25_b", "0.3"),
        ("bm25_fields", "concatenated"),
        ("bm25_k1", "0.5"),
        ("bm25_stemming", "false"),
        ("bm25_stopwords", "true"),
        ("bm25_title_weight", "1"),
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
        ("late_dimension", "96"),
        ("late_model", "org/colbert@def456"),
        ("late_storage", "int8"),
        ("schema_version", "1"),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    assert_eq!(rows, expected);
    // The BM25 directory records its analyzer too (tamis-lexical's file).
    let lexical =
        fs_err::read_to_string(dir.path().join("bm25").join(tamis_lexical::SETTINGS_FILE)).unwrap();
    for line in [
        "format = 2",
        "stemming = false",
        "stopwords = true",
        "fields = concatenated",
        "k1 = 0.5",
        "b = 0.3",
        "title_weight = 1",
    ] {
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
            let bm25 = Bm25Params { k1: 0.9, b: 0.4, title_weight: 1.0 };
            let settings = LexicalSettings { stemming, stopwords, fields, bm25 };
            let config = bm25_config(&settings);
            assert_eq!(lexical_settings(&config), settings);
            assert_eq!(config.fields.name(), fields.name());
            assert_eq!(FieldMode::from_name(fields.name()), Some(config.fields));
        }
    }
}

#[test]
fn an_index_recorded_before_the_bm25_parameters_keeps_tantivys() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = unusual();
    settings.lexical.bm25 = Bm25Params { k1: 0.7, ..Bm25Params::LEGACY };
    drop(EmbeddedBackend::create(dir.path(), settings).unwrap());
    let store = crate::store::Store::open(dir.path()).unwrap();
    assert_eq!(super::recorded_bm25(&store).unwrap().unwrap().params.k1, 0.7);
    // What an index made before they were recorded holds: none of the three.
    let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).unwrap();
    conn.execute(
        "DELETE FROM settings WHERE name IN ('bm25_k1', 'bm25_b', 'bm25_title_weight')",
        [],
    )
    .unwrap();
    let config = super::recorded_bm25(&store).unwrap().unwrap();
    assert_eq!(config.params, Bm25Params::LEGACY);
    conn.execute("INSERT INTO settings (name, value) VALUES ('bm25_b', '7')", []).unwrap();
    let err = super::recorded_bm25(&store).unwrap_err();
    assert!(err.to_string().contains("BM25 b = 7"), "{err}");
}

#[test]
fn bm25_parameters_out_of_range_create_nothing() {
    for (k1, b, title_weight, needle) in [
        (-1.0, 0.5, 1.0, "k1 = -1"),
        (1.0, 1.5, 1.0, "b = 1.5"),
        (1.0, f32::NAN, 1.0, "b = NaN"),
        (1.0, 0.5, 0.0, "title_weight = 0"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("index");
        let mut settings = unusual();
        settings.lexical.bm25 = Bm25Params { k1, b, title_weight };
        let err = EmbeddedBackend::create(&target, settings).unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert_eq!(err.kind(), tamis_engine::ErrorKind::User, "{err}");
        assert!(!target.join(STORE_FILE).exists());
    }
}
