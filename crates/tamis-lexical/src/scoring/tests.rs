//! Tests of the BM25 arithmetic and of MaxScore, on tantivy indexes built here directly:
//! several segments with different length distributions (so segment and index averages
//! differ), postings long enough for full 128-document blocks, and deleted documents.

use std::collections::{HashMap, HashSet};

use tamis_core::{Hit, KeyFilter};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, INDEXED, Schema, TEXT};
use tantivy::{DocAddress, Index, IndexWriter, TantivyDocument};

use super::*;
use crate::collector::{KEY_FIELD, rank_order, top_hits};

const WORDS: [&str; 12] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu",
];

/// A small deterministic generator (xorshift), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A text of `len` words drawn with Zipf-like frequencies (word `i` about `1/(i+1)`).
fn text(rng: &mut Rng, len: u64) -> String {
    let weights: Vec<u64> = (0..WORDS.len() as u64).map(|i| 1000 / (i + 1)).collect();
    let total: u64 = weights.iter().sum();
    let mut out = Vec::new();
    for _ in 0..len {
        let mut pick = rng.below(total);
        let word = weights
            .iter()
            .position(|&w| {
                if pick < w {
                    return true;
                }
                pick -= w;
                false
            })
            .unwrap();
        out.push(WORDS[word]);
    }
    out.join(" ")
}

struct Corpus {
    index: Index,
    title: Field,
    body: Field,
    /// Every live document: key → (title, body).
    docs: HashMap<u64, (String, String)>,
    /// Every document added, deleted ones too (they still count in N and the averages).
    all: Vec<(String, String)>,
}

/// Four segments: titles of 0–6 words; bodies short (1–40 words, stored exactly), medium,
/// long (up to 600) and mixed; then a few deletions.
fn corpus() -> Corpus {
    let mut builder = Schema::builder();
    let key = builder.add_u64_field(KEY_FIELD, INDEXED | FAST);
    let title = builder.add_text_field("title", TEXT);
    let body = builder.add_text_field("body", TEXT);
    let index = Index::create_in_ram(builder.build());
    let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut docs = HashMap::new();
    let mut all = Vec::new();
    let lengths: [(u64, u64); 4] = [(1, 40), (20, 120), (100, 600), (1, 300)];
    let mut next_key = 0;
    for (segment, &(low, high)) in lengths.iter().enumerate() {
        for _ in 0..[700, 500, 300, 600][segment] {
            let title_len = rng.below(7);
            let title_text = text(&mut rng, title_len);
            let len = low + rng.below(high - low + 1);
            let body_text = text(&mut rng, len);
            let mut doc = TantivyDocument::new();
            doc.add_u64(key, next_key);
            doc.add_text(title, &title_text);
            doc.add_text(body, &body_text);
            writer.add_document(doc).unwrap();
            docs.insert(next_key, (title_text.clone(), body_text.clone()));
            all.push((title_text, body_text));
            next_key += 1;
        }
        writer.commit().unwrap();
    }
    for gone in [3, 250, 900, 1499, 2000] {
        writer.delete_term(Term::from_field_u64(key, gone));
        docs.remove(&gone);
    }
    writer.commit().unwrap();
    Corpus { index, title, body, docs, all }
}

const PARAMS: [Bm25Params; 6] = [
    Bm25Params::LEGACY,
    Bm25Params { k1: 0.9, b: 0.4, title_weight: 1.0 },
    Bm25Params { k1: 2.0, b: 1.0, title_weight: 3.0 },
    Bm25Params { k1: 1.5, b: 0.0, title_weight: 0.5 },
    Bm25Params { k1: 0.5, b: 0.2, title_weight: 1.0 },
    Bm25Params { k1: 0.0, b: 0.75, title_weight: 2.0 },
];

fn terms(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Every matching document's score in segment order, keyed by key, with no pruning.
fn exhaustive(searcher: &Searcher, query: &Bm25Query) -> HashMap<u64, Score> {
    let mut out = HashMap::new();
    for reader in searcher.segment_readers() {
        let keys = reader.fast_fields().u64(KEY_FIELD).unwrap();
        let alive = reader.alive_bitset();
        query
            .for_each_top(reader, Score::MIN, |doc, score| {
                if alive.is_none_or(|alive| alive.is_alive(doc)) {
                    out.insert(keys.first(doc).unwrap(), score);
                }
                Score::MIN
            })
            .unwrap();
    }
    out
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn legacy_parameters_give_tantivys_own_scores() {
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    assert_eq!(searcher.segment_readers().len(), 4);
    let words = ["alpha", "theta", "mu", "mu", "nothing"];
    let fields = [(corpus.title, 1.0), (corpus.body, 1.0)];
    let ours = exhaustive(
        &searcher,
        &Bm25Query::new(&searcher, &terms(&words), &fields, &Bm25Params::LEGACY).unwrap(),
    );
    let clauses: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .flat_map(|word| [corpus.title, corpus.body].map(|f| Term::from_field_text(f, word)))
        .map(|term| {
            (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)) as _)
        })
        .collect();
    assert_tantivy_agrees(&searcher, clauses, &ours);
}

