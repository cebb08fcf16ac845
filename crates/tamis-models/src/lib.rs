//! The model runtime of tamis: bi-encoders and cross-encoders in Hugging Face layout,
//! run on the CPU in pure Rust, with outputs that match sentence-transformers.
//!
//! - [`ModelDir::resolve`] finds a model by path or hub id (cache first, then the hub).
//! - [`BiEncoder`] embeds texts (BERT / XLM-RoBERTa, any sentence-transformers pooling).
//! - [`CrossEncoder`] scores (query, passage) pairs under an explicit score contract.
//! - [`LlmReranker`] scores pairs with a decoder LLM (Qwen3-Reranker, mxbai-rerank-v2),
//!   sharing each query's prompt prefix across its documents.
//! - [`LateInteractionModel`] gives ColBERT's token vectors (PyLate and colbert-ai
//!   layouts), scored by [`max_sim`].
//! - [`Encoder`] is the seam to the code that runs the encoder: [`NativeEncoder`]
//!   (tamis' own kernels, packed sequences; the default) and [`CandleEncoder`] implement it.
//!
//! ```no_run
//! use tamis_models::{BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig, ModelDir, Prompt};
//!
//! # fn main() -> tamis_models::Result<()> {
//! let hub = tamis_models::HubOptions {
//!     cache_dir: "/home/me/.cache/huggingface/hub".into(),
//!     revision: None,
//!     offline: false,
//!     endpoint: None,
//!     token: None,
//! };
//! let embedder = BiEncoder::load(&ModelDir::resolve("sentence-transformers/all-MiniLM-L6-v2", &hub)?, &BiEncoderConfig::default())?;
//! let vectors = embedder.encode(&["a tamis is a fine sieve"], Prompt::Default)?;
//! assert_eq!(vectors[0].len(), 384);
//!
//! let reranker = CrossEncoder::load(&ModelDir::resolve("cross-encoder/ms-marco-MiniLM-L-6-v2", &hub)?, &CrossEncoderConfig::default())?;
//! let scored = reranker.predict(&[("what is a tamis?", "A tamis is a drum sieve.")])?;
//! println!("logit {} truncated {}", scored[0].logits[0], scored[0].truncated);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod bi_encoder;
mod candle_encoder;
mod config;
mod cross_encoder;
mod decoder;
mod encoder;
mod error;
mod late_interaction;
mod llm_reranker;
mod native_encoder;
mod pooling;
mod reranker_model;
mod runtime;
mod source;
mod tokenizer;
mod weights;

pub use bi_encoder::{BiEncoder, BiEncoderConfig, EncoderInput, Prompt};
pub use candle_encoder::CandleEncoder;
pub use config::{EncoderConfig, Family, Head, HiddenAct};
pub use cross_encoder::{CrossEncoder, CrossEncoderConfig, Prediction, RankedPassage};
pub use decoder::{DecoderConfig, DecoderFamily, is_causal_lm};
pub use encoder::{Encoder, HiddenStates, TokenBatch};
pub use error::{Error, ErrorKind, Result};
pub use late_interaction::{
    LateInput, LateInteractionConfig, LateInteractionModel, LateRole, is_late_interaction, max_sim,
    max_sim_many,
};
pub use llm_reranker::{
    AnswerLogits, DEFAULT_PASS_TOKENS, LlmPrompt, LlmReranker, LlmRerankerConfig, RerankerKind,
};
pub use native_encoder::NativeEncoder;
pub use pooling::{Pooling, PoolingMode, normalize};
pub use reranker_model::{RerankerConfig, RerankerModel};
pub use runtime::{EncoderKind, Precision, RuntimeConfig, available_cores};
pub use source::{HubOptions, ModelDir, ModelOrigin, model_id, split_model_id};
pub use tokenizer::{PairTokenizer, Tokens, Truncation};
pub use weights::EncoderWeights;
