//! Loading an encoder onto the CPU, and the threads it runs on.

use std::borrow::Borrow;
use std::path::Path;
use std::sync::Arc;

use crate::candle_encoder::CandleEncoder;
use crate::config::{EncoderConfig, Family};
use crate::encoder::{Encoder, TokenBatch};
use crate::native_encoder::{ModernBertEncoder, NativeEncoder};
use crate::tokenizer::Tokens;
use crate::{Error, Result};

/// CPU cores this process may use: honours the affinity mask and cgroup CPU quota
/// (a container limited to 2 CPUs on a 64-core host gets 2).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Which [`Encoder`] runs the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderKind {
    /// tamis' own kernels (`tamis-kernels`): packed sequences, fused layers. The default
    /// and the fast one.
    #[default]
    Native,
    /// candle's CPU tensors, kept as an independent implementation to check against.
    Candle,
}

/// The arithmetic of a model's dense layers (the products that hold nearly all of its
/// work) and, in the native encoder, of attention's two products as each mode says;
/// norms, softmax, activations and output heads stay `f32` either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// `f32` products: the reference implementation's numbers, within 1e-4. The library's
    /// default ([`RuntimeConfig::default`]); the CLI, the server and the Python package
    /// default to [`Precision::Auto`], which gives the same scores within that tolerance.
    #[default]
    Fp32,
    /// Weights quantized to int8 at load (one scale per output channel), activations
    /// per token and group of 32 inputs at each product, summed exactly in `i32` on the
    /// CPU's int8 instructions (AVX512-VNNI, AVX-VNNI or AVX2); attention's products
    /// stay `f32`. Scores move by the quantization error; the native encoder and LLM
    /// rerankers only.
    Int8,
    /// Weights rounded to bfloat16 at load, activations at each product, the pair
    /// products summed in `f32` by AMX's `tdpbf16ps` where the CPU has it (Intel
    /// Sapphire Rapids and later), else by `vdpbf16ps`; in the native encoder
    /// attention's two products too. Needs AVX512-BF16 (AMD Zen 4, Intel Sapphire
    /// Rapids and later) and is refused elsewhere; scores move by the rounding. The native encoder and
    /// LLM rerankers only.
    Bf16,
    /// `f32` products computed as three bfloat16 ones (each operand split into its
    /// bfloat16 rounding and the rounding of the rest, as XLA's `bf16_3x`), summed in
    /// `f32`: within about 2⁻¹⁶ of each `f32` product, where bf16 is within 2⁻⁸, and
    /// attention's products stay `f32`. Faster than fp32 only on AMX, which runs the
    /// three products at several times the `f32` FMA rate; elsewhere it runs where
    /// bf16 does, slower than fp32. The native encoder and LLM rerankers only.
    Bf16x3,
    /// The fastest mode whose quality bound was measured to hold for the kind of model
    /// on this CPU: nDCG@10 within 0.002 of fp32 (0.001 for bf16 and bf16x3) on the
    /// NFCorpus and Cranfield rerank rows for rerankers, and for embeddings the dense
    /// rows and cosine to fp32 ≥ 0.999. On a CPU with AMX, every model on the native
    /// encoder and every LLM reranker runs bf16x3:
    /// - a cross-encoder: the shared MiniLM cross-encoder reranked 1.29× faster than
    ///   fp32 with nDCG@10 unchanged on all four rows
    ///   (`bench/runs/2026-12-07-xeon-2core/bf16x3.md`);
    /// - an LLM reranker: 1.9–2.2× fp32 at the shapes of Qwen3-Reranker-0.6B and
    ///   mxbai-rerank-base-v2, with scores within 1e-4 of the reference code on the
    ///   parity fixtures, fp32's own tolerance (`llm-rerankers-bf16x3.md` there);
    /// - a bi-encoder: all-MiniLM-L6-v2 indexed NFCorpus and Cranfield 1.27–1.30×
    ///   faster, with every dense and hybrid nDCG@10 unchanged to 1e-4 and embeddings at
    ///   cosine 0.9999992 to fp32 (`auto-default.md` there). bf16x3 embeddings are
    ///   fp32's within its tolerance, so indexes, which record their embedder but not its
    ///   precision, take them beside fp32 ones. Late-interaction models follow, on the
    ///   same argument.
    ///
    /// Everything else is fp32: without AMX bf16x3 is slower than fp32; on an AMD EPYC
    /// (Zen 4) int8 moved the MiniLM cross-encoder's NFCorpus nDCG@10 by −0.0025
    /// (top 30) and −0.0028 (top 100), and bf16 moved Cranfield's by −0.0017 and
    /// −0.0014; LLM rerankers' quality in int8 and bf16 is unmeasured on trained
    /// weights. It changes only when a measurement says so. Resolved at load; the model
    /// reports the mode it runs. The CLI's, the server's and the Python package's
    /// default: every mode it picks keeps the reference's scores within fp32's 1e-4.
    Auto,
}

