//! The model's own `tokenizer.json`, set up for tamis' truncation and batching.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tokenizers::{Encoding, PostProcessor, Tokenizer, TruncationParams};

use crate::{Error, Result};

/// Which side of a (query, passage) pair gives up tokens when the pair is too long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Truncation {
    /// Remove from the longer side, one token at a time (sentence-transformers' default).
    #[default]
    LongestFirst,
    /// Only the passage is cut; a query that alone exceeds the limit is an error.
    OnlySecond,
}

/// A tokenizer with truncation fixed at the model's maximum length and padding off
/// (batches are padded by [`crate::encoder::TokenBatch::pad`] after sorting by length).
#[derive(Debug)]
pub(crate) struct TextTokenizer {
    /// Truncates at `max_length` (special tokens included).
    truncating: Tokenizer,
    /// Never truncates: pairs are tokenized whole, then cut by `truncating.post_process`.
    whole: Tokenizer,
    max_length: usize,
    path: PathBuf,
}

/// One tokenized input (a text, or a pair), special tokens included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Segment ids: 0 for the first text, 1 for the second in BERT pairs.
    pub type_ids: Vec<u32>,
    /// Whether tokens were cut to fit the maximum length.
    pub truncated: bool,
    /// How many tokens were cut (0 when none).
    pub dropped_tokens: usize,
}

impl TextTokenizer {
    pub(crate) fn load(dir: &Path, max_length: usize, truncation: Truncation) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        let (mut whole, path) = if json.is_file() {
            let tokenizer = Tokenizer::from_file(&json)
                .map_err(|e| Error::Tokenizer { path: json.clone(), message: e.to_string() })?;
            (tokenizer, json)
        } else if vocab.is_file() {
            (bert_from_vocab(dir, &vocab)?, vocab)
        } else {
            return Err(Error::MissingFile {
                path: json,
                hint: "tamis needs the fast tokenizer file (or a BERT vocab.txt); save it with `tokenizer.save_pretrained(dir)` in transformers",
            });
        };
        let tokenizer_error =
            |e: tokenizers::Error| Error::Tokenizer { path: path.clone(), message: e.to_string() };
        // tokenizer.json may carry truncation and padding of its own (all-MiniLM-L6-v2 pads
        // to 128); sentence-transformers overrides both, and so do we.
        whole.with_truncation(None).map_err(tokenizer_error)?;
        whole.with_padding(None);
        let added_for_pairs = whole.get_post_processor().map_or(0, |p| p.added_tokens(true));
        if max_length <= added_for_pairs {
            return Err(Error::InvalidOption {
                name: "max_length",
                message: format!(
                    "{max_length} leaves no room next to the {added_for_pairs} special tokens"
                ),
            });
        }
        let strategy = match truncation {
            Truncation::LongestFirst => tokenizers::TruncationStrategy::LongestFirst,
            Truncation::OnlySecond => tokenizers::TruncationStrategy::OnlySecond,
        };
        let mut truncating = whole.clone();
        truncating
            .with_truncation(Some(TruncationParams { max_length, strategy, ..Default::default() }))
            .map_err(tokenizer_error)?;
        Ok(TextTokenizer { truncating, whole, max_length, path })
    }

    fn error(&self, e: tokenizers::Error) -> Error {
        Error::Tokenizer { path: self.path.clone(), message: e.to_string() }
    }

    /// Tokenizes single texts, in parallel, keeping input order.
    pub(crate) fn encode_texts(&self, texts: &[&str]) -> Result<Vec<Tokens>> {
        let added = self.whole.get_post_processor().map_or(0, |p| p.added_tokens(false));
        let encodings =
            self.truncating.encode_batch_fast(texts.to_vec(), true).map_err(|e| self.error(e))?;
        Ok(encodings
            .into_iter()
            .map(|encoding| {
                // With stride 0 the tokenizer keeps whatever it cut as overflowing encodings,
                // each post-processed (special tokens added) like the kept part.
                let dropped =
                    encoding.get_overflowing().iter().map(|o| o.len().saturating_sub(added)).sum();
                tokens(&encoding, dropped)
            })
            .collect())
    }

    /// Tokenizes (first, second) pairs, in parallel, keeping input order.
    ///
    /// Each side is tokenized whole before the pair is truncated. tokenizers 0.23 stops
    /// tokenizing a side at `max_length` when truncation is on, which changes which side
    /// `longest_first` sees as longer; the whole-side path gives the pairs transformers
    /// has always produced (and that the parity fixtures hold).
    pub(crate) fn encode_pairs(&self, pairs: &[(&str, &str)]) -> Result<Vec<Tokens>> {
        let added = self.whole.get_post_processor().map_or(0, |p| p.added_tokens(true));
        pairs
            .par_iter()
            .map(|(first, second)| {
                let first = self.whole.encode_fast(*first, false).map_err(|e| self.error(e))?;
                let second = self.whole.encode_fast(*second, false).map_err(|e| self.error(e))?;
                let dropped = (first.len() + second.len() + added).saturating_sub(self.max_length);
                let pair = self
                    .truncating
                    .post_process(first, Some(second), true)
                    .map_err(|e| self.error(e))?;
                Ok(tokens(&pair, dropped))
            })
            .collect()
    }

    /// Byte ranges of the tokens of `text`, without special tokens or truncation.
    pub(crate) fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let encoding = self.whole.encode(text, false).map_err(|e| self.error(e))?;
        Ok(encoding.get_offsets().to_vec())
    }

    /// Number of tokens of `text` with special tokens, without truncation.
    pub(crate) fn count_tokens(&self, text: &str) -> Result<usize> {
        self.whole.encode_fast(text, true).map(|e| e.len()).map_err(|e| self.error(e))
    }
}

