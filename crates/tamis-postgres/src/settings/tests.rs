use serde_json::json;
use tamis_engine::{IndexSettings, LexicalFields};

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
            "text_search": "english", "fields": "multifield",
            "hnsw_m": 16, "hnsw_ef_construction": 128, "hnsw_ef_search": 64,
            "halfvec": false, "normalized": false,
        })
    );
    assert_eq!(stored.index_settings(), defaults);

    let mut unusual = IndexSettings::new("org/model@abc123", 384);
    unusual.lexical.stemming = false;
    unusual.lexical.stopwords = false;
    unusual.lexical.fields = LexicalFields::Concatenated;
    unusual.hnsw.m = 8;
    unusual.hnsw.ef_construction = 64;
    unusual.hnsw.ef_search = 200;
    let options = PgOptions { halfvec: true, normalized: true };
    let stored = StoredSettings::new(&unusual, options).unwrap();
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        json!({
            "embedder": "org/model@abc123", "dimension": 384, "chunking": chunking,
            "exact_below": 20000, "text_search": "simple", "fields": "concatenated",
            "hnsw_m": 8, "hnsw_ef_construction": 64, "hnsw_ef_search": 200,
            "halfvec": true, "normalized": true,
        })
    );
    assert_eq!(stored.index_settings(), unusual);
}