impl Precision {
    /// The name the CLI and `/info` use.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
            Precision::Bf16 => "bf16",
            Precision::Bf16x3 => "bf16x3",
            Precision::Auto => "auto",
        }
    }

    /// The mode [`Precision::name`] names, or `None` for any other text.
    pub fn from_name(name: &str) -> Option<Precision> {
        [Precision::Fp32, Precision::Int8, Precision::Bf16, Precision::Bf16x3, Precision::Auto]
            .into_iter()
            .find(|mode| mode.name() == name)
    }

    /// `linear` with its products in this mode (`Fp32` and `Auto` leave it as it is).
    pub(crate) fn convert(self, linear: &mut tamis_kernels::Linear) {
        match self {
            Precision::Int8 => *linear = linear.quantized_int8(),
            Precision::Bf16 => *linear = linear.quantized_bf16(),
            Precision::Bf16x3 => *linear = linear.quantized_bf16x3(),
            Precision::Fp32 | Precision::Auto => {}
        }
    }

    /// The precision of the attention products in this mode (an encoder's and a decoder's).
    pub(crate) fn attention(self) -> tamis_kernels::AttentionProducts {
        use tamis_kernels::AttentionProducts;
        match self {
            Precision::Bf16 => AttentionProducts::Bf16,
            // bf16 attention made int8 reranking 7 % faster on Zen 4 but moved NFCorpus
            // nDCG@10 from −0.0025/−0.0028 to −0.0028/−0.0034 against fp32 (the top 30 /
            // top 100; both intervals then clear of zero):
            // `bench/runs/2026-12-05-epyc-2core/precision.md`, run 3.
            // bf16x3 keeps attention in f32: in bf16, attention's products alone swapped
            // 75 of the 447 pairs that bf16 swapped in Cranfield's reranked top 30s, and
            // bf16x3 with them in f32 swapped none (ablation in
            // `bench/runs/2026-12-07-xeon-2core/bf16x3.md`).
            Precision::Int8 | Precision::Bf16x3 | Precision::Fp32 | Precision::Auto => {
                AttentionProducts::F32
            }
        }
    }

    /// The mode an encoder (bi-encoder, cross-encoder or late-interaction model) runs on
    /// `encoder` (see [`Precision::Auto`]).
    pub fn resolve_encoder(self, encoder: EncoderKind) -> Precision {
        match self {
            Precision::Auto if encoder == EncoderKind::Native && amx_bf16() => Precision::Bf16x3,
            Precision::Auto => Precision::Fp32,
            other => other,
        }
    }

    /// The mode an LLM reranker runs (see [`Precision::Auto`]).
    pub fn resolve_llm(self) -> Precision {
        match self {
            Precision::Auto if amx_bf16() => Precision::Bf16x3,
            Precision::Auto => Precision::Fp32,
            other => other,
        }
    }
}

/// Whether bf16 products run on AMX tiles here, the one place bf16x3 beats fp32.
fn amx_bf16() -> bool {
    tamis_kernels::Bf16Kernel::detected() == tamis_kernels::Bf16Kernel::Amx
}

/// Execution settings shared by bi- and cross-encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Which implementation runs the encoder.
    pub encoder: EncoderKind,
    /// Whether the native encoder packs a batch's sequences end to end (no padding rows)
    /// instead of computing the padding as padded runtimes do. Same outputs either way;
    /// off only to measure what packing saves. The candle encoder always pads.
    pub packing: bool,
    /// Threads for one forward pass; `None` uses [`available_cores`].
    pub threads: Option<usize>,
    /// Most sequences per forward pass. Inputs are sorted by length first, so a batch
    /// holds sequences of similar length and little padding.
    pub batch_size: usize,
    /// Most tokens (sequences × padded length) per forward pass: long inputs go in
    /// smaller batches. The default, 4096, measured best for the native encoder on a
    /// MiniLM reranking workload: large enough for efficient GEMMs, small enough that
    /// a layer's activations stay in cache (8192 was no faster, 23k slower).
    pub max_batch_tokens: usize,
    /// The dense layers' arithmetic.
    pub precision: Precision,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            encoder: EncoderKind::Native,
            packing: true,
            threads: None,
            batch_size: 128,
            max_batch_tokens: 4096,
            precision: Precision::Fp32,
        }
    }
}

