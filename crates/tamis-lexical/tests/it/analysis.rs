//! `tamis-analysis` against the tantivy chain that built every index before it, on every
//! document and query of the shared corpora: an index built then must keep matching the
//! queries analyzed now.

use tamis_lexical::Bm25Config;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

fn tantivy_chain(config: &Bm25Config) -> TextAnalyzer {
    let mut builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(tamis_lexical::MAX_TERM_BYTES + 1))
        .filter(LowerCaser)
        .dynamic();
    if config.stopwords {
        builder = builder.filter_dynamic(StopWordFilter::new(Language::English).unwrap());
    }
    if config.stemming {
        builder = builder.filter_dynamic(Stemmer::new(Language::English));
    }
    builder.build()
}

fn tantivy_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// Texts whose terms are easy to get wrong: Unicode letters and digits, case that changes
/// length, runs at the length limit.
const TRICKY: [&str; 4] = [
    "e-mail: x@y.z (v2.0) under_score",
    "ΟΔΟΣ İSTANBUL Ünïcödé 東京タワー ٣٤ straße ǅemal",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb İİİİİİİİİİİİİİİİİİİİ",
    "studies generously lowering aerodynamics this thing THE",
];

fn check(name: &str) {
    let dir = tamis_testkit::shared_dataset(name);
    let mut texts: Vec<String> = tamis_eval::corpus_docs(&dir)
        .unwrap()
        .map(|doc| {
            let doc = doc.unwrap();
            format!("{} {}", doc.title, doc.text)
        })
        .collect();
    texts.extend(
        tamis_eval::Dataset::load(&dir, "test").unwrap().queries.into_iter().map(|q| q.text),
    );
    texts.extend(TRICKY.iter().map(|t| (*t).to_owned()));
    let mut terms = 0;
    for (stemming, stopwords) in [(true, true), (true, false), (false, true), (false, false)] {
        let config = Bm25Config { stemming, stopwords, ..Bm25Config::default() };
        let mut before = tantivy_chain(&config);
        for text in &texts {
            let ours = config.terms(text);
            assert_eq!(ours, tantivy_terms(&mut before, text), "{name} {config:?}: {text:?}");
            terms += ours.len();
        }
    }
    assert!(terms > 100_000, "{name}: only {terms} terms compared");
}

#[test]
fn nfcorpus_terms_are_tantivys() {
    check("nfcorpus");
}

#[test]
fn cranfield_terms_are_tantivys() {
    check("cranfield");
}
