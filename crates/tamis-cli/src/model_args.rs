//! Flags every model-running command shares, and turning them into library configs.

use anyhow::Context;
use clap::{Args, ValueEnum};
use tamis_models::{EncoderKind, ModelDir, Precision, RuntimeConfig, split_model_id};

/// Where hub models come from and how many threads run them; shared by every command
/// that loads a model.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Hub revision (branch, tag or commit hash) for a hub id; default `main`.
    #[arg(long, env = "TAMIS_MODEL_REVISION", value_name = "REV")]
    pub revision: Option<String>,

    /// Use only the local Hugging Face cache, never the network.
    #[arg(long, env = "HF_HUB_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,

    /// Threads for inference; default: the cores available to this process
    /// (affinity mask and cgroup CPU quota respected).
    #[arg(long, env = "TAMIS_THREADS", value_name = "N")]
    pub threads: Option<usize>,

    /// Arithmetic of the models' dense layers: auto (the default: the fastest mode
    /// measured to keep each kind of model's quality bound, today bf16x3 on CPUs with AMX
    /// and fp32 elsewhere), fp32 (the reference implementation's scores within
    /// 1e-4), int8 (weights quantized at load, products on the CPU's int8 instructions:
    /// 2-3x faster layers with VNNI, scores moved slightly; native encoder and LLM
    /// rerankers only), bf16 (bfloat16 products on AMX or AVX512-BF16 CPUs, refused
    /// elsewhere; fast where `tamis bench gemm` shows a bf16 peak above the FMA peak:
    /// 3-9x faster layers with AMX) or bf16x3 (each fp32 product as three bfloat16 ones:
    /// within 1e-4 of the reference as fp32 is, faster than fp32 on AMX only). See the
    /// README's "Precision" section. One mode for every model, or per role:
    /// `rerank=int8` (the rerankers only), `embed=int8,rerank=fp32`.
    #[arg(long, env = "TAMIS_PRECISION", default_value = "auto", value_name = "[ROLE=]MODE",
          value_parser = parse_precision)]
    pub precision: PrecisionSpec,
}

/// What a model does in the command, for `--precision ROLE=MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The bi-encoder (queries, documents, `/embed`).
    Embed,
    /// Every reranker, cross-encoder or LLM.
    Rerank,
}

/// `--precision`: a mode per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrecisionSpec {
    pub embed: Precision,
    pub rerank: Precision,
}

impl PrecisionSpec {
    /// The mode for `role`.
    pub fn of(self, role: Role) -> Precision {
        match role {
            Role::Embed => self.embed,
            Role::Rerank => self.rerank,
        }
    }
}

/// `MODE` or `ROLE=MODE[,ROLE=MODE]`; roles not named keep the default, auto.
fn parse_precision(value: &str) -> Result<PrecisionSpec, String> {
    let mode = |m: &str| {
        let m = m.trim();
        Precision::from_name(m)
            .ok_or_else(|| format!("unknown precision {m:?}: use fp32, int8, bf16, bf16x3 or auto"))
    };
    if !value.contains('=') {
        let all = mode(value)?;
        return Ok(PrecisionSpec { embed: all, rerank: all });
    }
    let mut spec = PrecisionSpec { embed: Precision::Auto, rerank: Precision::Auto };
    for part in value.split(',') {
        let (role, m) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not ROLE=MODE (e.g. rerank=int8)"))?;
        match role.trim() {
            "embed" => spec.embed = mode(m)?,
            "rerank" => spec.rerank = mode(m)?,
            other => return Err(format!("unknown role {other:?}: use embed or rerank")),
        }
    }
    Ok(spec)
}

impl SourceArgs {
    /// Resolves `name` (a directory or hub id) at `revision`, else at `--revision`.
    pub fn resolve(&self, name: &str, revision: Option<String>) -> anyhow::Result<ModelDir> {
        let hub =
            crate::hub::options_from_env(revision.or_else(|| self.revision.clone()), self.offline);
        ModelDir::resolve(name, &hub).with_context(|| format!("loading model {name}"))
    }

