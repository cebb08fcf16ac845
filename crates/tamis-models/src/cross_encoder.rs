//! Cross-encoders: (query, passage) pairs to relevance scores, as sentence-transformers'
//! `CrossEncoder` computes them.
//!
//! The score contract is explicit: the activation comes from the model's config
//! (`sentence_transformers.activation_fn`), else sigmoid for one label and identity for
//! several, exactly as sentence-transformers decides; callers may ask for raw logits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tamis_core::{PairScore, Reranker, ScoreActivation, ScoreContract};

use crate::bi_encoder::resolve_max_length;
use crate::config::{EncoderConfig, Head};
use crate::encoder::Encoder;
use crate::runtime::{Precision, RuntimeConfig, for_each_sorted_batch, load_encoder};
use crate::source::ModelDir;
use crate::tokenizer::{TextTokenizer, Tokens, Truncation};
use crate::{Error, Result};

/// How a cross-encoder is loaded and run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrossEncoderConfig {
    /// Threads and batch size.
    pub runtime: RuntimeConfig,
    /// Maximum tokens per pair; `None` uses the tokenizer's `model_max_length`.
    pub max_length: Option<usize>,
    /// Which side of a long pair is cut.
    pub truncation: Truncation,
    /// Overrides the model's declared activation; `Some(Identity)` returns raw logits.
    pub activation: Option<ScoreActivation>,
    /// For models with several labels: the label whose score ranks passages.
    pub label: Option<usize>,
}

/// The output for one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Raw logits, one per label.
    pub logits: Vec<f32>,
    /// The logits after the activation, one per label.
    pub scores: Vec<f32>,
    /// Whether the pair was cut to fit the maximum length.
    pub truncated: bool,
    /// How many tokens were cut (a lower bound for texts far longer than the model's
    /// length: see [`Tokens::dropped_tokens`]).
    pub dropped_tokens: usize,
}

impl Prediction {
    /// The pair's score under one label, as the engine's `Reranker` trait returns it.
    pub fn pair_score(&self, label: usize) -> PairScore {
        PairScore {
            score: self.scores[label],
            logit: self.logits[label],
            truncated: self.truncated,
            dropped_tokens: self.dropped_tokens,
        }
    }
}

/// One passage of a ranking, as [`CrossEncoder::rank`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedPassage {
    /// Position of the passage in the input.
    pub index: usize,
    /// The score of the ranking label.
    pub score: f32,
    /// The prediction behind the score (all labels, logits, truncation).
    pub prediction: Prediction,
}

/// A loaded cross-encoder.
#[derive(Debug)]
pub struct CrossEncoder {
    dir: PathBuf,
    encoder: Arc<dyn Encoder>,
    encoder_config: EncoderConfig,
    tokenizer: TextTokenizer,
    pad_id: u32,
    num_labels: usize,
    activation: ScoreActivation,
    label: Option<usize>,
    max_length: usize,
    runtime: RuntimeConfig,
}

impl CrossEncoder {
    /// Loads the cross-encoder in `model`.
    pub fn load(model: &ModelDir, config: &CrossEncoderConfig) -> Result<CrossEncoder> {
        let dir = &model.path;
        let expected = "a cross-encoder (sequence classification model)";
        crate::late_interaction::refuse_late_interaction(dir, expected)?;
        let (encoder_config, encoder, runtime) = load_encoder(dir, &config.runtime)?;
        let Head::Classifier { num_labels } = encoder_config.head else {
            return Err(Error::WrongModelKind {
                dir: dir.clone(),
                found: "a bi-encoder (no classification head)",
                expected,
            });
        };
        if let Some(label) = config.label.filter(|l| *l >= num_labels) {
            return Err(Error::InvalidOption {
                name: "label",
                message: format!(
                    "label {label} does not exist: the model has {num_labels} label(s)"
                ),
            });
        }
        let activation = config.activation.or(encoder_config.declared_activation).unwrap_or(
            if num_labels == 1 { ScoreActivation::Sigmoid } else { ScoreActivation::Identity },
        );
        let max_length = resolve_max_length(&encoder_config, config.max_length, dir)?;
        let tokenizer = TextTokenizer::load(dir, max_length, config.truncation)?;
        Ok(CrossEncoder {
            dir: dir.clone(),
            encoder,
            encoder_config: encoder_config.clone(),
            tokenizer,
            pad_id: encoder_config.pad_token_id,
            num_labels,
            activation,
            label: config.label,
            max_length,
            runtime,
        })
    }

    /// The encoder's configuration, as read from `config.json`.
    pub fn encoder_config(&self) -> &EncoderConfig {
        &self.encoder_config
    }

    /// Logits per pair.
    pub fn num_labels(&self) -> usize {
        self.num_labels
    }

