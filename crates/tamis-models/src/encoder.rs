//! The seam between tokenized batches and the tensor library that runs the encoder.
//!
//! Bi- and cross-encoders only build [`TokenBatch`]es and read plain `f32` outputs, so
//! the [`Encoder`] that computes them can change (tamis' own kernels by default, candle's
//! tensors to check against) without touching tokenization, pooling or the score contract.

use crate::Result;

/// A padded batch of token sequences, row-major `[batch, seq_len]`.
#[derive(Debug, Clone, Default)]
pub struct TokenBatch {
    /// Token ids, padded with the model's padding id.
    pub input_ids: Vec<u32>,
    /// Segment ids (0 for the first text, 1 for the second in BERT pairs).
    pub type_ids: Vec<u32>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// Number of sequences.
    pub batch_size: usize,
    /// Length of every (padded) sequence.
    pub seq_len: usize,
}

impl TokenBatch {
    /// Pads `sequences` (ids, type ids) to the longest one with `pad_id`.
    pub fn pad(sequences: &[(&[u32], &[u32])], pad_id: u32) -> TokenBatch {
        let seq_len = sequences.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0);
        let total = sequences.len() * seq_len;
        let mut batch = TokenBatch {
            input_ids: Vec::with_capacity(total),
            type_ids: Vec::with_capacity(total),
            attention_mask: Vec::with_capacity(total),
            batch_size: sequences.len(),
            seq_len,
        };
        for (ids, types) in sequences {
            let pad = seq_len - ids.len();
            batch.input_ids.extend_from_slice(ids);
            batch.input_ids.extend(std::iter::repeat_n(pad_id, pad));
            batch.type_ids.extend_from_slice(types);
            batch.type_ids.extend(std::iter::repeat_n(0, pad));
            batch.attention_mask.extend(std::iter::repeat_n(1, ids.len()));
            batch.attention_mask.extend(std::iter::repeat_n(0, pad));
        }
        batch
    }

    /// The attention mask of sequence `row`.
    pub fn mask_row(&self, row: usize) -> &[u32] {
        &self.attention_mask[row * self.seq_len..(row + 1) * self.seq_len]
    }
}

/// Last hidden states of a batch, row-major `[batch, seq_len, hidden]`.
#[derive(Debug, Clone)]
pub struct HiddenStates {
    /// The values.
    pub data: Vec<f32>,
    /// Width of one token's vector.
    pub hidden: usize,
    /// Tokens per sequence (as padded).
    pub seq_len: usize,
}

impl HiddenStates {
    /// The `[seq_len, hidden]` block of sequence `row`.
    pub fn sequence(&self, row: usize) -> &[f32] {
        let size = self.seq_len * self.hidden;
        &self.data[row * size..(row + 1) * size]
    }
}

/// Something that runs a transformer encoder on token batches.
pub trait Encoder: Send + Sync + std::fmt::Debug {
    /// The last hidden states of every token (for bi-encoders).
    fn hidden_states(&self, batch: &TokenBatch) -> Result<HiddenStates>;

    /// The last hidden states of every row, padding rows too: a row whose attention is 0
    /// is never attended to, but its own state is computed from the rows that are, as a
    /// padded runtime computes it (ColBERT's query expansion reads these rows).
    /// [`Encoder::hidden_states`] may leave padding rows at 0.
    fn hidden_states_every_row(&self, batch: &TokenBatch) -> Result<HiddenStates>;

    /// The classification logits, row-major `[batch, num_labels]` (for cross-encoders).
    fn classify(&self, batch: &TokenBatch) -> Result<Vec<f32>>;
}