    /// An error unless the bi-encoder runs in fp32 or in bf16x3, fp32's equivalent (its
    /// embeddings within fp32's tolerance: cosine 0.9999992 to fp32 for all-MiniLM-L6-v2,
    /// where two fp32 builds differ about as much): an index records which model embedded
    /// it but not in which precision, so an int8 or bf16 embedder would write (or query
    /// with) vectors the index cannot tell apart from fp32 ones.
    pub fn check_index_embedder(&self) -> anyhow::Result<()> {
        let mode = self.precision.embed;
        anyhow::ensure!(
            matches!(mode, Precision::Fp32 | Precision::Bf16x3 | Precision::Auto),
            "{0} embeddings (--precision {0} or embed={0}) apply to `tamis embed` only for now: indexes do not record their embedder's precision, so they take fp32 or bf16x3 embeddings (what auto picks); use --precision rerank={0} to change the rerankers only",
            mode.name()
        );
        Ok(())
    }

    /// `--threads` and the `--precision` of `role` as the library takes them, other
    /// settings default.
    pub fn runtime(&self, role: Role) -> RuntimeConfig {
        RuntimeConfig {
            threads: self.threads,
            precision: self.precision.of(role),
            ..Default::default()
        }
    }
}

/// Where the model comes from and how it runs.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model directory or Hugging Face hub id (e.g. sentence-transformers/all-MiniLM-L6-v2).
    #[arg(long, short = 'm', value_name = "DIR|ID")]
    pub model: String,

    #[command(flatten)]
    pub source: SourceArgs,

    /// Most sequences per forward pass (inputs are sorted by length first to limit padding).
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub batch_size: usize,

    /// Most tokens (sequences × padded length) per forward pass; long inputs run in
    /// smaller batches so attention buffers stay cache-friendly. Default 4096; 8192 for
    /// LLM rerankers (token rows of their prompts, a query's prefix counted once).
    #[arg(long, value_name = "N")]
    pub max_batch_tokens: Option<usize>,

    /// Maximum tokens per input; default: the model's own limit.
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,

    /// What runs the model: tamis' own kernels (packed sequences, the fast default), or
    /// candle's tensors (an independent implementation, to compare against).
    // `--backend` was this flag's name before the storage backends came; kept, hidden, so
    // that older scripts still run.
    #[arg(long, value_enum, default_value = "native", alias = "backend")]
    pub encoder: EncoderArg,

    /// Compute padded batches instead of packing sequences end to end (native encoder;
    /// same scores, more work: only useful to measure what packing saves).
    #[arg(long)]
    pub no_packing: bool,
}

/// `--encoder` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EncoderArg {
    /// tamis' kernels.
    Native,
    /// candle.
    Candle,
}

impl ModelArgs {
    /// Resolves the model to a directory (cache, then hub).
    pub fn resolve(&self) -> anyhow::Result<ModelDir> {
        self.source.resolve(&self.model, None)
    }

    /// Threads, batch size and the precision of `role` as the library takes them.
    pub fn runtime(&self, role: Role) -> RuntimeConfig {
        RuntimeConfig {
            encoder: match self.encoder {
                EncoderArg::Native => EncoderKind::Native,
                EncoderArg::Candle => EncoderKind::Candle,
            },
            packing: !self.no_packing,
            batch_size: self.batch_size,
            max_batch_tokens: self
                .max_batch_tokens
                .unwrap_or(RuntimeConfig::default().max_batch_tokens),
            ..self.source.runtime(role)
        }
    }
}

/// Makes candle's own thread pools agree with `--threads`.
///
/// candle sizes its pools from `RAYON_NUM_THREADS` on first use and otherwise counts
/// physical cores, ignoring cgroup quotas; setting it here keeps one thread count.
pub fn configure_threads(threads: Option<usize>) {
    let threads = threads.unwrap_or_else(tamis_models::available_cores).max(1).to_string();
    for name in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(name).is_none() {
            // SAFETY: called from the main thread before any model, pool or other thread
            // exists, so nothing reads the environment concurrently.
            #[allow(unsafe_code)]
            unsafe {
                std::env::set_var(name, &threads)
            };
        }
    }
}

pub use tamis_models::model_id;

