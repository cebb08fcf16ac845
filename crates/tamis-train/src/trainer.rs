//! One training step after another: tokenize a batch of groups, forward with dropout,
//! loss, backward, AdamW; checkpoint and resume.

use std::path::Path;

use tamis_models::PairTokenizer;

use crate::checkpoint;
use crate::loss;
use crate::model::{CrossEncoderModel, DropoutRates, Params, StepDropout};
use crate::optim::{AdamW, AdamWConfig};
use crate::{Error, Result};

#[cfg(test)]
mod tests;

/// The loss a run optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Binary cross-entropy of every (query, document) pair: the positive 1, the rest 0.
    Bce,
    /// Softmax cross-entropy over each group, the positive the target.
    Listwise,
    /// MarginMSE on the teacher's scores: positive-minus-negative margins regressed.
    MarginMse,
    /// KL divergence from the teacher's softmax over each group.
    Kl,
}

impl LossKind {
    /// Whether the loss needs a teacher's scores.
    pub fn needs_teacher(self) -> bool {
        matches!(self, LossKind::MarginMse | LossKind::Kl)
    }
}

/// How a run trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainerConfig {
    /// The loss.
    pub loss: LossKind,
    /// With a distillation loss: the weight of the listwise loss on the labels (the
    /// positive first) added to it, so that qrels and a teacher train together; 0 for
    /// the teacher alone. Ignored by the label losses.
    pub label_weight: f32,
    /// Documents per group: the positive and its negatives.
    pub group_size: usize,
    /// The optimizer and its schedule.
    pub adamw: AdamWConfig,
    /// Dropout during training.
    pub dropout: DropoutRates,
    /// Seeds the dropout masks (the data order is the caller's).
    pub seed: u64,
    /// Threads for the matrix products, within the caller's rayon pool.
    pub threads: usize,
}

/// One group of a step: a query and its documents, the positive first, with the
/// teacher's scores of the documents when distilling.
#[derive(Debug, Clone, Copy)]
pub struct StepGroup<'a> {
    /// The query.
    pub query: &'a str,
    /// The documents' texts, the positive first.
    pub documents: &'a [&'a str],
    /// The teacher's score of each document.
    pub teacher: Option<&'a [f32]>,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// The loss before the update.
    pub loss: f32,
    /// The learning rate of the update.
    pub lr: f32,
    /// Tokens in the batch.
    pub tokens: usize,
}

/// A model being trained, its tokenizer and its optimizer.
#[derive(Debug)]
pub struct Trainer {
    model: CrossEncoderModel,
    tokenizer: PairTokenizer,
    optimizer: AdamW,
    config: TrainerConfig,
    /// The gradient, zero between steps (the optimizer zeroes it as it reads it): kept,
    /// because allocating the size of the model anew each step cost a copy, a fill and
    /// fresh pages the kernel zeroes.
    grads: Params,
}

impl Trainer {
    /// A trainer at step 0.
    pub fn new(
        model: CrossEncoderModel,
        tokenizer: PairTokenizer,
        config: TrainerConfig,
    ) -> Trainer {
        let optimizer = AdamW::new(config.adamw, &model.params);
        let grads = model.params.zeros_like();
        Trainer { model, tokenizer, optimizer, config, grads }
    }

    /// The model as trained so far.
    pub fn model(&self) -> &CrossEncoderModel {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &PairTokenizer {
        &self.tokenizer
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.optimizer.steps
    }

    /// One update over `groups`. Every group must hold `group_size` documents (and, for
    /// a distillation loss, as many teacher scores).
    pub fn step(&mut self, groups: &[StepGroup<'_>]) -> Result<StepReport> {
        let size = self.config.group_size;
        let mut pairs = Vec::with_capacity(groups.len() * size);
        let mut teacher = Vec::new();
        for group in groups {
            if group.documents.len() != size {
                return Err(Error::Data(format!(
                    "a group holds {} documents, not {size}",
                    group.documents.len()
                )));
            }
            pairs.extend(group.documents.iter().map(|document| (group.query, *document)));
            if self.config.loss.needs_teacher() {
                let scores =
                    group.teacher.filter(|scores| scores.len() == size).ok_or_else(|| {
                        Error::Data(
                            "a distillation loss needs a teacher score for every document".into(),
                        )
                    })?;
                teacher.extend_from_slice(scores);
            }
        }
        let mut batch = self.model.batch();
        for tokens in self.tokenizer.tokenize(&pairs)? {
            batch.push(&tokens.ids, &tokens.type_ids);
        }
        let dropout = StepDropout {
            rates: self.config.dropout,
            seed: self.config.seed,
            step: self.optimizer.steps,
        };
        let threads = self.config.threads;
        let (logits, tape) = self.model.forward(&batch, Some(&dropout), threads);
        let mut d_logits = vec![0.0; logits.len()];
        let targets = || -> Vec<f32> {
            (0..logits.len()).map(|i| f32::from(u8::from(i % size == 0))).collect()
        };
        let value = match self.config.loss {
            LossKind::Bce => loss::bce(&logits, &targets(), &mut d_logits),
            LossKind::Listwise => loss::listwise(&logits, &targets(), size, &mut d_logits),
            LossKind::MarginMse => loss::margin_mse(&logits, &teacher, size, &mut d_logits),
            LossKind::Kl => loss::kl(&logits, &teacher, size, &mut d_logits),
        };
        let label_weight = self.config.label_weight;
        let value = if self.config.loss.needs_teacher() && label_weight != 0.0 {
            let mut d_labels = vec![0.0; logits.len()];
            let labels = loss::listwise(&logits, &targets(), size, &mut d_labels);
            for (d, l) in d_logits.iter_mut().zip(&d_labels) {
                *d += label_weight * l;
            }
            value + label_weight * labels
        } else {
            value
        };
        if !value.is_finite() {
            return Err(Error::Diverged { step: self.optimizer.steps, loss: value });
        }
        self.model.backward(&batch, tape, &d_logits, &mut self.grads, threads);
        let lr = self.optimizer.step_and_zero(&mut self.model.params, &mut self.grads);
        Ok(StepReport { loss: value, lr, tokens: batch.tokens() })
    }

    /// The optimizer's settings, with the schedule in force.
    pub fn adamw(&self) -> &AdamWConfig {
        self.optimizer.config()
    }

    /// Replaces the learning-rate schedule from the next step on (see [`AdamW::reschedule`]).
    pub fn reschedule(&mut self, warmup_steps: u64, total_steps: u64) {
        self.optimizer.reschedule(warmup_steps, total_steps);
    }

    /// Saves a checkpoint to `dir` (see [`checkpoint::save`]) with the caller's `state`.
    pub fn save_checkpoint(&self, dir: &Path, state: &serde_json::Value) -> Result<()> {
        checkpoint::save(dir, &self.model, &self.optimizer, state)
    }

    /// Resumes from the checkpoint in `dir`, if there is one, returning the caller's state.
    pub fn resume(&mut self, dir: &Path) -> Result<Option<serde_json::Value>> {
        checkpoint::load(dir, &mut self.model, &mut self.optimizer)
    }
}