/// Builds what transformers' `BertTokenizerFast` converts a `vocab.txt` into, for older
/// BERT checkpoints that ship no `tokenizer.json`; `do_lower_case`, `strip_accents` and
/// `tokenize_chinese_chars` come from `tokenizer_config.json` with BERT's defaults.
fn bert_from_vocab(dir: &Path, vocab: &Path) -> Result<Tokenizer> {
    use tokenizers::Model;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;

    #[derive(serde::Deserialize)]
    struct BertTokenizerConfig {
        #[serde(default = "yes")]
        do_lower_case: bool,
        strip_accents: Option<bool>,
        #[serde(default = "yes")]
        tokenize_chinese_chars: bool,
    }
    fn yes() -> bool {
        true
    }
    let config_path = dir.join("tokenizer_config.json");
    let config: BertTokenizerConfig = if config_path.is_file() {
        crate::config::read_json(&config_path)?
    } else {
        serde_json::from_str("{}").expect("defaults deserialize: this is a bug")
    };
    let error = |message: String| Error::Tokenizer { path: vocab.to_path_buf(), message };
    let vocab_str = vocab.to_str().ok_or_else(|| error("the path is not valid UTF-8".into()))?;
    let model = WordPiece::from_file(vocab_str)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| error(e.to_string()))?;
    let special = |token: &str| {
        model
            .token_to_id(token)
            .ok_or_else(|| error(format!("the vocabulary has no {token} token")))
    };
    let (cls, sep) = (special("[CLS]")?, special("[SEP]")?);
    let specials: Vec<tokenizers::AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .into_iter()
        .filter(|t| model.token_to_id(t).is_some())
        .map(|t| tokenizers::AddedToken::from(t, true))
        .collect();
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            config.tokenize_chinese_chars,
            config.strip_accents,
            config.do_lower_case,
        )))
        .map_err(|e| error(e.to_string()))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    tokenizer.add_special_tokens(specials).map_err(|e| error(e.to_string()))?;
    Ok(tokenizer)
}

fn tokens(encoding: &Encoding, dropped_tokens: usize) -> Tokens {
    Tokens {
        ids: encoding.get_ids().to_vec(),
        type_ids: encoding.get_type_ids().to_vec(),
        truncated: dropped_tokens > 0,
        dropped_tokens,
    }
}
