//! BM25 top-k latency: tamis's scorer (MaxScore over tantivy's postings, any parameters)
//! against tantivy's own (Block-WAND, fixed `k1 = 1.2`, `b = 0.75`) on the same on-disk
//! index, side by side.
//!
//! ```text
//! cargo bench -p tamis-lexical --bench lexical
//! ```
//!
//! The corpus is synthetic and seeded: 200,000 documents of 20 to 300 words drawn from a
//! Zipf distribution over 50,000 words (a title of 0 to 8 words beside), so common words
//! have long posting lists and rare ones short. Queries are 3 or 10 words drawn the same
//! way. tantivy's path is what `Bm25Index::search` ran before the parameters were settable:
//! a `BooleanQuery` of one `TermQuery` per term and field, collected by `TopDocs`.

// A benchmark fails by panicking, like a test.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use divan::{Bencher, black_box};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tamis_lexical::{Bm25Config, Bm25Index, Bm25Params, LexicalDoc};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, Term};

fn main() {
    divan::main();
}

const DOCS: usize = 200_000;
const VOCABULARY: usize = 50_000;
const QUERIES: usize = 64;

/// Draws word ranks with probability about `1 / rank` (Zipf, exponent 1).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn word(&self, rng: &mut StdRng) -> String {
        let pick = rng.random::<f64>() * self.cumulative[self.cumulative.len() - 1];
        let rank = self.cumulative.partition_point(|&c| c < pick);
        format!("w{rank}")
    }

    fn text(&self, rng: &mut StdRng, len: usize) -> String {
        (0..len).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    index: Bm25Index,
    tantivy: tantivy::IndexReader,
    short: Vec<String>,
    long: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let zipf = Zipf::new(VOCABULARY);
        let mut rng = StdRng::seed_from_u64(7);
        let dir = tempfile::tempdir().unwrap();
        let mut index = Bm25Index::create(dir.path(), &Bm25Config::default()).unwrap();
        for batch in 0..DOCS / 10_000 {
            let texts: Vec<(String, String)> = (0..10_000)
                .map(|_| {
                    let title_len = rng.random_range(0..=8);
                    let text_len = rng.random_range(20..=300);
                    (zipf.text(&mut rng, title_len), zipf.text(&mut rng, text_len))
                })
                .collect();
            let docs: Vec<LexicalDoc<'_>> = texts
                .iter()
                .enumerate()
                .map(|(i, (title, text))| LexicalDoc {
                    key: (batch * 10_000 + i) as u64,
                    title,
                    text,
                })
                .collect();
            index.upsert(&docs).unwrap();
        }
        index.commit(1).unwrap();
        // Dropping the writer lets its merges finish; both sides then open the same
        // segments and nothing merges while they are timed.
        drop(index);
        let index = Bm25Index::open(dir.path()).unwrap();
        let tantivy = Index::open_in_dir(dir.path())
            .unwrap()
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .unwrap();
        let segments = tantivy.searcher().segment_readers().len();
        eprintln!("{DOCS} documents in {segments} segment(s)");
        let mut queries = |len: usize| -> Vec<String> {
            (0..QUERIES).map(|_| zipf.text(&mut rng, len)).collect()
        };
        let (short, long) = (queries(3), queries(10));
        Fixture { _dir: dir, index, tantivy, short, long }
    })
}

fn queries(long: bool) -> &'static [String] {
    let fixture = fixture();
    if long { &fixture.long } else { &fixture.short }
}

const ARGS: [(bool, usize); 4] = [(false, 10), (false, 100), (true, 10), (true, 100)];

/// tamis's scorer with tantivy's parameters.
#[divan::bench(args = ARGS)]
fn tamis_legacy(bencher: Bencher, (long, k): (bool, usize)) {
    run_tamis(bencher, long, k, Bm25Params::LEGACY);
}

/// tamis's scorer with Anserini's `k1 = 0.9`, `b = 0.4`, where tantivy's stored block
/// maxima no longer fit and bounds are converted.
#[divan::bench(args = ARGS)]
fn tamis_anserini(bencher: Bencher, (long, k): (bool, usize)) {
    run_tamis(bencher, long, k, Bm25Params { k1: 0.9, b: 0.4, title_weight: 1.0 });
}

fn run_tamis(bencher: Bencher, long: bool, k: usize, params: Bm25Params) {
    let index = &fixture().index;
    let queries = queries(long);
    let mut next = 0;
    bencher.bench_local(|| {
        next = (next + 1) % queries.len();
        black_box(index.search_with(&queries[next], k, None, &params).unwrap())
    });
}

/// tantivy's Block-WAND on the same index.
#[divan::bench(args = ARGS)]
fn tantivy_block_wand(bencher: Bencher, (long, k): (bool, usize)) {
    let fixture = fixture();
    let searcher = fixture.tantivy.searcher();
    let schema = searcher.schema();
    let fields = ["title", "text"].map(|name| schema.get_field(name).unwrap());
    let analyzer = Bm25Config::default();
    let built: Vec<BooleanQuery> = queries(long)
        .iter()
        .map(|text| {
            let clauses: Vec<(Occur, Box<dyn Query>)> = analyzer
                .terms(text)
                .iter()
                .flat_map(|term| fields.map(|field| Term::from_field_text(field, term)))
                .map(|term| {
                    let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
                    (Occur::Should, Box::new(query) as Box<dyn Query>)
                })
                .collect();
            BooleanQuery::new(clauses)
        })
        .collect();
    let collector = TopDocs::with_limit(k).order_by_score();
    let mut next = 0;
    bencher.bench_local(|| {
        next = (next + 1) % built.len();
        black_box(searcher.search(&built[next], &collector).unwrap())
    });
}
