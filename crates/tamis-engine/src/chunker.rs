//! Cutting documents into chunks by the bi-encoder's own tokens.
//!
//! A chunk is a window of at most `max_tokens` tokens; consecutive windows share
//! `overlap_tokens`, so a passage cut at a boundary is whole in one of them. A document
//! that fits in one window is one chunk (the common case for passage corpora).
//! Chunk text is sliced from the original text, so no characters are normalised away.
//!
//! [`ChunkMode::Whole`] skips the windows: one chunk per document holding all of its text,
//! embedded as the model truncates it (what sentence-transformers and the BEIR reference
//! numbers do), while BM25 still sees every word.

use tamis_core::Tokenize;

use crate::{Error, Result};

/// How documents are chunked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkingConfig {
    /// Most tokens per chunk; `None` fills the model's input (its maximum length less the
    /// special tokens and, with `prepend_title`, the title's tokens).
    pub max_tokens: Option<usize>,
    /// Tokens shared by consecutive chunks (default 32).
    pub overlap_tokens: usize,
    /// Embed each chunk as `title + " " + chunk` (default on), so every chunk of a long
    /// document carries what the document is about.
    pub prepend_title: bool,
    /// Windows (default) or one whole chunk per document. Indexes written before the mode
    /// existed used windows.
    #[serde(default)]
    pub mode: ChunkMode,
}

/// Whether long documents are cut into windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkMode {
    /// Token windows of `max_tokens` with `overlap_tokens` (the default): every part of a
    /// long document gets a vector, and the document ranks by its best chunk.
    #[default]
    Windows,
    /// One chunk per document with all its text: the bi-encoder sees only its first
    /// maximum-length tokens (sentence-transformers' behaviour), BM25 sees everything.
    Whole,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            max_tokens: None,
            overlap_tokens: 32,
            prepend_title: true,
            mode: ChunkMode::Windows,
        }
    }
}

/// Special tokens a single-text input spends (`[CLS]` and `[SEP]`, or `<s>` and `</s>`).
const SPECIAL_TOKENS: usize = 2;

impl ChunkingConfig {
    /// Checks the overlap against the window size.
    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == Some(0) {
            return Err(Error::InvalidChunking {
                message: "chunk size must be at least 1 token".into(),
            });
        }
        if let Some(max) = self.max_tokens
            && self.overlap_tokens >= max
        {
            return Err(Error::InvalidChunking {
                message: format!(
                    "overlap ({}) must be smaller than the chunk size ({max})",
                    self.overlap_tokens
                ),
            });
        }
        Ok(())
    }
}

/// Splits `text` into chunk texts with `tokenizer`'s tokens. `title_tokens` is what the
/// title costs when it is prepended.
pub fn chunk_text(
    text: &str,
    title_tokens: usize,
    config: &ChunkingConfig,
    tokenizer: &dyn Tokenize,
) -> Result<Vec<String>> {
    config.validate()?;
    if config.mode == ChunkMode::Whole {
        return Ok(vec![text.trim().to_string()]);
    }
    let offsets = tokenizer.token_offsets(text).map_err(Error::Model)?;
    let room = tokenizer.max_tokens().saturating_sub(SPECIAL_TOKENS + title_tokens).max(1);
    let window = config.max_tokens.unwrap_or(room).max(1);
    // With an automatic window smaller than the overlap, fall back to no overlap.
    let overlap = if config.overlap_tokens < window { config.overlap_tokens } else { 0 };
    Ok(windows(text, &offsets, window, overlap))
}

/// Slices `text` into windows of `window` tokens overlapping by `overlap`.
fn windows(text: &str, offsets: &[(usize, usize)], window: usize, overlap: usize) -> Vec<String> {
    if offsets.len() <= window {
        return vec![text.trim().to_string()];
    }
    let step = window - overlap;
    let mut chunks = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + window).min(offsets.len());
        let (from, to) = (offsets[start].0, offsets[end - 1].1);
        chunks.push(text.get(from..to).unwrap_or_default().to_string());
        if end == offsets.len() {
            break;
        }
        start += step;
    }
    chunks
}

#[cfg(test)]
mod tests;
