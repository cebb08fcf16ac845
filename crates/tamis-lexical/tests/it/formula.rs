//! tamis's BM25 scores on the shared datasets against the formula computed directly from
//! the analyzer's terms, and against `bm25s` (PyPI) for the concatenated-field mode.
//!
//! The reference scores of `bm25s` are in `tests/fixtures/bm25s.json`, written by
//! `scripts/eval/bm25s_fixture.py` from tamis's own terms (so two tokenizers are not being
//! compared). `bm25s` leaves out the `(k1 + 1)` factor and uses exact document lengths,
//! where tamis (as Lucene and tantivy) stores each length rounded down to one of 256 codes:
//! the test checks the formula with exact lengths against `bm25s`, tamis against the
//! formula with stored lengths, and reports how far apart the two lengths put the scores.

use std::collections::HashMap;

use tamis_eval::Dataset;
use tamis_lexical::{Bm25Config, Bm25Index, Bm25Params, FieldMode, LexicalDoc};
use tantivy::fieldnorm::FieldNormReader;

/// Relative agreement asked of every comparison (scores are `f32`).
const TOLERANCE: f64 = 1e-4;

/// The largest effect length rounding can have on one term's score: the stored length is
/// at most 1/9 (11.1 %) below the true one, so the tf factor's denominator shrinks by at
/// most that much (see `Bm25Params`).
const QUANTIZATION_BOUND: f64 = 0.125;

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

/// The length the index stores for a field of `len` terms: tantivy's one-byte code (which
/// follows Lucene's), decoded. The storage format is tantivy's, so its table is the
/// reference here; the scoring on top of it is what these tests check.
fn stored_length(len: usize) -> f64 {
    let code = FieldNormReader::fieldnorm_to_id(u32::try_from(len).unwrap());
    f64::from(FieldNormReader::id_to_fieldnorm(code))
}

/// One field of the corpus as BM25 sees it: each document's term counts and length.
struct FieldStats {
    tf: Vec<HashMap<String, u32>>,
    len: Vec<usize>,
    df: HashMap<String, usize>,
    avgdl: f64,
}

impl FieldStats {
    fn new(texts: impl Iterator<Item = Vec<String>>) -> FieldStats {
        let mut tf = Vec::new();
        let mut len = Vec::new();
        let mut df: HashMap<String, usize> = HashMap::new();
        for terms in texts {
            let mut counts: HashMap<String, u32> = HashMap::new();
            for term in &terms {
                *counts.entry(term.clone()).or_default() += 1;
            }
            for term in counts.keys() {
                *df.entry(term.clone()).or_default() += 1;
            }
            len.push(terms.len());
            tf.push(counts);
        }
        let avgdl = len.iter().sum::<usize>() as f64 / len.len() as f64;
        FieldStats { tf, len, df, avgdl }
    }

    /// The field's BM25 score of document `doc` for `query`, without `(k1 + 1)`, with the
    /// stored or the exact length.
    fn score(&self, doc: usize, query: &[String], params: &Bm25Params, stored: bool) -> f64 {
        let n = self.len.len() as f64;
        let (k1, b) = (f64::from(params.k1), f64::from(params.b));
        let dl = if stored { stored_length(self.len[doc]) } else { self.len[doc] as f64 };
        let mut score = 0.0;
        for term in query {
            let Some(&tf) = self.tf[doc].get(term) else { continue };
            let tf = f64::from(tf);
            let df = self.df[term] as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            score += idf * tf / (tf + k1 * (1.0 - b + b * dl / self.avgdl));
        }
        score
    }
}

/// A dataset's corpus, queries and BM25 statistics.
struct Corpus {
    ids: Vec<String>,
    titles: Vec<String>,
    texts: Vec<String>,
    queries: HashMap<String, String>,
}

