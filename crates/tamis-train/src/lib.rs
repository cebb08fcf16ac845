//! Training for tamis' rerankers, on the same CPU kernels as inference.
//!
//! A cross-encoder is fine-tuned by reverse-mode differentiation through the encoder.
//! This crate writes the backward pass by hand over [`tamis_kernels`] rather than
//! through a tape-based autograd: every operation of a BERT-family encoder has a
//! forward that keeps what its backward needs and a backward that accumulates parameter
//! gradients, in PyTorch's weight layout (`[out, in]`) so that checkpoints are plain
//! Hugging Face tensors.
//!
//! - [`ops`]: the operations, each checked against central finite differences of a
//!   double-precision reference (`ops/tests.rs`).
//! - [`model`]: a BERT cross-encoder whose forward keeps a [`model::Tape`] and whose
//!   backward fills a gradient [`Params`] (checked against the logits `transformers`
//!   computes and against finite differences, `model/tests.rs`).
//! - [`optim`]: AdamW with linear warmup and decay, weight decay off for biases and
//!   LayerNorm, as `transformers`' Trainer runs it.
//! - [`data`]: training groups, each a judged-relevant document and hard negatives
//!   drawn from a stage-1 ranking window, reproducible per seed and epoch.
//! - [`trainer`]: the step loop (tokenize, forward with dropout, loss, backward,
//!   AdamW) with checkpoints and resumption.
//! - [`checkpoint`]: checkpoints that survive `kill -9`, and [`export`]: the trained
//!   model in Hugging Face layout.
//! - [`loss`]: the ranking losses (pointwise BCE, listwise softmax cross-entropy,
//!   MarginMSE and KL distillation), with their gradients.
//!
//! ```
//! use tamis_train::ops::{linear_backward, linear_forward};
//!
//! // y = x·Wᵀ + b for one row, W in PyTorch's [out, in] layout: 1 → 2.
//! let (w, b, x) = ([2.0, -1.0], [0.5, 0.0], [3.0]);
//! let mut y = [0.0; 2];
//! linear_forward(&x, &w, &b, 1, &mut y, 1);
//! assert_eq!(y, [6.5, -3.0]);
//!
//! // Gradients of sum(y): dx = Σ W, dW = x for every output, db = 1.
//! let (mut dx, mut dw, mut db) = ([0.0; 1], [0.0; 2], [0.0; 2]);
//! linear_backward(&x, &w, &[1.0, 1.0], 1, Some((&mut dx, false)), &mut dw, &mut db, 1);
//! assert_eq!((dx, dw, db), ([1.0], [3.0, 3.0], [1.0, 1.0]));
//! ```

pub mod checkpoint;
pub mod data;
mod error;
pub mod export;
pub mod loss;
pub mod model;
pub mod ops;
pub mod optim;
pub mod trainer;

#[cfg(test)]
mod testing;

pub use error::{Error, Result};
pub use model::{Batch, CrossEncoderModel, DropoutRates, Params, StepDropout};
