//! BM25 over tamis's postings: statistics kept exact by every write, also with two
//! writers at once, and scores equal to the formula with the embedded index's rounding.

use std::collections::HashMap;

use tamis_core::{Bm25Params, stored_length};
use tamis_engine::backend::Catalog;
use tamis_engine::{Document, Index, SearchMode, SearchRequest};
use tamis_testkit::HashEmbedder;

use crate::{MODELS, catalog, doc, raw_client, settings, unique_name};

/// Collection `name`'s table name for `what` (`postings`, `stats`, `chunks`).
pub fn table(name: &str, what: &str) -> String {
    let id: i64 = raw_client()
        .query_one("SELECT id FROM tamis_collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0);
    format!("tamis_c{id}_{what}")
}

/// The `stats` rows and the postings against counts recomputed from the chunks' text
/// (the default analyzer, title and text fields); returns (chunks, terms).
pub fn check_stats(name: &str) -> (i64, i64) {
    let mut client = raw_client();
    let (chunks, stats, postings) =
        (table(name, "chunks"), table(name, "stats"), table(name, "postings"));
    let recorded = client
        .query(&format!("SELECT field, chunks, terms FROM {stats} ORDER BY field"), &[])
        .unwrap();
    let analyzer = tamis_analysis::Analyzer::new(true, true);
    let rows = client.query(&format!("SELECT title, text FROM {chunks}"), &[]).unwrap();
    let n = rows.len() as i64;
    let (mut title, mut text) = (0i64, 0i64);
    for row in &rows {
        title += analyzer.terms(row.get(0)).len() as i64;
        text += analyzer.terms(row.get(1)).len() as i64;
    }
    let title_and_text: Vec<(i16, i64, i64)> =
        recorded.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(title_and_text, [(0, n, title), (1, n, text)]);
    // Every term occurrence has its posting.
    let tfs: Vec<(i16, i64)> = client
        .query(
            &format!("SELECT field, sum(tf)::int8 FROM {postings} GROUP BY field ORDER BY field"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: Vec<(i16, i64)> =
        [(0, title), (1, text)].into_iter().filter(|(_, terms)| *terms > 0).collect();
    assert_eq!(tfs, expected);
    (n, title + text)
}

pub fn docs(prefix: &str, n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| {
            let text = format!("{prefix} shared words number {i} and more words for {prefix}");
            doc(&format!("{prefix}{i}"), &format!("Title {prefix} {i}"), &text, None)
        })
        .collect()
}

pub struct Scratch(pub String);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = catalog().remove(&self.0);
    }
}

#[test]
fn writes_replacements_and_deletes_keep_the_statistics_exact() {
    let scratch = Scratch(unique_name("bm25_stats"));
    let mut index = catalog().create(&scratch.0, settings()).unwrap();
    assert_eq!(check_stats(&scratch.0), (0, 0));
    index.ingest_batch(&docs("a", 20), MODELS).unwrap();
    let (n, _) = check_stats(&scratch.0);
    assert_eq!(n, 20);
    // Replacing documents with other text, then deleting some.
    let mut changed = docs("a", 5);
    for doc in &mut changed {
        doc.text = "entirely different and much longer text than before, with new terms".into();
    }
    index.ingest_batch(&changed, MODELS).unwrap();
    assert_eq!(check_stats(&scratch.0).0, 20);
    assert_eq!(index.delete(&["a1", "a7", "missing"]).unwrap(), 2);
    assert_eq!(check_stats(&scratch.0).0, 18);
}

#[test]
fn two_writers_at_once_keep_the_statistics_exact() {
    let scratch = Scratch(unique_name("bm25_writers"));
    drop(catalog().create(&scratch.0, settings()).unwrap());
    let write = |prefix: &'static str| {
        let name = scratch.0.clone();
        std::thread::spawn(move || {
            let mut index: Index = catalog().open(&name).unwrap().unwrap();
            for round in 0..5 {
                // Each writer also replaces documents the other one writes.
                let mut batch = docs(prefix, 10);
                batch.extend(docs("both", 3).into_iter().map(|mut d| {
                    d.text = format!("{} round {round} by {prefix}", d.text);
                    d
                }));
                index.ingest_batch(&batch, MODELS).unwrap();
            }
        })
    };
    let (a, b) = (write("left"), write("right"));
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(check_stats(&scratch.0).0, 23);
}

#[test]
fn scores_equal_the_formula_with_rounded_lengths() {
    let scratch = Scratch(unique_name("bm25_formula"));
    // One chunk per document, so that the formula's N and lengths are the documents'.
    let mut whole = settings();
    whole.chunking.mode = tamis_engine::chunker::ChunkMode::Whole;
    let mut index = catalog().create(&scratch.0, whole).unwrap();
    let long = (0..60).map(|i| format!("filler{i}")).collect::<Vec<_>>().join(" ");
    let corpus = vec![
        doc("1", "Vitamin D", "sunlight raises vitamin d levels in the blood", None),
        doc("2", "Statins", "statins lower cholesterol; vitamin intake matters less", None),
        doc("3", "", &format!("vitamin vitamin sunlight {long}"), None),
        doc("4", "Sunlight", "exposure to sunlight", None),
    ];
    index.ingest_batch(&corpus, MODELS).unwrap();
    let analyzer = tamis_analysis::Analyzer::new(true, true);
    let fields: Vec<[Vec<String>; 2]> =
        corpus.iter().map(|d| [analyzer.terms(&d.title), analyzer.terms(&d.text)]).collect();
    let n = corpus.len() as f64;
    let query = "vitamin sunlight sunlight";
    let query_terms = analyzer.terms(query);
    for params in [Bm25Params::default(), Bm25Params { k1: 0.9, b: 0.4, title_weight: 2.0 }] {
        let (k1, b) = (f64::from(params.k1), f64::from(params.b));
        let mut want: HashMap<&str, f64> = HashMap::new();
        for field in 0..2 {
            let weight = if field == 0 { f64::from(params.title_weight) } else { 1.0 };
            let avgdl = fields.iter().map(|f| f[field].len()).sum::<usize>() as f64 / n;
            for term in &query_terms {
                let df = fields.iter().filter(|f| f[field].contains(term)).count() as f64;
                for (doc, terms) in corpus.iter().zip(&fields) {
                    let tf = terms[field].iter().filter(|t| *t == term).count() as f64;
                    if tf == 0.0 {
                        continue;
                    }
                    let dl = f64::from(stored_length(terms[field].len() as u32));
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    *want.entry(doc.id.as_str()).or_default() +=
                        weight * idf * (k1 + 1.0) * tf / (tf + k1 * (1.0 - b + b * dl / avgdl));
                }
            }
        }
        let mut request = SearchRequest::new(query, SearchMode::Bm25);
        request.bm25 = Some(params);
        let hits = index.search(&request, Some(&HashEmbedder)).unwrap();
        assert_eq!(hits.len(), want.len(), "{params:?}");
        for hit in &hits {
            let expected = want[hit.doc_id.as_str()];
            let got = f64::from(hit.score);
            assert!(
                (got - expected).abs() <= 1e-5 * expected,
                "{params:?} {}: {got} vs {expected}",
                hit.doc_id
            );
        }
    }
}