fn corpus(name: &str) -> Corpus {
    let dir = tamis_testkit::shared_dataset(name);
    let (mut ids, mut titles, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    for doc in tamis_eval::corpus_docs(&dir).unwrap() {
        let doc = doc.unwrap();
        ids.push(doc.id);
        titles.push(doc.title);
        texts.push(doc.text);
    }
    let queries =
        Dataset::load(&dir, "test").unwrap().queries.into_iter().map(|q| (q.id, q.text)).collect();
    Corpus { ids, titles, texts, queries }
}

fn build(corpus: &Corpus, config: &Bm25Config) -> (tempfile::TempDir, Bm25Index) {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Bm25Index::create(dir.path(), config).unwrap();
    let docs: Vec<LexicalDoc<'_>> = (0..corpus.ids.len())
        .map(|i| LexicalDoc { key: i as u64, title: &corpus.titles[i], text: &corpus.texts[i] })
        .collect();
    index.upsert(&docs).unwrap();
    index.commit(1).unwrap();
    (dir, index)
}

#[derive(serde::Deserialize)]
struct Fixture {
    datasets: HashMap<String, FixtureDataset>,
}

#[derive(serde::Deserialize)]
struct FixtureDataset {
    runs: Vec<FixtureRun>,
}

#[derive(serde::Deserialize)]
struct FixtureRun {
    k1: f32,
    b: f32,
    queries: Vec<FixtureQuery>,
}

#[derive(serde::Deserialize)]
struct FixtureQuery {
    id: String,
    hits: Vec<(String, f64)>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bm25s.json");
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

/// Every score of `query` in `index`, by document position.
fn all_scores(
    index: &Bm25Index,
    query: &str,
    params: &Bm25Params,
    n: usize,
) -> HashMap<usize, f64> {
    let hits = index.search_with(query, n, None, params).unwrap();
    hits.into_iter().map(|hit| (hit.key as usize, f64::from(hit.score))).collect()
}

/// Concatenated mode against the formula and bm25s; returns the largest effect of length
/// rounding on a bm25s hit's score.
fn check_concatenated(name: &str) -> f64 {
    let corpus = corpus(name);
    let analyzer = Bm25Config::default();
    let field = FieldStats::new(
        (0..corpus.ids.len())
            .map(|i| analyzer.terms(&format!("{} {}", corpus.titles[i], corpus.texts[i]))),
    );
    let position: HashMap<&str, usize> =
        corpus.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let config = Bm25Config { fields: FieldMode::Concatenated, ..Bm25Config::default() };
    let (_dir, index) = build(&corpus, &config);
    let mut rounding: f64 = 0.0;
    let (mut compared, mut exact_lengths) = (0, 0);
    for run in &fixture().datasets[name].runs {
        let params = Bm25Params { k1: run.k1, b: run.b, title_weight: 1.0 };
        let scale = 1.0 + f64::from(params.k1);
        for query in &run.queries {
            let text = &corpus.queries[&query.id];
            let terms = analyzer.terms(text);
            let ours = all_scores(&index, text, &params, corpus.ids.len());
            // tamis against the formula with stored lengths, every matching document.
            let mut matching = 0;
            for doc in 0..corpus.ids.len() {
                let want = field.score(doc, &terms, &params, true) * scale;
                if want == 0.0 {
                    assert!(!ours.contains_key(&doc), "{name} {}: {} matched", query.id, doc);
                    continue;
                }
                matching += 1;
                let got = ours[&doc];
                assert!(
                    relative(got, want) < TOLERANCE,
                    "{name} {} {}: tamis {got}, formula {want}",
                    query.id,
                    corpus.ids[doc]
                );
            }
            assert_eq!(ours.len(), matching, "{name} {}", query.id);
            // bm25s against the formula with exact lengths; tamis against bm25s where the
            // length is stored exactly.
            for (doc_id, reference) in &query.hits {
                let doc = position[doc_id.as_str()];
                let exact = field.score(doc, &terms, &params, false);
                assert!(
                    relative(exact, *reference) < TOLERANCE,
                    "{name} {} {doc_id}: formula {exact}, bm25s {reference}",
                    query.id
                );
                let ours = ours[&doc] / scale;
                if field.len[doc] <= 40 {
                    exact_lengths += 1;
                    assert!(relative(ours, *reference) < TOLERANCE, "{name} {doc_id}");
                }
                rounding = rounding.max(relative(ours, *reference));
                compared += 1;
            }
        }
    }
    eprintln!(
        "{name}: {compared} bm25s scores match the formula within {TOLERANCE:e} ({exact_lengths} \
         of them, of documents up to 40 terms, match tamis too); length rounding moves \
         tamis's score of the others by at most {:.2} %",
        rounding * 100.0
    );
    assert!(compared > 500, "{name}: only {compared} bm25s scores compared");
    assert!(rounding < QUANTIZATION_BOUND, "{name}: rounding moved a score by {rounding}");
    rounding
}

#[test]
fn concatenated_scores_match_the_formula_and_bm25s_on_nfcorpus() {
    let rounding = check_concatenated("nfcorpus");
    // NFCorpus abstracts run to hundreds of terms: rounding is visible there.
    assert!(rounding > 0.01, "{rounding}");
}

#[test]
fn concatenated_scores_match_the_formula_and_bm25s_on_cranfield() {
    check_concatenated("cranfield");
}

#[test]
fn multifield_scores_match_the_formula_with_a_title_weight() {
    let corpus = corpus("cranfield");
    let analyzer = Bm25Config::default();
    let titles = FieldStats::new(corpus.titles.iter().map(|t| analyzer.terms(t)));
    let texts = FieldStats::new(corpus.texts.iter().map(|t| analyzer.terms(t)));
    let (_dir, index) = build(&corpus, &Bm25Config::default());
    let mut queries: Vec<(&String, &String)> = corpus.queries.iter().collect();
    queries.sort();
    for params in [
        Bm25Params { k1: 0.9, b: 0.4, title_weight: 2.0 },
        Bm25Params { k1: 1.5, b: 0.9, title_weight: 0.5 },
    ] {
        let scale = 1.0 + f64::from(params.k1);
        for (id, text) in queries.iter().take(40) {
            let terms = analyzer.terms(text);
            let ours = all_scores(&index, text, &params, corpus.ids.len());
            for doc in 0..corpus.ids.len() {
                let want = (f64::from(params.title_weight)
                    * titles.score(doc, &terms, &params, true)
                    + texts.score(doc, &terms, &params, true))
                    * scale;
                match ours.get(&doc) {
                    None => assert_eq!(want, 0.0, "{id} {}", corpus.ids[doc]),
                    Some(&got) => assert!(
                        relative(got, want) < TOLERANCE,
                        "{id} {}: tamis {got}, formula {want}",
                        corpus.ids[doc]
                    ),
                }
            }
        }
    }
}
