//! Table-driven tests of the analyzer; `tamis-lexical` checks it against tantivy's chain on
//! the shared corpora.

use super::*;

#[track_caller]
fn check(stemming: bool, stopwords: bool, text: &str, expected: &[&str]) {
    assert_eq!(Analyzer::new(stemming, stopwords).terms(text), expected, "{text:?}");
}

#[test]
fn runs_of_alphanumerics_are_the_terms() {
    check(false, false, "", &[]);
    check(false, false, "  ,.;!? ", &[]);
    check(false, false, "e-mail: x@y.z (v2.0)", &["e", "mail", "x", "y", "z", "v2", "0"]);
    check(false, false, "under_score tab\there", &["under", "score", "tab", "here"]);
    check(false, false, "Ünïcödé 東京タワー ٣٤", &["ünïcödé", "東京タワー", "٣٤"]);
}

#[test]
fn case_is_folded_character_by_character() {
    check(false, false, "HeLLo WORLD", &["hello", "world"]);
    // No final-sigma rule: every Σ becomes σ.
    check(false, false, "ΟΔΟΣ", &["οδοσ"]);
    // Lowercasing may change a term's length in bytes: İ (2 bytes) becomes i̇ (3).
    check(false, false, "İSTANBUL", &["i\u{307}stanbul"]);
}

#[test]
fn long_runs_are_dropped_by_their_length_before_lowercasing() {
    let kept = "a".repeat(MAX_TERM_BYTES);
    let dropped = "a".repeat(MAX_TERM_BYTES + 1);
    check(false, false, &format!("{kept} {dropped} ok"), &[kept.as_str(), "ok"]);
    // 19 × İ is 38 bytes as typed (kept), 57 once lowercased.
    let dotted = "İ".repeat(19);
    assert_eq!(Analyzer::new(false, false).terms(&dotted).len(), 1);
    let dotted = "İ".repeat(20);
    assert!(Analyzer::new(false, false).terms(&dotted).is_empty());
}

#[test]
fn stop_words_go_before_stemming() {
    check(false, true, "The cat and THE hat", &["cat", "hat"]);
    check(false, false, "The cat", &["the", "cat"]);
    // "thing" is no stop word; "this" is, and goes before a stemmer could touch it.
    check(true, true, "this thing", &["thing"]);
    assert_eq!(ENGLISH_STOP_WORDS.len(), 33);
    assert!(ENGLISH_STOP_WORDS.is_sorted());
}

#[test]
fn stemming_is_snowball_english() {
    check(true, false, "running runs ran easily", &["run", "run", "ran", "easili"]);
    check(true, true, "The Running of the Bulls!", &["run", "bull"]);
    check(false, true, "The Running of the Bulls!", &["running", "bulls"]);
}

#[test]
fn for_each_term_sees_what_terms_returns() {
    let analyzer = Analyzer::new(true, true);
    let text = "Vitamin D and sunlight: 2 studies, 12 patients";
    let mut seen = Vec::new();
    analyzer.for_each_term(text, |t| seen.push(t.to_owned()));
    assert_eq!(seen, analyzer.terms(text));
    assert_eq!(format!("{analyzer:?}"), "Analyzer { stemming: true, stopwords: true }");
}
