use serde_json::json;

use super::{CompareOp, Filter, FilterLimit, FilterLimits};
use crate::{Error, ErrorKind};

fn check(expression: &str, metadata: serde_json::Value, expect: bool) {
    check_with(expression, &FilterLimits::default(), &metadata, expect);
}

fn check_with(expression: &str, limits: &FilterLimits, metadata: &serde_json::Value, expect: bool) {
    let filter =
        Filter::parse_with(expression, limits).unwrap_or_else(|e| panic!("{expression}: {e}"));
    assert_eq!(filter.matches(metadata), expect, "{expression} on {metadata}");
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

fn height(filter: &Filter) -> usize {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => 1 + height(a).max(height(b)),
        Filter::Not(inner) => 1 + height(inner),
        _ => 1,
    }
}

/// The bound on the parsed tree's height that `FilterLimits`' documentation derives.
fn height_bound(limits: &FilterLimits) -> usize {
    let log2_terms = limits.max_terms.next_power_of_two().trailing_zeros() as usize;
    limits.max_depth + 2 * (limits.max_depth + 1) * log2_terms + 2
}

fn too_large(expression: &str, limits: &FilterLimits) -> FilterLimit {
    match Filter::parse_with(expression, limits) {
        Err(err @ Error::FilterTooLarge { limit, max }) => {
            assert_eq!(err.kind(), ErrorKind::User);
            assert_eq!(max, limits.get(limit));
            let message = err.to_string();
            for needle in [limit.name(), limit.flag(), &max.to_string()] {
                assert!(message.contains(needle), "{message} lacks {needle}");
            }
            limit
        }
        other => panic!("{}...: {other:?}", &expression[..expression.len().min(40)]),
    }
}

