//! The name of an evaluation index: what determines the index, written out field by field
//! and hashed, so that a run reuses the index an earlier run built from the same corpus
//! with the same settings, and builds a new one when either changed.
//!
//! The hashed text ([`IndexKey::description`]) is format [`INDEX_KEY_FORMAT`]:
//!
//! ```text
//! tamis eval index key, format 2
//! corpus.sha256 = <the corpus file's SHA-256, 64 hex digits>
//! embedder_id = <IndexSettings::embedder_id as a JSON string>
//! embedder.precision = <the mode's name as a JSON string, e.g. "bf16x3">
//! dimension = 384
//! chunking.mode = windows
//! chunking.max_tokens = none
//! chunking.overlap_tokens = 32
//! chunking.prepend_title = true
//! lexical.stemming = true
//! lexical.stopwords = true
//! lexical.fields = multifield
//! hnsw.m = 16
//! hnsw.ef_construction = 128
//! hnsw.ef_search = 64
//! exact_below = 20000
//! ```
//!
//! one `name = value` line per creation setting, each written by its own rule (never by
//! `Debug`, whose output is no stable format). The settings are destructured without `..`,
//! so a field added to [`IndexSettings`] or to one of its parts stops this module from
//! compiling until it has a line here (and [`INDEX_KEY_FORMAT`] is raised).
//! The key's unit tests pin one key, so an accidental change of the text fails a test.
//!
//! `embedder.precision` is the mode the documents were embedded in, as resolved at load
//! (`fp32` or `bf16x3` today, the modes indexes accept): an index records its model but
//! not the precision, so an evaluation in fp32 must not reuse documents that `auto`
//! embedded in bf16x3, however close they are.

use std::path::Path;

use sha2::{Digest, Sha256};
use tamis_engine::chunker::{ChunkMode, ChunkingConfig};
use tamis_engine::{
    HnswSettings, IndexSettings, LateInteractionSettings, LexicalSettings, TokenStorage,
};

use crate::Error;

/// The version of the text [`IndexKey::description`] hashes. Raise it whenever the text
/// changes, even for the same settings: every earlier evaluation index is then rebuilt
/// once, never reused under a meaning it was not built with.
pub const INDEX_KEY_FORMAT: u32 = 2;

/// Names an evaluation index: `<dataset>-<16 hex digits>`, the digits from the SHA-256 of
/// the corpus and the creation settings ([`IndexKey::description`]).
///
/// The name is a valid directory name and collection name (letters, digits, `_`, `-`) for
/// datasets whose folder name is at most 47 characters long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    dataset: String,
    description: String,
}

impl IndexKey {
    /// The key of the index for the BEIR dataset in `dataset_dir` (its `corpus.jsonl` is
    /// read and hashed), built with `settings`, its documents embedded in `precision`
    /// (a mode's name, as `tamis info` shows it).
    pub fn for_dataset(
        dataset_dir: &Path,
        settings: &IndexSettings,
        precision: &str,
    ) -> crate::Result<IndexKey> {
        let corpus = dataset_dir.join("corpus.jsonl");
        if !corpus.is_file() {
            return Err(Error::MissingFile { path: corpus });
        }
        let mut hasher = Sha256::new();
        std::io::copy(&mut fs_err::File::open(&corpus)?, &mut hasher)?;
        let name = fs_err::canonicalize(dataset_dir)?
            .file_name()
            .map_or_else(|| "dataset".to_string(), |n| n.to_string_lossy().into_owned());
        Ok(IndexKey::new(&name, hasher.finalize().into(), settings, precision))
    }

    /// The key of an index built from a corpus whose bytes have the SHA-256 `corpus_sha256`,
    /// with `settings` and documents embedded in `precision`, for the dataset `dataset`
    /// (characters other than letters, digits, `_` and `-` become `_`).
    pub fn new(
        dataset: &str,
        corpus_sha256: [u8; 32],
        settings: &IndexSettings,
        precision: &str,
    ) -> IndexKey {
        let dataset = dataset
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
            .collect();
        IndexKey { dataset, description: describe(&corpus_sha256, settings, precision) }
    }

    /// `<dataset>-<the first 8 bytes of the description's SHA-256, in hex>`: the index's
    /// directory name under the cache, or its collection name.
    pub fn name(&self) -> String {
        let digest = Sha256::digest(self.description.as_bytes());
        format!("{}-{}", self.dataset, hex(&digest[..8]))
    }

    /// The text the name's digest is taken of (see the module documentation).
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// The text of format [`INDEX_KEY_FORMAT`].
fn describe(corpus_sha256: &[u8; 32], settings: &IndexSettings, precision: &str) -> String {
    let IndexSettings {
        embedder_id,
        dimension,
        chunking,
        lexical,
        hnsw,
        exact_below,
        late_interaction,
    } = settings;
    let ChunkingConfig { max_tokens, overlap_tokens, prepend_title, mode } = chunking;
    // BM25's parameters apply at query time (the evaluation passes them with every
    // query), so one index serves every parameter set: they are no part of the key.
    let LexicalSettings { stemming, stopwords, fields, bm25: _ } = lexical;
    let HnswSettings { m, ef_construction, ef_search } = hnsw;
    let mode = match mode {
        ChunkMode::Windows => "windows",
        ChunkMode::Whole => "whole",
    };
    let max_tokens = max_tokens.map_or_else(|| "none".to_string(), |n| n.to_string());
    // A JSON string: quoted and escaped, so no id can forge another line.
    let embedder_id = serde_json::Value::from(embedder_id.as_str());
    let precision = serde_json::Value::from(precision);
    let lines = [
        format!("tamis eval index key, format {INDEX_KEY_FORMAT}"),
        format!("corpus.sha256 = {}", hex(corpus_sha256)),
        format!("embedder_id = {embedder_id}"),
        format!("embedder.precision = {precision}"),
        format!("dimension = {dimension}"),
        format!("chunking.mode = {mode}"),
        format!("chunking.max_tokens = {max_tokens}"),
        format!("chunking.overlap_tokens = {overlap_tokens}"),
        format!("chunking.prepend_title = {prepend_title}"),
        format!("lexical.stemming = {stemming}"),
        format!("lexical.stopwords = {stopwords}"),
        format!("lexical.fields = {}", fields.name()),
        format!("hnsw.m = {m}"),
        format!("hnsw.ef_construction = {ef_construction}"),
        format!("hnsw.ef_search = {ef_search}"),
        format!("exact_below = {exact_below}"),
    ];
    let mut text = lines.join("\n");
    text.push('\n');
    // Only when present, so every key made before late interaction stays the same.
    if let Some(LateInteractionSettings { model_id, dimension, storage }) = late_interaction {
        let model_id = serde_json::Value::from(model_id.as_str());
        let storage = match storage {
            TokenStorage::F16 => "f16",
            TokenStorage::Int8 => "int8",
        };
        text.push_str(&format!("late_interaction.model_id = {model_id}\n"));
        text.push_str(&format!("late_interaction.dimension = {dimension}\n"));
        text.push_str(&format!("late_interaction.storage = {storage}\n"));
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests;