impl RuntimeConfig {
    /// Checks the values once, before any model is loaded.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::InvalidOption {
                name: "batch_size",
                message: "must be at least 1".into(),
            });
        }
        if self.max_batch_tokens == 0 {
            return Err(Error::InvalidOption {
                name: "max_batch_tokens",
                message: "must be at least 1".into(),
            });
        }
        if matches!(self.precision, Precision::Int8 | Precision::Bf16 | Precision::Bf16x3)
            && self.encoder == EncoderKind::Candle
        {
            return Err(Error::InvalidOption {
                name: "precision",
                message: format!(
                    "{} runs on the native encoder only; candle computes in fp32 (drop --encoder candle or use --precision fp32)",
                    self.precision.name()
                ),
            });
        }
        if matches!(self.precision, Precision::Bf16 | Precision::Bf16x3)
            && tamis_kernels::Bf16Kernel::detected() == tamis_kernels::Bf16Kernel::Portable
        {
            return Err(Error::InvalidOption {
                name: "precision",
                message: format!(
                    "{} needs a CPU with AVX512-BF16 (AMD Zen 4, Intel Sapphire Rapids or later), which this one lacks (see `tamis bench gemm`); use --precision fp32 or int8",
                    self.precision.name()
                ),
            });
        }
        if self.threads == Some(0) {
            return Err(Error::InvalidOption {
                name: "threads",
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The thread count actually used.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(available_cores)
    }
}

/// Reads `config.json` and the weights in `dir` and builds the encoder; `runtime` comes
/// back with its precision resolved (never [`Precision::Auto`]).
pub(crate) fn load_encoder(
    dir: &Path,
    runtime: &RuntimeConfig,
) -> Result<(EncoderConfig, Arc<dyn Encoder>, RuntimeConfig)> {
    runtime.validate()?;
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        return Err(Error::MissingFile {
            path: config_path,
            hint: "a model directory in Hugging Face layout has config.json, tokenizer.json and model.safetensors",
        });
    }
    let config = EncoderConfig::from_file(&config_path)?;
    let runtime = &RuntimeConfig {
        precision: runtime.precision.resolve_encoder(runtime.encoder),
        ..*runtime
    };
    let tensors = crate::weights::load(dir)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(runtime.threads())
        .thread_name(|i| format!("tamis-model-{i}"))
        .build()
        .map_err(|e| Error::InvalidOption { name: "threads", message: e.to_string() })?;
    let pool = Arc::new(pool);
    let (packing, precision) = (runtime.packing, runtime.precision);
    let encoder: Arc<dyn Encoder> = match (runtime.encoder, config.family) {
        (EncoderKind::Native, Family::ModernBert) => {
            let native = ModernBertEncoder::load(dir, config.clone(), tensors, pool, packing)?;
            Arc::new(native.with_precision(precision))
        }
        (EncoderKind::Native, Family::Bert | Family::Roberta | Family::DebertaV2) => {
            let native = NativeEncoder::load(dir, config.clone(), tensors, pool, packing)?;
            Arc::new(native.with_precision(precision))
        }
        (EncoderKind::Candle, Family::Bert | Family::Roberta) => {
            Arc::new(CandleEncoder::load(dir, config.clone(), tensors, pool)?)
        }
        (EncoderKind::Candle, Family::ModernBert | Family::DebertaV2) => {
            return Err(Error::InvalidOption {
                name: "encoder",
                message: format!(
                    "the candle encoder runs BERT and XLM-RoBERTa only, and {} is {}; drop --encoder candle",
                    dir.display(),
                    config.architecture
                ),
            });
        }
    };
    Ok((config, encoder, *runtime))
}

/// Runs `forward` over `inputs` in batches of similar length and hands each result back
/// with the input positions it belongs to, so callers can restore input order.
///
/// Inputs are sorted longest first; a batch grows while it stays within both
/// `batch_size` sequences and `max_batch_tokens` padded tokens (a single sequence
/// longer than the budget still gets a batch of its own).
pub(crate) fn for_each_sorted_batch<T, F>(
    inputs: &[T],
    runtime: &RuntimeConfig,
    pad_id: u32,
    mut forward: F,
) -> Result<()>
where
    T: Borrow<Tokens>,
    F: FnMut(&[usize], &TokenBatch) -> Result<()>,
{
    let inputs: Vec<&Tokens> = inputs.iter().map(Borrow::borrow).collect();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].ids.len()));
    let mut rest = &order[..];
    while !rest.is_empty() {
        // Sorted longest first, so the first sequence sets the padded length.
        let padded_len = inputs[rest[0]].ids.len().max(1);
        let fit = (runtime.max_batch_tokens / padded_len).clamp(1, runtime.batch_size);
        let (positions, tail) = rest.split_at(fit.min(rest.len()));
        rest = tail;
        let sequences: Vec<(&[u32], &[u32])> =
            positions.iter().map(|&i| (&inputs[i].ids[..], &inputs[i].type_ids[..])).collect();
        let batch = TokenBatch::pad(&sequences, pad_id);
        forward(positions, &batch)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
