use serde_json::json;
use tamis_engine::{Bm25Params, IndexSettings, LexicalFields};

use super::{PgOptions, StoredSettings};

/// The format of `tamis_collections.settings`: collections made by earlier versions hold
/// exactly these keys and values, and must keep opening.
#[test]
fn collections_record_the_settings_under_their_released_names() {
    let defaults = IndexSettings::new("e", 384);
    let stored = StoredSettings::new(&defaults, PgOptions::default()).unwrap();
    let chunking =
        json!({"max_tokens": null, "overlap_tokens": 32, "prepend_title": true, "mode": "windows"});
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        json!({
            "embedder": "e", "dimension": 384, "chunking": chunking, "exact_below": 20000,
            "text_search": "english", "stemming": true, "stopwords": true, "fields": "multifield",
            "bm25": {"k1": 1.2, "b": 0.75, "title_weight": 0.5},
            "hnsw_m": 16, "hnsw_ef_construction": 128, "hnsw_ef_search": 64,
            "halfvec": false, "normalized": false,
        })
    );
    assert_eq!(stored.index_settings(), defaults);

    let mut unusual = IndexSettings::new("org/model@abc123", 384);
    unusual.lexical.stemming = false;
    unusual.lexical.stopwords = false;
    unusual.lexical.fields = LexicalFields::Concatenated;
    unusual.lexical.bm25 = Bm25Params { k1: 0.9, b: 0.4, title_weight: 1.0 };
    unusual.hnsw.m = 8;
    unusual.hnsw.ef_construction = 64;
    unusual.hnsw.ef_search = 200;
    let options = PgOptions { halfvec: true, normalized: true };
    let stored = StoredSettings::new(&unusual, options).unwrap();
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        json!({
            "embedder": "org/model@abc123", "dimension": 384, "chunking": chunking,
            "exact_below": 20000, "text_search": "simple", "stemming": false, "stopwords": false,
            "fields": "concatenated",
            "bm25": {"k1": 0.9, "b": 0.4, "title_weight": 1.0},
            "hnsw_m": 8, "hnsw_ef_construction": 64, "hnsw_ef_search": 200,
            "halfvec": true, "normalized": true,
        })
    );
    assert_eq!(stored.index_settings(), unusual);
}

/// tamis's analyzer stems and drops stop words independently (PostgreSQL's `english` and
/// `simple` could only do both or neither); collections recorded before the two flags
/// take both from `text_search`.
#[test]
fn stemming_and_stop_words_are_recorded_apart() {
    for (stemming, stopwords) in [(true, false), (false, true)] {
        let mut settings = IndexSettings::new("e", 384);
        settings.lexical.stemming = stemming;
        settings.lexical.stopwords = stopwords;
        let stored = StoredSettings::new(&settings, PgOptions::default()).unwrap();
        assert_eq!(stored.index_settings(), settings);
    }
    for (config, both) in [("english", true), ("simple", false)] {
        let stored =
            StoredSettings::new(&IndexSettings::new("e", 384), PgOptions::default()).unwrap();
        let mut value = serde_json::to_value(&stored).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("stemming");
        object.remove("stopwords");
        object.insert("text_search".into(), config.into());
        let old: StoredSettings = serde_json::from_value(value).unwrap();
        let lexical = old.index_settings().lexical;
        assert_eq!((lexical.stemming, lexical.stopwords), (both, both), "{config}");
    }
}

#[test]
fn a_collection_recorded_before_the_bm25_parameters_keeps_tantivys() {
    let stored = StoredSettings::new(&IndexSettings::new("e", 384), PgOptions::default()).unwrap();
    let mut value = serde_json::to_value(&stored).unwrap();
    value.as_object_mut().unwrap().remove("bm25");
    let old: StoredSettings = serde_json::from_value(value).unwrap();
    assert_eq!(old.index_settings().lexical.bm25, Bm25Params::LEGACY);
}

#[test]
fn bm25_parameters_out_of_range_are_refused() {
    let mut settings = IndexSettings::new("e", 384);
    settings.lexical.bm25.b = 2.0;
    let err = StoredSettings::new(&settings, PgOptions::default()).unwrap_err();
    assert!(err.to_string().contains("BM25 b = 2 is invalid"), "{err}");
}

#[test]
fn late_interaction_settings_are_recorded_and_read_back() {
    let mut settings = IndexSettings::new("e", 384);
    settings.late_interaction = Some(tamis_engine::LateInteractionSettings {
        model_id: "colbert".into(),
        dimension: 96,
        storage: tamis_engine::TokenStorage::Int8,
    });
    let stored = StoredSettings::new(&settings, PgOptions::default()).unwrap();
    let json = serde_json::to_value(&stored).unwrap();
    assert_eq!(json["late_interaction"]["storage"], "int8");
    let read: StoredSettings = serde_json::from_value(json).unwrap();
    assert_eq!(read.index_settings().late_interaction, settings.late_interaction);
    // Recorded only when set: older collections' settings read as before.
    let plain = StoredSettings::new(&IndexSettings::new("e", 384), PgOptions::default()).unwrap();
    assert!(serde_json::to_value(&plain).unwrap().get("late_interaction").is_none());

    settings.late_interaction.as_mut().unwrap().dimension = 0;
    let err = StoredSettings::new(&settings, PgOptions::default()).unwrap_err();
    assert!(err.to_string().contains("token vectors of 0 dimensions"), "{err}");
}
