use serde_json::json;

use super::Filter;

fn check(expression: &str, metadata: serde_json::Value, expect: bool) {
    let filter = Filter::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    assert_eq!(filter.matches(&metadata), expect, "{expression} on {metadata}");
}

#[test]
fn comparisons_table() {
    let doc = json!({"lang": "en", "year": 2015, "score": 0.5, "tags": ["a", "b"], "draft": false,
                     "source": {"name": "pubmed"}, "empty": null});
    for (expression, expect) in [
        (r#"lang = "en""#, true),
        (r#"lang == 'en'"#, true),
        (r#"lang = "fr""#, false),
        (r#"lang != "fr""#, true),
        ("year >= 2015", true),
        ("year > 2015", false),
        ("year < 2020 and year > 2000", true),
        ("score <= 0.5", true),
        ("score < 5e-1", false),
        ("year = 2015.0", true),
        (r#"tags = "b""#, true),
        (r#"tags in ["x", "a"]"#, true),
        (r#"lang in ["de", "fr"]"#, false),
        ("draft = false", true),
        (r#"source.name = "pubmed""#, true),
        ("exists(source.name)", true),
        ("exists(empty)", false),
        ("exists(missing)", false),
        ("missing > 1", false),
        ("not missing > 1", true),
        (r#"year > "2000""#, false), // a number never compares with a string
        (r#"lang = "fr" or year = 2015 and draft = false"#, true), // and binds tighter
        (r#"(lang = "fr" or year = 2015) and draft = true"#, false),
        (r#"NOT lang = "fr" AND Exists(tags)"#, true),
    ] {
        check(expression, doc.clone(), expect);
    }
}

#[test]
fn documents_without_metadata_match_only_negations() {
    check(r#"lang = "en""#, serde_json::Value::Null, false);
    check(r#"lang != "en""#, serde_json::Value::Null, true);
}

#[test]
fn errors_name_the_position() {
    for (expression, position, needle) in [
        ("lang =", 6, "expected a value"),
        (r#"lang = "en"#, 7, "unterminated string"),
        ("lang ~ 1", 5, "unexpected character"),
        (r#"lang = "en" lang"#, 12, "unexpected 'lang'"),
        ("(year > 1", 9, "expected ')'"),
        ("tags in [1 2]", 11, "expected ',' or ']'"),
        ("year > 12ab", 7, "is not a number"),
        ("", 0, "expected a field name"),
    ] {
        let err = Filter::parse(expression).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(needle), "{expression}: {message}");
        assert!(message.contains(&format!("character {position}")), "{expression}: {message}");
    }
}
