//! One table of metadata and filter expressions that exercises every typing rule of the
//! engine's filters; each SQL translation (SQLite, PostgreSQL) is tested on it against
//! the Rust evaluator.

use serde_json::{Value, json};

/// Documents' metadata (`None`: a document without any).
pub fn tricky_metadata() -> Vec<Option<Value>> {
    vec![
        Some(json!({"lang": "en", "year": 2001, "score": 0.5, "tags": ["a", "b"]})),
        Some(json!({"lang": "fr", "year": 2015, "tags": ["b"], "draft": true})),
        Some(json!({"lang": "de", "year": "2015", "tags": "a", "draft": false})),
        Some(json!({"lang": null, "year": 2015.0, "tags": [], "nested": {"x": 1}})),
        Some(json!({"lang": ["en", "fr"], "nested": {"x": "1", "y": [1, 2]}, "score": -3})),
        Some(json!({"lang": {"en": "en"}, "year": [1999, 2020], "tags": [["a"]]})),
        Some(json!({"lang": "Été", "year": 1e3, "name-with-dash": "ok", "日本": "語"})),
        Some(json!({})),
        Some(json!({"draft": [true, false], "score": 1e20})),
        Some(json!({"lang": "en\"b", "a\"b": 1, "year": -0.0})),
        None,
    ]
}

/// Filter expressions over [`tricky_metadata`]: some match several documents, some none.
pub const FILTER_EXPRESSIONS: &[&str] = &[
    r#"lang = "en""#,
    r#"lang != "en""#,
    r#"lang in ["fr", "de"]"#,
    r#"lang in ["x"]"#,
    r#"lang >= "e""#,
    r#"lang < "f""#,
    r#"lang = "Été""#,
    r#"lang > "Z""#,
    "exists(lang)",
    "not exists(lang)",
    "exists(nested.x)",
    "nested.x = 1",
    r#"nested.x = "1""#,
    "nested.y = 2",
    "exists(nested)",
    "year = 2015",
    "year >= 2015",
    "year < 2010",
    "year = 0",
    r#"year = "2015""#,
    r#"year < "3""#,
    "year in [1999, 2015]",
    "score > 0",
    "score <= -3",
    "score >= 1e19",
    "tags = \"a\"",
    "tags in [\"a\", \"b\"]",
    "not tags = \"a\"",
    "exists(tags)",
    "draft = true",
    "draft = false",
    "draft != true",
    "draft > false",
    "name-with-dash = \"ok\"",
    "日本 = \"語\"",
    r#"lang = "en" and year < 2010"#,
    r#"lang = "en" or year = 2015"#,
    r#"not (lang = "en" or draft = true) and exists(year)"#,
    "missing = 1",
    "not missing = 1",
];
