//! Table-driven tests of the analyzer: every case goes through [`check`].

use super::*;
use crate::{Bm25Params, FieldMode};
use tantivy::tokenizer::TextAnalyzer;

const STEM_STOP: Bm25Config = config(true, true);
const STEM_ONLY: Bm25Config = config(true, false);
const STOP_ONLY: Bm25Config = config(false, true);
const PLAIN: Bm25Config = config(false, false);

const fn config(stemming: bool, stopwords: bool) -> Bm25Config {
    Bm25Config { stemming, stopwords, fields: FieldMode::Multifield, params: Bm25Params::LEGACY }
}

/// The one place that calls the analyzer.
#[track_caller]
fn check(config: Bm25Config, text: &str, expect: &[&str]) {
    assert_eq!(config.terms(text), expect, "config {config:?}, text {text:?}");
}

#[test]
fn stemming_and_stop_words_switch_independently() {
    let text = "The Running of the Bulls";
    check(STEM_STOP, text, &["run", "bull"]);
    check(STEM_ONLY, text, &["the", "run", "of", "the", "bull"]);
    check(STOP_ONLY, text, &["running", "bulls"]);
    check(PLAIN, text, &["the", "running", "of", "the", "bulls"]);
}

#[test]
fn stemming_is_snowball_english() {
    for (word, stem) in [
        ("studies", "studi"),
        ("studying", "studi"),
        ("generously", "generous"),
        ("cancers", "cancer"),
        ("cardiovascular", "cardiovascular"),
        ("aerodynamics", "aerodynam"),
        ("lowering", "lower"),
    ] {
        check(STEM_ONLY, word, &[stem]);
        check(PLAIN, word, &[word]);
    }
}

#[test]
fn stop_words_are_lucenes_english_list_matched_before_stemming() {
    // `it`, `was` and `not` are stop words; `what` and `has` are not in the list.
    check(STEM_STOP, "it was not what it has", &["what", "has"]);
    // Stop words are matched case-insensitively, because lowercasing comes first.
    check(STOP_ONLY, "THE And Of", &[]);
    // A stop word's inflections are not stop words: `these` is, `thes` is not a word at all.
    check(STOP_ONLY, "these theses", &["theses"]);
}

#[test]
fn case_is_folded() {
    check(PLAIN, "HeLLo WORLD", &["hello", "world"]);
    check(STEM_STOP, "DNA dna Dna", &["dna", "dna", "dna"]);
}

#[test]
fn punctuation_splits_and_disappears() {
    check(STEM_STOP, "vitamin D: risks? (AND) \"x", &["vitamin", "d", "risk", "x"]);
    check(PLAIN, "cholesterol-lowering patient's", &["cholesterol", "lowering", "patient", "s"]);
    check(PLAIN, "COVID-19 in 2020, 3.5mg/day", &["covid", "19", "in", "2020", "3", "5mg", "day"]);
    check(PLAIN, "a+b*c~d^2 [x] {y} <z> \\ / |", &["a", "b", "c", "d", "2", "x", "y", "z"]);
    check(PLAIN, "title:foo OR bar~2 AND -baz", &["title", "foo", "or", "bar", "2", "and", "baz"]);
}

#[test]
fn nothing_left_means_no_terms() {
    for config in [STEM_STOP, STEM_ONLY, STOP_ONLY, PLAIN] {
        check(config, "", &[]);
        check(config, "   \t\n", &[]);
        check(config, "?!.,;:()[]{}\"'-", &[]);
    }
    check(STEM_STOP, "the of and to is", &[]);
}

#[test]
fn non_ascii_letters_are_kept_and_lowercased() {
    check(PLAIN, "Ärzte café NAÏVE", &["ärzte", "café", "naïve"]);
    check(PLAIN, "β-carotene Ω", &["β", "carotene", "ω"]);
    check(PLAIN, "東京 タワー", &["東京", "タワー"]);
    check(STEM_STOP, "the Cafés", &["café"]);
    // Non-ASCII punctuation splits too: en dash, non-breaking space, curly quotes.
    check(PLAIN, "1995\u{2013}2003 a\u{a0}b \u{201c}x\u{201d}", &["1995", "2003", "a", "b", "x"]);
}

#[test]
fn overlong_terms_are_dropped() {
    let longest = "a".repeat(MAX_TERM_BYTES);
    let too_long = "b".repeat(MAX_TERM_BYTES + 1);
    check(PLAIN, &format!("x {longest} {too_long} y"), &["x", &longest, "y"]);
}

#[test]
fn each_configuration_has_its_own_tokenizer_name() {
    let names: std::collections::HashSet<_> =
        [STEM_STOP, STEM_ONLY, STOP_ONLY, PLAIN].iter().map(tokenizer_name).collect();
    assert_eq!(names.len(), 4);
    // The field layout does not change the analyzer.
    let concatenated = Bm25Config { fields: FieldMode::Concatenated, ..STEM_STOP };
    assert_eq!(tokenizer_name(&concatenated), tokenizer_name(&STEM_STOP));
}

/// What an analyzer registered with tantivy hands it for `text`.
fn tantivy_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// tantivy indexes exactly `Bm25Config::terms` (`tests/it/analysis.rs` checks those against
/// the tantivy chain indexes were built with before).
#[test]
fn tantivy_receives_the_terms_unchanged() {
    for config in [STEM_STOP, STEM_ONLY, STOP_ONLY, PLAIN] {
        let mut registered = text_analyzer(&config);
        for text in TRICKY {
            assert_eq!(tantivy_terms(&mut registered, text), config.terms(text), "{text:?}");
        }
        // A stream starts afresh: the second text's terms do not follow the first's.
        let _ = tantivy_terms(&mut registered, "one two");
        let mut stream = registered.token_stream("three");
        assert!(stream.advance());
        assert_eq!(stream.token().position, 0);
    }
}

/// Texts whose terms are easy to get wrong.
const TRICKY: [&str; 5] = [
    "The Running of the Bulls!",
    "e-mail: x@y.z (v2.0) under_score",
    "ΟΔΟΣ İSTANBUL Ünïcödé 東京タワー ٣٤ straße ǅemal",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb İİİİİİİİİİİİİİİİİİİİ",
    "studies generously lowering aerodynamics this thing THE",
];
