use super::{IndexSettings, SettingsOverrides};
use crate::chunker::ChunkMode;

fn defaults() -> IndexSettings {
    IndexSettings::new("model", 8)
}

#[test]
fn no_override_keeps_every_default() {
    let mut settings = defaults();
    SettingsOverrides::default().apply(&mut settings);
    assert_eq!(settings, defaults());
    assert!(SettingsOverrides::default().is_empty());
}

/// One knob, and the settings it must change (every other field keeps its default).
type Case = (SettingsOverrides, fn(&mut IndexSettings));

#[test]
fn each_override_sets_its_setting_and_only_it() {
    let none = SettingsOverrides::default();
    let cases: Vec<Case> = vec![
        (SettingsOverrides { chunking: Some(ChunkMode::Whole), ..none }, |s| {
            s.chunking.mode = ChunkMode::Whole
        }),
        (SettingsOverrides { chunk_tokens: Some(100), ..none }, |s| {
            s.chunking.max_tokens = Some(100)
        }),
        (SettingsOverrides { overlap: Some(4), ..none }, |s| s.chunking.overlap_tokens = 4),
        (SettingsOverrides { prepend_title: Some(false), ..none }, |s| {
            s.chunking.prepend_title = false
        }),
        (SettingsOverrides { stemming: Some(false), ..none }, |s| s.lexical.stemming = false),
        (SettingsOverrides { stopwords: Some(false), ..none }, |s| s.lexical.stopwords = false),
        (SettingsOverrides { bm25_k1: Some(0.9), ..none }, |s| s.lexical.bm25.k1 = 0.9),
        (SettingsOverrides { bm25_b: Some(0.4), ..none }, |s| s.lexical.bm25.b = 0.4),
        (SettingsOverrides { title_weight: Some(2.0), ..none }, |s| {
            s.lexical.bm25.title_weight = 2.0
        }),
        (SettingsOverrides { exact_below: Some(0), ..none }, |s| s.exact_below = 0),
        (SettingsOverrides { hnsw_m: Some(32), ..none }, |s| s.hnsw.m = 32),
        (SettingsOverrides { hnsw_ef_construction: Some(200), ..none }, |s| {
            s.hnsw.ef_construction = 200
        }),
        (SettingsOverrides { hnsw_ef_search: Some(10), ..none }, |s| s.hnsw.ef_search = 10),
    ];
    for (overrides, expected_change) in cases {
        assert!(!overrides.is_empty());
        let mut settings = defaults();
        overrides.apply(&mut settings);
        let mut expected = defaults();
        expected_change(&mut expected);
        assert_eq!(settings, expected, "{overrides:?}");
        assert_ne!(settings, defaults(), "{overrides:?} changed nothing");
    }
}