/// tantivy's own scores of `clauses` (OR-ed) are `ours`, document for document, to 1e-6.
fn assert_tantivy_agrees(
    searcher: &Searcher,
    clauses: Vec<(Occur, Box<dyn Query>)>,
    ours: &HashMap<u64, Score>,
) {
    let theirs: Vec<(Score, DocAddress)> = searcher
        .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(100_000).order_by_score())
        .unwrap();
    assert_eq!(theirs.len(), ours.len());
    for (score, address) in theirs {
        let reader = searcher.segment_reader(address.segment_ord);
        let key = reader.fast_fields().u64(KEY_FIELD).unwrap().first(address.doc_id).unwrap();
        let mine = ours[&key];
        assert!(relative(f64::from(mine), f64::from(score)) < 1e-6, "key {key}: {mine} {score}");
    }
}

#[test]
fn a_title_weight_scales_the_title_like_tantivys_boost() {
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    let params = Bm25Params { title_weight: 2.5, ..Bm25Params::LEGACY };
    let fields = [(corpus.title, 2.5), (corpus.body, 1.0)];
    let ours = exhaustive(
        &searcher,
        &Bm25Query::new(&searcher, &terms(&["beta", "iota"]), &fields, &params).unwrap(),
    );
    let clauses: Vec<(Occur, Box<dyn Query>)> = ["beta", "iota"]
        .iter()
        .flat_map(|word| {
            let title = TermQuery::new(
                Term::from_field_text(corpus.title, word),
                IndexRecordOption::WithFreqs,
            );
            let body = TermQuery::new(
                Term::from_field_text(corpus.body, word),
                IndexRecordOption::WithFreqs,
            );
            [
                (Occur::Should, Box::new(BoostQuery::new(Box::new(title), 2.5)) as Box<dyn Query>),
                (Occur::Should, Box::new(body) as Box<dyn Query>),
            ]
        })
        .collect();
    assert_tantivy_agrees(&searcher, clauses, &ours);
}

/// BM25 computed from the texts in `f64`: the formula of `Bm25Params`, with `dl` rounded
/// to the stored field-norm code (the only approximation the index makes).
fn direct_scores(corpus: &Corpus, words: &[&str], params: &Bm25Params) -> HashMap<u64, f64> {
    let n = corpus.all.len() as f64;
    let tokens = |text: &str| -> Vec<String> {
        text.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
    };
    let field_texts: [Vec<Vec<String>>; 2] = [
        corpus.all.iter().map(|(title, _)| tokens(title)).collect(),
        corpus.all.iter().map(|(_, body)| tokens(body)).collect(),
    ];
    let weights = [f64::from(params.title_weight), 1.0];
    let (k1, b) = (f64::from(params.k1), f64::from(params.b));
    let doc_freq = |texts: &[Vec<String>], word: &str| {
        texts.iter().filter(|t| t.iter().any(|x| x == word)).count() as f64
    };
    let df: Vec<HashMap<&str, f64>> = field_texts
        .iter()
        .map(|texts| words.iter().map(|&w| (w, doc_freq(texts, w))).collect())
        .collect();
    let mut out = HashMap::new();
    for &key in corpus.docs.keys() {
        let mut score = 0.0;
        for ((texts, weight), df) in field_texts.iter().zip(weights).zip(&df) {
            let avgdl = texts.iter().map(Vec::len).sum::<usize>() as f64 / n;
            let doc = &texts[key as usize];
            let stored = FieldNormReader::fieldnorm_to_id(doc.len() as u32);
            let dl = f64::from(FieldNormReader::id_to_fieldnorm(stored));
            for word in words {
                let tf = doc.iter().filter(|t| t == word).count() as f64;
                if tf == 0.0 {
                    continue;
                }
                let df = df[word];
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                score += weight * idf * (k1 + 1.0) * tf / (tf + k1 * (1.0 - b + b * dl / avgdl));
            }
        }
        if score > 0.0 {
            out.insert(key, score);
        }
    }
    out
}