    /// The activation applied to logits to make scores.
    pub fn activation(&self) -> ScoreActivation {
        self.activation
    }

    /// Maximum tokens per pair, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The arithmetic of its dense layers.
    pub fn precision(&self) -> Precision {
        self.runtime.precision
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tokenizes pairs exactly as [`CrossEncoder::predict`] does, truncation included.
    pub fn tokenize(&self, pairs: &[(&str, &str)]) -> Result<Vec<Tokens>> {
        self.tokenizer.encode_pairs(pairs)
    }

    /// Byte ranges of the first `n` tokens of `text` (all when it has fewer), special
    /// tokens aside; the work is bounded by `n`, not by the text's size.
    pub fn first_token_offsets(&self, text: &str, n: usize) -> Result<Vec<(usize, usize)>> {
        self.tokenizer.first_token_offsets(text, n)
    }

    /// Scores each (query, passage) pair, in input order.
    pub fn predict(&self, pairs: &[(&str, &str)]) -> Result<Vec<Prediction>> {
        self.predict_tokens(&self.tokenize(pairs)?)
    }

    /// Scores pairs already made by [`CrossEncoder::tokenize`], in input order: a server
    /// tokenizes on its request threads and batches the model calls of many requests.
    pub fn predict_tokens(&self, inputs: &[Tokens]) -> Result<Vec<Prediction>> {
        let mut predictions: Vec<Option<Prediction>> = vec![None; inputs.len()];
        for_each_sorted_batch(inputs, &self.runtime, self.pad_id, |positions, batch| {
            let logits = self.encoder.classify(batch)?;
            for (row, &position) in positions.iter().enumerate() {
                let logits = logits[row * self.num_labels..(row + 1) * self.num_labels].to_vec();
                let mut scores = logits.clone();
                self.activation.apply(&mut scores);
                let Tokens { truncated, dropped_tokens, .. } = inputs[position];
                predictions[position] =
                    Some(Prediction { logits, scores, truncated, dropped_tokens });
            }
            Ok(())
        })?;
        Ok(predictions
            .into_iter()
            .map(|p| p.expect("every pair is in exactly one batch: this is a bug"))
            .collect())
    }

    /// The label that ranks: the configured one, or the only one (an error for a model
    /// with several labels and none chosen).
    pub fn ranking_label(&self) -> Result<usize> {
        match (self.label, self.num_labels) {
            (Some(label), _) => Ok(label),
            (None, 1) => Ok(0),
            (None, n) => Err(Error::InvalidOption {
                name: "label",
                message: format!("the model has {n} labels: choose the one that ranks"),
            }),
        }
    }

    /// Scores `passages` against `query` and sorts them by the ranking label's score,
    /// highest first, keeping at most `top_n`. Equal scores keep input order.
    pub fn rank(
        &self,
        query: &str,
        passages: &[&str],
        top_n: Option<usize>,
    ) -> Result<Vec<RankedPassage>> {
        let label = self.ranking_label()?;
        let pairs: Vec<(&str, &str)> = passages.iter().map(|p| (query, *p)).collect();
        let predictions = self.predict(&pairs)?;
        let scores: Vec<f32> = predictions.iter().map(|p| p.scores[label]).collect();
        let mut predictions: Vec<Option<Prediction>> = predictions.into_iter().map(Some).collect();
        let ranked = tamis_core::best_first(&scores, top_n)
            .into_iter()
            .map(|index| RankedPassage {
                index,
                score: scores[index],
                prediction: predictions[index].take().expect("best_first gives each index once"),
            })
            .collect();
        Ok(ranked)
    }

    /// Scores `passages` against `query` with the ranking label, in input order.
    pub fn score_passages(&self, query: &str, passages: &[&str]) -> Result<Vec<PairScore>> {
        let label = self.ranking_label()?;
        let pairs: Vec<(&str, &str)> = passages.iter().map(|p| (query, *p)).collect();
        Ok(self.predict(&pairs)?.iter().map(|p| p.pair_score(label)).collect())
    }
}

impl tamis_core::Tokenize for CrossEncoder {
    fn token_offsets(&self, text: &str) -> tamis_core::Result<Vec<(usize, usize)>> {
        Ok(self.tokenizer.token_offsets(text)?)
    }

    fn max_tokens(&self) -> usize {
        self.max_length
    }
}

impl Reranker for CrossEncoder {
    fn score_contract(&self) -> ScoreContract {
        ScoreContract { activation: self.activation }
    }

    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        Ok(self.score_passages(query, passages)?)
    }

    /// Every token id of the query: each side of a pair is tokenized on its own, and the
    /// pair (truncation included) is a function of both sides' ids.
    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        Ok(Some(self.tokenizer.ids(query)?))
    }
}
