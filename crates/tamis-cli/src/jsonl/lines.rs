//! The input lines of `tamis rerank` and `tamis embed`, and the reader that parses them.
//!
//! Only serde, serde_json and anyhow are used here: the fuzz target `jsonl` (`fuzz/`)
//! compiles this very file with `#[path]`, since `tamis-cli` is a binary crate.

use std::io::BufRead;

use anyhow::Context;
use serde::Deserialize;

/// Reads every non-blank line of `reader` (named `name` in errors) and parses it with
/// `parse`, failing on the first bad line with its number; an input without lines fails.
pub fn read_from<T>(
    reader: impl BufRead,
    name: &str,
    mut parse: impl FnMut(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let mut items = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {name}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let item = parse(&line).with_context(|| format!("line {} of {name}", index + 1))?;
        items.push(item);
    }
    if items.is_empty() {
        anyhow::bail!("{name} has no input lines");
    }
    Ok(items)
}

/// One line of `tamis rerank`'s input.
#[derive(Debug, Deserialize)]
pub struct RerankLine {
    pub query: String,
    pub documents: Vec<RerankDocument>,
}

/// A document to rerank: its text, or an object with a `text` field.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RerankDocument {
    Text(String),
    Object { text: String },
}

impl RerankDocument {
    pub fn text(&self) -> &str {
        match self {
            RerankDocument::Text(text) | RerankDocument::Object { text } => text,
        }
    }
}

/// Parses and checks one line of `tamis rerank`'s input.
pub fn parse_rerank_line(line: &str) -> anyhow::Result<RerankLine> {
    let parsed: RerankLine = serde_json::from_str(line)
        .context(r#"expected a JSON object like {"query": "...", "documents": ["...", ...]}"#)?;
    anyhow::ensure!(!parsed.query.trim().is_empty(), "the query is empty");
    anyhow::ensure!(!parsed.documents.is_empty(), "documents is empty");
    if let Some(i) = parsed.documents.iter().position(|d| d.text().trim().is_empty()) {
        anyhow::bail!("document {i} is empty");
    }
    Ok(parsed)
}

/// One line of `tamis embed`'s input.
#[derive(Debug, Deserialize)]
pub struct EmbedLine {
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    pub text: String,
}

/// Parses and checks one line of `tamis embed`'s input.
pub fn parse_embed_line(line: &str) -> anyhow::Result<EmbedLine> {
    let parsed: EmbedLine = serde_json::from_str(line)
        .context(r#"expected a JSON object like {"text": "..."} or {"id": ..., "text": "..."}"#)?;
    anyhow::ensure!(!parsed.text.trim().is_empty(), "the text is empty");
    Ok(parsed)
}