#[test]
fn issue_18_probes_are_refused_without_overflowing() {
    let limits = FilterLimits::default();
    let parentheses = |n| format!("{}a = 1{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(too_large(&parentheses(2000), &limits), FilterLimit::Depth);
    assert_eq!(too_large(&parentheses(8000), &limits), FilterLimit::Depth);
    assert_eq!(too_large(&format!("{}a = 1", "not ".repeat(5000)), &limits), FilterLimit::Depth);
    assert_eq!(too_large(&format!("{}a = 1", "not ".repeat(1000)), &limits), FilterLimit::Depth);
    let chain = vec!["a = 1"; 50_000].join(" and ");
    assert_eq!(too_large(&chain, &limits), FilterLimit::Bytes);
    // The same chain within generous bytes still stops at the terms.
    let bytes = FilterLimits { max_bytes: 1 << 20, ..limits };
    assert_eq!(too_large(&chain, &bytes), FilterLimit::Terms);
    // Depth is counted before recursing, so even the ceiling's limits refuse it in time.
    assert_eq!(too_large(&parentheses(100_000), &FilterLimits::CEILING), FilterLimit::Depth);
}

#[test]
fn filters_at_the_limits_parse_and_one_more_does_not() {
    let limits = FilterLimits { max_depth: 6, max_terms: 40, max_bytes: 100 };
    let doc = json!({"a": 1, "tags": ["x"]});
    for (expression, expect) in [
        ("((((((a = 1))))))", true),
        ("not not not not not not a = 1", true),
        ("not (not (not (a = 1)))", false),
        ("not ((not (a = 1 and not a = 1)))", false),
    ] {
        check_with(expression, &limits, &doc, expect);
        for deeper in [format!("({expression})"), format!("not {expression}")] {
            assert_eq!(too_large(&deeper, &limits), FilterLimit::Depth, "{deeper}");
        }
    }
    let limits = FilterLimits { max_depth: 6, max_terms: 4, max_bytes: 1000 };
    for expression in [
        "a = 1 and a = 1 or a = 1 and a != 2",
        "a in [1, 2, 3, 4]",
        "exists(a) or a in [1, 2] or not a = 3",
    ] {
        check_with(expression, &limits, &doc, true);
        let more = format!("{expression} or exists(tags)");
        assert_eq!(too_large(&more, &limits), FilterLimit::Terms, "{more}");
    }
    assert_eq!(too_large("a in [1, 2, 3, 4, 5]", &limits), FilterLimit::Terms);
    let limits = FilterLimits { max_bytes: 9, ..limits };
    check_with("a = 'é' ", &limits, &doc, false); // 'é' is 2 bytes: 9 in all
    assert_eq!(too_large("a = 'é'  ", &limits), FilterLimit::Bytes);
}

#[test]
fn the_default_limits_bound_the_tree_as_documented() {
    let limits = FilterLimits::default();
    assert_eq!(height_bound(&limits), 694);
    let doc = json!({"lang": "fr", "year": 1000, "draft": true});
    for (name, expression) in tamis_testkit::filters_at_limits(limits.max_depth, limits.max_terms) {
        let filter = Filter::parse_with(&expression, &limits).unwrap();
        assert!(height(&filter) <= height_bound(&limits), "{name}: {}", height(&filter));
        filter.matches(&doc);
        if name != "and_chain" && name != "or_chain" && name != "in_list" {
            assert_eq!(too_large(&format!("({expression})"), &limits), FilterLimit::Depth);
        }
        if name != "parentheses" && name != "nots" && name != "not_parentheses" {
            let more = format!("{expression} or exists(x)");
            assert_eq!(too_large(&more, &limits), FilterLimit::Terms, "{name}");
        }
    }
    // A chain of the most terms is balanced: 10 levels, not 1000.
    let chain = tamis_testkit::filters_at_limits(2, 1000).remove(3);
    assert_eq!(chain.0, "and_chain");
    assert_eq!(height(&Filter::parse(&chain.1).unwrap()), 10 + 1 + 1); // And…, Not, Compare
}

#[test]
fn balanced_chains_keep_the_meaning_of_and_and_or() {
    let doc = json!({"a": 3});
    for n in 1..=9 {
        for hit in 0..n {
            // Exactly one operand true: `or` passes, `and` does not (unless it is alone).
            let operands: Vec<String> = (0..n)
                .map(|i| if i == hit { "a = 3".into() } else { format!("a = {}", 10 + i) })
                .collect();
            check(&operands.join(" or "), doc.clone(), true);
            check(&operands.join(" and "), doc.clone(), n == 1);
            let negated: Vec<String> = operands.iter().map(|o| format!("not {o}")).collect();
            check(&negated.join(" and "), doc.clone(), false);
            check(&negated.join(" or "), doc.clone(), n > 1);
        }
    }
    // Operands keep their order, and `and` still binds tighter than `or`.
    let filter = Filter::parse("a = 1 or a = 2 and a = 3 or a = 4").unwrap();
    let compare = |n: i64| {
        Box::new(Filter::Compare { path: vec!["a".into()], op: CompareOp::Eq, value: json!(n) })
    };
    let and = Box::new(Filter::And(compare(2), compare(3)));
    let expected = Filter::Or(Box::new(Filter::Or(compare(1), and)), compare(4));
    assert_eq!(filter, expected);
}

#[test]
fn limits_out_of_range_are_refused() {
    let ok = FilterLimits::default();
    ok.validate().unwrap();
    FilterLimits::CEILING.validate().unwrap();
    for bad in [
        FilterLimits { max_depth: 0, ..ok },
        FilterLimits { max_terms: 0, ..ok },
        FilterLimits { max_bytes: 0, ..ok },
        FilterLimits { max_depth: FilterLimits::CEILING.max_depth + 1, ..ok },
        FilterLimits { max_terms: FilterLimits::CEILING.max_terms + 1, ..ok },
    ] {
        let err = bad.validate().unwrap_err();
        assert!(matches!(err, Error::InvalidFilterLimit { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::User);
        // The parser checks them too, so no caller can lift the bound on recursion.
        assert!(matches!(Filter::parse_with("a = 1", &bad), Err(Error::InvalidFilterLimit { .. })));
    }
}

/// Every walk over the tallest tree the ceilings allow fits a 1 MiB stack, half of what a
/// Rust or tokio thread gets by default, in a debug build: the ceilings leave margin.
#[test]
fn the_ceilings_fit_a_small_stack() {
    let limits = FilterLimits::CEILING;
    let worst = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let mut heights = Vec::new();
            for (_, expression) in
                tamis_testkit::filters_at_limits(limits.max_depth, limits.max_terms)
            {
                let filter = Filter::parse_with(&expression, &limits).unwrap();
                filter.matches(&json!({"lang": "en", "year": 3}));
                assert_eq!(filter.clone(), filter);
                let _ = format!("{filter:?}");
                heights.push(height(&filter));
                drop(filter);
            }
            heights.into_iter().max().unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(worst > 100 && worst <= height_bound(&limits), "{worst}");
}