#[test]
fn scores_equal_the_bm25_formula_for_every_parameter_set() {
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    let words = ["gamma", "kappa", "kappa", "mu"];
    for params in PARAMS {
        let fields = [(corpus.title, params.title_weight), (corpus.body, 1.0)];
        let query = Bm25Query::new(&searcher, &terms(&words), &fields, &params).unwrap();
        let ours = exhaustive(&searcher, &query);
        let direct = direct_scores(&corpus, &words, &params);
        assert_eq!(ours.len(), direct.len(), "{params:?}");
        let worst = direct
            .iter()
            .map(|(key, &want)| relative(f64::from(ours[key]), want))
            .fold(0.0, f64::max);
        assert!(worst < 1e-4, "{params:?}: worst relative error {worst}");
    }
}

/// The best `k` allowed hits of every matching document, by brute force.
fn brute_force(all: &HashMap<u64, Score>, k: usize, filter: Option<&dyn KeyFilter>) -> Vec<Hit> {
    let mut hits: Vec<Hit> = all
        .iter()
        .filter(|(key, _)| filter.is_none_or(|f| f.allows(**key)))
        .map(|(&key, &score)| Hit { key, score })
        .collect();
    hits.sort_by(rank_order);
    hits.truncate(k);
    hits
}

#[test]
fn pruned_top_k_equals_brute_force_for_every_parameter_set() {
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    let odd = |key: u64| key % 2 == 1;
    let few: HashSet<u64> = [3, 14, 15, 92, 653, 589, 1200, 1800].into_iter().collect();
    let filters: [Option<&dyn KeyFilter>; 3] = [None, Some(&odd), Some(&few)];
    let queries: [&[&str]; 4] = [
        &["alpha"],
        &["mu", "alpha", "beta"],
        &["lambda", "kappa", "alpha", "iota", "eta"],
        &["theta", "theta", "gamma"],
    ];
    for params in PARAMS {
        let fields = [(corpus.title, params.title_weight), (corpus.body, 1.0)];
        for words in queries {
            let query = Bm25Query::new(&searcher, &terms(words), &fields, &params).unwrap();
            let all = exhaustive(&searcher, &query);
            for filter in filters {
                for k in [1, 3, 10, 100, 5000] {
                    let got = top_hits(&searcher, &query, k, filter).unwrap();
                    let want = brute_force(&all, k, filter);
                    assert_eq!(got, want, "{params:?} {words:?} k {k}");
                }
            }
        }
    }
}

#[test]
fn a_reordered_query_scores_every_document_to_the_same_bit() {
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    let words = ["lambda", "kappa", "alpha", "iota", "eta", "mu", "alpha"];
    for params in PARAMS {
        let fields = [(corpus.title, params.title_weight), (corpus.body, 1.0)];
        let score = |words: &[&str]| {
            let query = Bm25Query::new(&searcher, &terms(words), &fields, &params).unwrap();
            let mut all: Vec<(u64, u32)> = exhaustive(&searcher, &query)
                .into_iter()
                .map(|(key, score)| (key, score.to_bits()))
                .collect();
            all.sort_unstable();
            (all, top_hits(&searcher, &query, 10, None).unwrap())
        };
        let want = score(&words);
        assert!(want.0.len() > 1000, "{}", want.0.len());
        let mut reordered = words;
        for turn in 0..words.len() {
            reordered.rotate_left(1);
            if turn % 2 == 1 {
                reordered.reverse();
            }
            assert!(score(&reordered) == want, "{params:?} {reordered:?}");
        }
    }
}

/// Every score a cursor gives, checked against its bound.
fn check_bounds(searcher: &Searcher, query: &Bm25Query) -> (usize, f64) {
    let mut checked = 0;
    let mut tightest: f64 = 0.0;
    for reader in searcher.segment_readers() {
        for mut cursor in query.cursors(reader).unwrap() {
            let mut largest: f64 = 0.0;
            while cursor.postings.doc() != TERMINATED {
                let score = cursor.score(&query.fields);
                assert!(score <= cursor.bound, "{score} > bound {}", cursor.bound);
                largest = largest.max(f64::from(score));
                checked += 1;
                cursor.postings.advance();
            }
            tightest = tightest.max(largest / f64::from(cursor.bound));
        }
    }
    (checked, tightest)
}

