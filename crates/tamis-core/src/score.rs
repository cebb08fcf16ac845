//! The score contract: what a reranker's numbers mean.

/// The function applied to a model's logits to make its scores.
///
/// Declared per model (sentence-transformers' `activation_fn`), never guessed by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ScoreActivation {
    /// Raw logits, unbounded (ms-marco cross-encoders, as sentence-transformers returns them).
    Identity,
    /// `1 / (1 + e^-x)`, in 0..1.
    Sigmoid,
    /// `tanh(x)`, in -1..1.
    Tanh,
    /// Softmax over the labels of one pair, each in 0..1 and summing to 1.
    Softmax,
}

impl ScoreActivation {
    /// Applies the activation to the logits of one pair, in place.
    pub fn apply(self, logits: &mut [f32]) {
        match self {
            ScoreActivation::Identity => {}
            ScoreActivation::Sigmoid => logits.iter_mut().for_each(|x| *x = sigmoid(*x)),
            ScoreActivation::Tanh => logits.iter_mut().for_each(|x| *x = x.tanh()),
            ScoreActivation::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for x in logits.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                logits.iter_mut().for_each(|x| *x /= sum);
            }
        }
    }

    /// The closed range the scores fall in, or `None` when unbounded.
    pub fn range(self) -> Option<(f32, f32)> {
        match self {
            ScoreActivation::Identity => None,
            ScoreActivation::Sigmoid | ScoreActivation::Softmax => Some((0.0, 1.0)),
            ScoreActivation::Tanh => Some((-1.0, 1.0)),
        }
    }
}

impl ScoreContract {
    /// A score in 0..1 for APIs that promise one (Cohere's and Jina's `relevance_score`,
    /// TEI's default): the declared score when the activation yields one, else the sigmoid
    /// of the raw logit.
    pub fn relevance(&self, logit: f32, score: f32) -> f32 {
        match self.activation {
            ScoreActivation::Sigmoid | ScoreActivation::Softmax => score,
            ScoreActivation::Identity | ScoreActivation::Tanh => sigmoid(logit),
        }
    }
}

/// Positions of `scores`, best first (equal scores keep input order), at most `top_n`.
pub fn best_first(scores: &[f32], top_n: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order.truncate(top_n.unwrap_or(usize::MAX));
    order
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// What a reranker's scores mean: the activation applied to its logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScoreContract {
    /// The activation applied; [`ScoreActivation::Identity`] means raw logits.
    pub activation: ScoreActivation,
}

/// The score of one (query, passage) pair.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairScore {
    /// The relevance score, per the reranker's [`ScoreContract`].
    pub score: f32,
    /// The raw logit the score was made from (equal to `score` for identity models).
    pub logit: f32,
    /// Whether the pair was cut to fit the model's maximum length.
    pub truncated: bool,
    /// How many tokens were cut to fit: exact for texts up to about 8 bytes per token of
    /// the model's length, a lower bound (still above 0) for longer ones, which are only
    /// tokenized as far as truncation needs.
    pub dropped_tokens: usize,
}

#[cfg(test)]
mod tests;
