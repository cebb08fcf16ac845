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

/// Named filter expressions exactly at the limits `max_depth` (levels of parentheses and
/// `not`) and `max_terms` (comparisons, `exists` and `in` values), each the worst case of
/// one shape, over [`tricky_metadata`]'s fields: `tallest` spends the terms where they
/// make the parsed tree (and so the SQL) deepest, with every level of parentheses holding
/// an `or` and an `and` chain whose first operand is the next level.
pub fn filters_at_limits(max_depth: usize, max_terms: usize) -> Vec<(&'static str, String)> {
    assert!(max_depth >= 2 && max_terms >= 1, "limits too small for these shapes");
    let leaf = r#"lang = "en""#;
    let and_chain = (1..=max_terms)
        .map(|i| if i % 2 == 1 { format!("year != {i}") } else { format!("year > -{i}") })
        .collect::<Vec<_>>()
        .join(" and ");
    let values = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let not_parentheses =
        format!("{}{leaf}{}", "not (".repeat(max_depth / 2), ")".repeat(max_depth / 2));
    // Each of the max_depth + 1 levels holds two chains of `per_chain` operands.
    let chains = 2 * (max_depth + 1);
    let per_chain = 1 + (max_terms - 1) / chains;
    let mut tallest = format!("year in [{}]", values(max_terms - chains * (per_chain - 1)));
    for level in 0..=max_depth {
        let ands = format!(" and draft != {}", level % 2 == 0).repeat(per_chain - 1);
        let ors = r#" or lang >= "e""#.repeat(per_chain - 1);
        let chains = format!("{tallest}{ands}{ors}");
        tallest = if level < max_depth { format!("({chains})") } else { chains };
    }
    vec![
        ("parentheses", format!("{}{leaf}{}", "(".repeat(max_depth), ")".repeat(max_depth))),
        ("nots", format!("{}{leaf}", "not ".repeat(max_depth))),
        ("not_parentheses", not_parentheses),
        // Odd terms negated, even ones plain: top-level `EXISTS`es and `NOT EXISTS`es.
        ("and_chain", and_chain),
        (
            "or_chain",
            (1..=max_terms).map(|i| format!("year = {i}")).collect::<Vec<_>>().join(" or "),
        ),
        ("in_list", format!("year in [{}]", values(max_terms))),
        ("tallest", tallest),
    ]
}
