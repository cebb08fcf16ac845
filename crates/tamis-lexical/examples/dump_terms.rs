//! Writes the BM25 terms of a BEIR dataset's documents (`title + " " + text`, as the
//! concatenated field mode indexes them) and test queries, as the default analyzer makes
//! them: one JSON object per line, `{"kind": "doc"|"query", "id": …, "terms": […]}`.
//! `scripts/eval/bm25s_fixture.py` indexes these with `bm25s`, so the comparison in
//! `tests/it/formula.rs` is of scoring alone, not of two tokenizers.
//!
//! ```text
//! cargo run --release -p tamis-lexical --example dump_terms -- ../shared/datasets/cranfield > terms.jsonl
//! ```

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use tamis_lexical::Bm25Config;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        return Err("usage: dump_terms DATASET_DIR (a BEIR folder with corpus.jsonl)".into());
    };
    let config = Bm25Config::default();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for doc in tamis_eval::corpus_docs(&dir)? {
        let doc = doc?;
        let terms = config.terms(&format!("{} {}", doc.title, doc.text));
        let line = serde_json::json!({"kind": "doc", "id": doc.id, "terms": terms});
        writeln!(out, "{line}")?;
    }
    for query in tamis_eval::Dataset::load(&dir, "test")?.queries {
        let terms = config.terms(&query.text);
        writeln!(out, "{}", serde_json::json!({"kind": "query", "id": query.id, "terms": terms}))?;
    }
    out.flush()?;
    Ok(())
}