/// Model flags of the index commands, where the bi-encoder is recorded in the index.
#[derive(Debug, Args)]
pub struct EngineModelArgs {
    /// Bi-encoder (directory or hub id). Required to create an index; afterwards the
    /// index's own model is used, and a different one is refused.
    #[arg(long, short = 'm', value_name = "DIR|ID")]
    pub model: Option<String>,

    #[command(flatten)]
    pub source: SourceArgs,
}

impl EngineModelArgs {
    /// How the model is recorded in an index: an absolute path for a directory, the hub id
    /// (with `@revision` when pinned) otherwise.
    pub fn embedder_id(&self, spec: &str) -> String {
        model_id(spec, self.source.revision.as_deref())
    }

    /// Loads the bi-encoder named by an embedder id (see [`EngineModelArgs::embedder_id`]).
    pub fn load_embedder(&self, id: &str) -> anyhow::Result<tamis_models::BiEncoder> {
        let (name, revision) = split_model_id(id);
        self.source.check_index_embedder()?;
        let dir = self.source.resolve(name, revision)?;
        let config = tamis_models::BiEncoderConfig {
            runtime: self.source.runtime(Role::Embed),
            ..Default::default()
        };
        tamis_models::BiEncoder::load(&dir, &config)
            .with_context(|| format!("loading bi-encoder {name}"))
    }

    /// Loads the late-interaction model named by a model id (see [`model_id`]) to compute
    /// the token vectors an index stores: in fp32, as the bi-encoder, since the index
    /// records the model and not its precision.
    pub fn load_late(&self, id: &str) -> anyhow::Result<tamis_models::LateInteractionModel> {
        let (name, revision) = split_model_id(id);
        self.source.check_index_embedder()?;
        let dir = self.source.resolve(name, revision)?;
        let config = tamis_models::LateInteractionConfig {
            runtime: self.source.runtime(Role::Embed),
            ..Default::default()
        };
        tamis_models::LateInteractionModel::load(&dir, &config)
            .with_context(|| format!("loading late-interaction model {name}"))
    }
}

#[cfg(test)]
mod tests {
    use tamis_models::Precision::{Auto, Bf16, Bf16x3, Fp32, Int8};

    use super::{PrecisionSpec, SourceArgs, parse_precision};

    #[test]
    fn precision_is_one_mode_or_one_per_role() {
        let spec = |embed, rerank| Ok(PrecisionSpec { embed, rerank });
        assert_eq!(parse_precision("int8"), spec(Int8, Int8));
        assert_eq!(parse_precision("auto"), spec(Auto, Auto));
        assert_eq!(parse_precision("rerank=int8"), spec(Auto, Int8));
        assert_eq!(parse_precision("embed=fp32"), spec(Fp32, Auto));
        assert_eq!(parse_precision("embed=int8, rerank=auto"), spec(Int8, Auto));
        assert_eq!(parse_precision("rerank=bf16"), spec(Auto, Bf16));
        assert_eq!(parse_precision("rerank=bf16x3"), spec(Auto, Bf16x3));
        for (bad, needle) in [
            ("int4", "unknown precision \"int4\""),
            ("rerank=int4", "unknown precision \"int4\""),
            ("gpu=int8", "unknown role \"gpu\""),
            ("rerank=int8,embed", "\"embed\" is not ROLE=MODE"),
        ] {
            let err = parse_precision(bad).expect_err(bad);
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    /// Indexes take fp32 embeddings and bf16x3's, fp32's within its tolerance (and auto,
    /// which picks one of them), never int8 or bf16 ones.
    #[test]
    fn indexes_take_fp32_and_bf16x3_embeddings_only() {
        let source = |value: &str| SourceArgs {
            revision: None,
            offline: true,
            threads: None,
            precision: parse_precision(value).unwrap(),
        };
        for ok in ["auto", "fp32", "bf16x3", "rerank=int8", "embed=bf16x3,rerank=bf16"] {
            assert!(source(ok).check_index_embedder().is_ok(), "{ok}");
        }
        for refused in ["int8", "bf16", "embed=int8", "embed=bf16,rerank=fp32"] {
            let err = source(refused).check_index_embedder().expect_err(refused).to_string();
            assert!(err.contains("indexes do not record their embedder's precision"), "{err}");
        }
    }
}
