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
    strategy: Truncation,
    path: PathBuf,
}

/// Bytes of text per token in the first prefix tried (see `TextTokenizer::prefix`): twice
/// what English prose takes with BERT's vocabulary (about 4.5), so one try is the rule.
const PREFIX_BYTES_PER_TOKEN: usize = 8;

/// The smallest prefix tried, in bytes.
const MIN_PREFIX_BYTES: usize = 1024;

/// Part of a text, tokenized without special tokens.
#[derive(Debug)]
struct Prefix {
    encoding: Encoding,
    /// Whether it is the whole text (else it has at least the tokens asked for).
    whole: bool,
}

/// Where a prefix of `text` of about `budget_bytes` bytes ends: the start of the last run
/// of whitespace within them, after some non-whitespace. `None` when the text is not
/// longer than the budget, or holds no such run within it.
fn prefix_end(text: &str, budget_bytes: usize) -> Option<usize> {
    if text.len() <= budget_bytes {
        return None;
    }
    // Back to a char boundary; a run starting right there counts too.
    let mut limit = budget_bytes;
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let window = text.get(..limit)?;
    let next_is_space = text.get(limit..)?.chars().next().is_some_and(char::is_whitespace);
    let mut end = None;
    let mut previous_is_space = true;
    for (idx, c) in window.char_indices() {
        let is_space = c.is_whitespace();
        if is_space && !previous_is_space {
            end = Some(idx);
        }
        previous_is_space = is_space;
    }
    if next_is_space && !previous_is_space {
        end = Some(limit);
    }
    end
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
    /// How many tokens were cut (0 when none). Exact when the text was tokenized whole;
    /// a text far longer than the model's length is tokenized only as far as truncation
    /// needs (about 8 bytes per token of the model's length), and then this counts the
    /// tokens cut from that part: a lower bound, still above 0.
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
        Ok(TextTokenizer { truncating, whole, max_length, strategy: truncation, path })
    }

    fn error(&self, e: tokenizers::Error) -> Error {
        Error::Tokenizer { path: self.path.clone(), message: e.to_string() }
    }

    /// Tokenizes single texts, in parallel, keeping input order.
    ///
    /// Each text is tokenized only as far as truncation needs (see [`Prefix`]), so the work
    /// and memory per text are bounded by the model's length, not the text's size.
    pub(crate) fn encode_texts(&self, texts: &[&str]) -> Result<Vec<Tokens>> {
        let added = self.whole.get_post_processor().map_or(0, |p| p.added_tokens(false));
        let room = self.max_length.saturating_sub(added);
        texts
            .par_iter()
            .map(|text| {
                let prefix = self.prefix(text, room + 1)?;
                let dropped = prefix.encoding.len().saturating_sub(room);
                let encoding = self
                    .truncating
                    .post_process(prefix.encoding, None, true)
                    .map_err(|e| self.error(e))?;
                Ok(tokens(&encoding, dropped))
            })
            .collect()
    }

    /// Tokenizes (first, second) pairs, in parallel, keeping input order.
    ///
    /// Each side is tokenized on its own before the pair is truncated. tokenizers 0.23
    /// stops tokenizing a side at `max_length` when truncation is on, which changes which
    /// side `longest_first` sees as longer; tokenizing sides apart gives the pairs
    /// transformers has always produced (and that the parity fixtures hold). Each side is
    /// tokenized only as far as truncation needs (see [`Prefix`] and [`TextTokenizer::pair_sides`]).
    pub(crate) fn encode_pairs(&self, pairs: &[(&str, &str)]) -> Result<Vec<Tokens>> {
        let added = self.whole.get_post_processor().map_or(0, |p| p.added_tokens(true));
        let room = self.max_length.saturating_sub(added);
        pairs
            .par_iter()
            .map(|(first, second)| {
                let (first, second) = self.pair_sides(first, second, room)?;
                let dropped = (first.encoding.len() + second.encoding.len() + added)
                    .saturating_sub(self.max_length);
                let pair = self
                    .truncating
                    .post_process(first.encoding, Some(second.encoding), true)
                    .map_err(|e| self.error(e))?;
                Ok(tokens(&pair, dropped))
            })
            .collect()
    }

    /// Both sides of a pair, each tokenized far enough that truncating the pair to `room`
    /// tokens (special tokens aside) gives what truncating the whole sides would.
    ///
    /// Only `longest_first` needs more than `room + 1` tokens of a side, and only to know
    /// which side is longer: the shorter side keeps its tokens when it fits in half the
    /// room, and when both sides are cut, the longer one gets the odd token of an odd room.
    /// A side cut short is grown until the comparison is decided, which tokenizes at most
    /// about as much as the shorter side holds (a query longer than the model's length
    /// against a longer passage; never for ordinary queries).
    fn pair_sides(&self, first: &str, second: &str, room: usize) -> Result<(Prefix, Prefix)> {
        let mut a = self.prefix(first, room + 1)?;
        let mut b = self.prefix(second, room + 1)?;
        loop {
            let (a_len, b_len) = (a.encoding.len(), b.encoding.len());
            let decided = self.strategy == Truncation::OnlySecond
                || match (a.whole, b.whole) {
                    (true, true) => true,
                    // A cut side is longer than `room`, and than the whole side if its
                    // own prefix already is.
                    (true, false) => a_len <= room || b_len > a_len,
                    (false, true) => b_len <= room || a_len > b_len,
                    // Both are cut and get half the room each: only an odd room cares
                    // which is longer.
                    (false, false) => room.is_multiple_of(2),
                };
            if decided {
                return Ok((a, b));
            }
            // Grow the cut side that is behind, to just past the other.
            // Twice the other's length, so that the sizes grow geometrically.
            if !a.whole && (b.whole || a_len <= b_len) {
                a = self.prefix(first, 2 * b_len.max(1))?;
            } else {
                b = self.prefix(second, 2 * a_len.max(1))?;
            }
        }
    }

    /// The tokens (no special tokens) of a prefix of `text` holding at least `wanted`
    /// tokens that are the first tokens of `text` itself, or of the whole text when it has
    /// fewer.
    ///
    /// The prefix ends where a run of whitespace begins. Every tokenizer transformers
    /// ships splits words there before its model runs (BERT's and the `Whitespace`
    /// pre-tokenizers, `Metaspace`, GPT-2's byte-level regex), and its normalizers work
    /// character by character (NFC/NFKC, lowercasing and accent stripping change nothing
    /// across a whitespace), so the prefix's tokens are the first tokens of the whole
    /// text. The prefix starts at [`PREFIX_BYTES_PER_TOKEN`] bytes per wanted token and
    /// doubles until it holds enough tokens; a text without whitespace (unspaced CJK, one
    /// huge "word") ends up tokenized whole, as before.
    fn prefix(&self, text: &str, wanted: usize) -> Result<Prefix> {
        self.prefix_by(text, wanted, |part| self.whole.encode_fast(part, false))
    }

    /// [`TextTokenizer::prefix`] with `encode` as the tokenizer call (with or without
    /// offsets).
    fn prefix_by(
        &self,
        text: &str,
        wanted: usize,
        encode: impl Fn(&str) -> tokenizers::Result<Encoding>,
    ) -> Result<Prefix> {
        let mut budget_bytes = wanted.saturating_mul(PREFIX_BYTES_PER_TOKEN).max(MIN_PREFIX_BYTES);
        loop {
            if text.len() <= budget_bytes {
                let encoding = encode(text).map_err(|e| self.error(e))?;
                return Ok(Prefix { encoding, whole: true });
            }
            let Some(end) = prefix_end(text, budget_bytes) else {
                // No whitespace yet: a longer prefix may have some.
                budget_bytes = budget_bytes.saturating_mul(2);
                continue;
            };
            // `prefix_end` returns a char boundary of `text`; `get` keeps that checked.
            let part = text.get(..end).unwrap_or(text);
            let encoding = encode(part).map_err(|e| self.error(e))?;
            if encoding.len() >= wanted {
                return Ok(Prefix { encoding, whole: false });
            }
            budget_bytes = budget_bytes.saturating_mul(2);
        }
    }

    /// Byte ranges of the tokens of `text`, without special tokens or truncation.
    pub(crate) fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let encoding = self.whole.encode(text, false).map_err(|e| self.error(e))?;
        Ok(encoding.get_offsets().to_vec())
    }

    /// Byte ranges of the first `n` tokens of `text` (all of them when it has fewer),
    /// without special tokens; tokenizes only about as much of the text as they take.
    pub(crate) fn first_token_offsets(&self, text: &str, n: usize) -> Result<Vec<(usize, usize)>> {
        let prefix = self.prefix_by(text, n, |part| self.whole.encode(part, false))?;
        Ok(prefix.encoding.get_offsets().iter().take(n).copied().collect())
    }

    /// Every token id of `text`, without special tokens or truncation.
    pub(crate) fn ids(&self, text: &str) -> Result<Vec<u32>> {
        self.whole.encode_fast(text, false).map(|e| e.get_ids().to_vec()).map_err(|e| self.error(e))
    }

    /// The id of `token` in the vocabulary or the added tokens, taken whole (not
    /// tokenized).
    pub(crate) fn token_id(&self, token: &str) -> Option<u32> {
        self.whole.token_to_id(token)
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

/// Pair tokenization exactly as [`CrossEncoder`](crate::CrossEncoder) does it, without
/// loading weights: what training tokenizes with, so that a trained model meets at
/// inference the inputs it learned from.
#[derive(Debug)]
pub struct PairTokenizer(TextTokenizer);

impl PairTokenizer {
    /// The tokenizer of the model in `dir` (`tokenizer.json`, or a BERT `vocab.txt`),
    /// truncating pairs to `max_length` tokens with `truncation`.
    pub fn load(dir: &Path, max_length: usize, truncation: Truncation) -> Result<PairTokenizer> {
        TextTokenizer::load(dir, max_length, truncation).map(PairTokenizer)
    }

    /// Tokenizes `(query, passage)` pairs, special tokens included, in input order.
    pub fn tokenize(&self, pairs: &[(&str, &str)]) -> Result<Vec<Tokens>> {
        self.0.encode_pairs(pairs)
    }

    /// The length pairs are truncated to.
    pub fn max_length(&self) -> usize {
        self.0.max_length
    }
}