#[test]
fn term_bounds_cover_every_score_and_the_legacy_ones_are_tight() {
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    let words = terms(&WORDS);
    for params in PARAMS {
        let fields = [(corpus.title, params.title_weight), (corpus.body, 1.0)];
        let query = Bm25Query::new(&searcher, &words, &fields, &params).unwrap();
        let (checked, tightest) = check_bounds(&searcher, &query);
        assert!(checked > 10_000, "{checked}");
        if params == Bm25Params::LEGACY {
            // The stored maxima are exact for tantivy's parameters, up to the slack and
            // the difference between segment and index averages.
            assert!(tightest > 0.99, "{tightest}");
        }
    }
}

#[test]
fn converting_block_maxima_without_the_length_term_would_be_unsafe() {
    // The negative control of the bound test: keep only the k1 ratio of `Conversion` and a
    // block maximum stored for b = 0.75 falls below real scores at b = 1.
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    let params = Bm25Params { k1: 2.0, b: 1.0, title_weight: 1.0 };
    let fields = [(corpus.title, 1.0), (corpus.body, 1.0)];
    let query = Bm25Query::new(&searcher, &terms(&WORDS), &fields, &params).unwrap();
    let mut violations = 0;
    for reader in searcher.segment_readers() {
        for mut cursor in query.cursors(reader).unwrap() {
            let field = &query.fields[cursor.field];
            let segment_avgdl = reader.inverted_index(field.field).unwrap().total_num_tokens()
                as f64
                / f64::from(reader.max_doc());
            let probe = Bm25Weight::for_one_term(1, 2, segment_avgdl as Score);
            let naive = Conversion { factor: TANTIVY_K1 / f64::from(params.k1) };
            let clause = &query.clauses[cursor.clause];
            let inverted = reader.inverted_index(clause.term.field()).unwrap();
            let info = inverted.get_term_info(&clause.term).unwrap().unwrap();
            let mut blocks = inverted
                .read_block_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)
                .unwrap();
            let fieldnorms = reader.get_fieldnorms_reader(field.field).unwrap();
            while blocks.block_len() > 0 {
                let stored = blocks.block_max_score(&fieldnorms, &probe);
                let bound =
                    f64::from(cursor.weight) * block_bound(stored, probe.max_score(), &naive);
                let last = blocks.docs()[blocks.block_len() - 1];
                while cursor.postings.doc() <= last {
                    if f64::from(cursor.score(&query.fields)) > bound * BOUND_SLACK {
                        violations += 1;
                    }
                    cursor.postings.advance();
                }
                blocks.advance();
            }
        }
    }
    assert!(violations > 0, "the naive conversion should miss some scores");
}

#[test]
fn an_empty_index_or_unknown_terms_match_nothing() {
    let mut builder = Schema::builder();
    builder.add_u64_field(KEY_FIELD, INDEXED | FAST);
    let body = builder.add_text_field("body", TEXT);
    let index = Index::create_in_ram(builder.build());
    let searcher = index.reader().unwrap().searcher();
    let query =
        Bm25Query::new(&searcher, &terms(&["alpha"]), &[(body, 1.0)], &Bm25Params::LEGACY).unwrap();
    assert!(top_hits(&searcher, &query, 10, None).unwrap().is_empty());
    let corpus = corpus();
    let searcher = corpus.index.reader().unwrap().searcher();
    let query =
        Bm25Query::new(&searcher, &terms(&["omega"]), &[(corpus.body, 1.0)], &Bm25Params::LEGACY)
            .unwrap();
    assert!(query.clauses.is_empty());
    assert!(top_hits(&searcher, &query, 10, None).unwrap().is_empty());
}

#[test]
fn the_shared_length_rounding_is_tantivys_table() {
    // Every backend rounds lengths with `tamis_core::stored_length`; tantivy stores its own
    // table, which the scores here come from. They must be the same.
    for id in 0..=u8::MAX {
        let value = FieldNormReader::id_to_fieldnorm(id);
        assert_eq!(tamis_core::stored_length(value), value, "code {id}");
    }
    for len in (0..5000).chain([65_559, 65_560, 1 << 30, u32::MAX]) {
        let tantivy = FieldNormReader::id_to_fieldnorm(FieldNormReader::fieldnorm_to_id(len));
        assert_eq!(tamis_core::stored_length(len), tantivy, "length {len}");
    }
}
