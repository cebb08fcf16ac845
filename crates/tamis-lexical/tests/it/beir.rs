//! Loading a dataset in the BEIR layout: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

/// One line of `corpus.jsonl`.
#[derive(Debug, Deserialize)]
pub struct CorpusDoc {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
}

/// One line of `queries.jsonl`.
#[derive(Debug, Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

/// Judgments of one query: document id → graded relevance (only scores > 0 are kept).
pub type Judged = HashMap<String, u32>;

/// A dataset's corpus and one split's judged queries.
#[derive(Debug)]
pub struct Dataset {
    /// The corpus; a document's position is its chunk key.
    pub docs: Vec<CorpusDoc>,
    /// The queries judged in the split, in qrels order: (query id, text, judgments).
    pub queries: Vec<(String, String, Judged)>,
}

/// Loads `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv` from `dir`.
pub fn load(dir: &Path, split: &str) -> Dataset {
    let docs = read_jsonl::<CorpusDoc>(&dir.join("corpus.jsonl"));
    let texts: HashMap<String, String> = read_jsonl::<QueryLine>(&dir.join("queries.jsonl"))
        .into_iter()
        .map(|query| (query.id, query.text))
        .collect();
    let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
    let qrels = fs_err::read_to_string(&qrels_path).unwrap();
    let mut order: Vec<String> = Vec::new();
    let mut judged: HashMap<String, Judged> = HashMap::new();
    // The first line is the header; NFCorpus ends lines with CRLF.
    for line in qrels.lines().skip(1).map(|line| line.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "{}: bad line {line:?}", qrels_path.display());
        let score: i64 = fields[2].parse().unwrap();
        if !judged.contains_key(fields[0]) {
            order.push(fields[0].to_owned());
        }
        let entry = judged.entry(fields[0].to_owned()).or_default();
        if score > 0 {
            entry.insert(fields[1].to_owned(), u32::try_from(score).unwrap());
        }
    }
    let queries = order
        .into_iter()
        .map(|id| {
            let text = texts.get(&id).unwrap_or_else(|| panic!("query {id} has no text")).clone();
            let query_judged = judged.remove(&id).unwrap();
            (id, text, query_judged)
        })
        .collect();
    Dataset { docs, queries }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Vec<T> {
    let text = fs_err::read_to_string(path).unwrap();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(line_idx, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{}:{}: {err}", path.display(), line_idx + 1))
        })
        .collect()
}
