//! Flags of the rerank stages, shared by `tamis search` and `tamis eval`.

use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tamis_engine::SearchRequest;
use tamis_engine::cache::CachedReranker;
use tamis_engine::fusion::{Fusion, Normalization};
use tamis_engine::pipeline::{AdaptiveDepth, ChunkAggregation, PipelineRequest, RerankStage};
use tamis_eval::RerankPlan;
use tamis_models::{CrossEncoderConfig, RerankerConfig, RerankerModel, RuntimeConfig};

use crate::model_args::{Role, SourceArgs};

/// Stage 2: cross-encoders and LLM rerankers over stage 1's candidates.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// Reranker (directory or hub id) that reorders stage 1's candidates: a cross-encoder
    /// or an LLM reranker (Qwen3-Reranker, mxbai-rerank-v2). Repeat for a cascade (a small
    /// model first, a larger one on its top).
    #[arg(long = "rerank", visible_alias = "reranker", value_name = "DIR|ID")]
    pub rerankers: Vec<String>,

    #[command(flatten)]
    pub llm: LlmArgs,

    /// How a document's chunk scores make its score.
    #[arg(long, value_enum, default_value = "max", value_name = "HOW")]
    aggregate: AggregateArg,

    /// Order the reranked documents by fusing their stage-1 rank and reranker rank (`rrf`)
    /// or min-max / z-score normalized scores, instead of the reranker score alone.
    #[arg(long, value_enum, value_name = "METHOD")]
    fuse_stages: Option<StageFusionArg>,

    /// Weights of stage 1 and the last reranker in --fuse-stages.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 1.0], value_name = "STAGE1,RERANK")]
    stage_weights: Vec<f32>,

    /// RRF's k in --fuse-stages rrf.
    #[arg(long, default_value_t = 60.0, value_name = "K")]
    stage_rrf_k: f32,

    /// Stop scoring after N consecutive candidates fail to enter the current top k
    /// (candidates are scored in stage-1 order).
    /// In `tamis eval`, a comma list adds one row per patience beside each full reranking.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub adaptive_patience: Vec<usize>,

    /// Keep only documents the last reranker scored at least this high.
    #[arg(
        long,
        value_name = "SCORE",
        allow_negative_numbers = true,
        value_parser = finite_score,
        requires = "rerankers"
    )]
    min_score: Option<f32>,

    /// Time budget for all rerank stages of a query; candidates left unscored keep their
    /// stage-1 order below the scored ones, and the output says so.
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,

    /// Raw logits instead of each model's declared activation.
    #[arg(long)]
    raw: bool,

    /// Documents per reranker call (deadlines and adaptive depth are checked between calls).
    #[arg(long, default_value_t = 16, value_name = "N")]
    rerank_batch_docs: usize,
}

/// NaN or infinity would compare so that every document, or none, passes.
fn finite_score(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(score) if score.is_finite() => Ok(score),
        _ => Err(format!("'{text}' is not a finite number")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AggregateArg {
    Max,
    First,
    MeanTop2,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StageFusionArg {
    Rrf,
    Minmax,
    Zscore,
}

/// Which of the optional stage-2 behaviours a search uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variant {
    /// Order by --fuse-stages.
    pub fused: bool,
    /// Stop early after this many candidates in a row fail to enter the top k.
    pub patience: Option<usize>,
}

/// Flags of LLM rerankers, shared by every command that reranks.
#[derive(Debug, Args)]
pub struct LlmArgs {
    /// The prompt template of an LLM reranker loaded from a directory: `qwen3`
    /// (Qwen3-Reranker) or `mxbai-v2` (mxbai-rerank-v2). Not needed for their hub ids.
    /// Applies to the LLM stages of a cascade only.
    #[arg(long, value_enum, env = "TAMIS_RERANKER_KIND", value_name = "KIND")]
    pub reranker_kind: Option<RerankerKindArg>,

    /// The instruction in an LLM reranker's prompt (Qwen3-Reranker's default: "Given a web
    /// search query, retrieve relevant passages that answer the query"; mxbai-rerank-v2:
    /// none). Applies to the LLM stages of a cascade only.
    #[arg(long, value_name = "TEXT")]
    pub instruction: Option<String>,
}

/// `--reranker-kind` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RerankerKindArg {
    /// Qwen3-Reranker's chat prompt, scored by "yes" against "no".
    Qwen3,
    /// mxbai-rerank-v2's prompt, scored by "1" against "0".
    MxbaiV2,
}

impl LlmArgs {
    /// The --reranker-kind given, as the library names it.
    pub fn kind(&self) -> Option<tamis_models::RerankerKind> {
        self.reranker_kind.map(|kind| match kind {
            RerankerKindArg::Qwen3 => tamis_models::RerankerKind::Qwen3,
            RerankerKindArg::MxbaiV2 => tamis_models::RerankerKind::MxbaiV2,
        })
    }

    /// The library's settings for a reranker run with `runtime` and `max_length`.
    pub fn config(&self, runtime: RuntimeConfig, max_length: Option<usize>) -> RerankerConfig {
        RerankerConfig {
            cross_encoder: CrossEncoderConfig { runtime, max_length, ..Default::default() },
            kind: self.kind(),
            instruction: self.instruction.clone(),
            max_pass_tokens: None,
        }
    }

    /// An error when LLM flags were given but no LLM reranker was loaded: they would
    /// change nothing, which the user did not mean.
    pub fn check_used(&self, models: &[&RerankerModel]) -> anyhow::Result<()> {
        self.check_any_llm(&models.iter().map(|m| m.is_llm()).collect::<Vec<_>>())
    }

    /// [`LlmArgs::check_used`] given which of the loaded rerankers are LLMs.
    pub fn check_any_llm(&self, is_llm: &[bool]) -> anyhow::Result<()> {
        let given = match (&self.reranker_kind, &self.instruction) {
            (Some(_), _) => Some("--reranker-kind"),
            (None, Some(_)) => Some("--instruction"),
            (None, None) => None,
        };
        match given {
            Some(flag) if !is_llm.contains(&true) => anyhow::bail!(
                "{flag} applies to LLM rerankers (Qwen3-Reranker, mxbai-rerank-v2), and no reranker given is one"
            ),
            _ => Ok(()),
        }
    }
}

/// A loaded reranker with a score cache in front: a second look at the same (query,
/// passage) pair, in a cascade or another evaluation row, costs no model call.
#[derive(Debug)]
pub struct LoadedReranker {
    /// The model behind its cache.
    pub cached: CachedReranker<RerankerModel>,
    /// How an index records the model (see [`crate::model_args::model_id`]): a
    /// late-interaction model scores from the token vectors an index stored under this id.
    pub model_id: String,
}

impl LoadedReranker {
    /// The rerank stage of this model, named `name`, scoring `candidates` documents: a
    /// late-interaction model's scores from stored token vectors.
    pub fn stage<'a>(&'a self, name: &'a str, candidates: usize) -> RerankStage<'a> {
        match self.cached.inner() {
            RerankerModel::LateInteraction(model) => {
                RerankStage::late_interaction(name, model.as_ref(), &self.model_id, candidates)
            }
            _ => RerankStage::new(name, &self.cached, candidates),
        }
    }
}

impl StageArgs {
    /// Loads every reranker, in cascade order, each behind a score cache.
    pub fn load(&self, source: &SourceArgs) -> anyhow::Result<Vec<LoadedReranker>> {
        let capacity = NonZeroUsize::new(100_000).expect("a non-zero constant");
        let models = self.load_models(source)?;
        Ok(models
            .into_iter()
            .zip(&self.rerankers)
            .map(|(model, spec)| LoadedReranker {
                cached: CachedReranker::new(model, spec.clone(), capacity),
                model_id: crate::model_args::model_id(spec, source.revision.as_deref()),
            })
            .collect())
    }

    /// Loads every reranker, in cascade order, without a cache (the evaluation harness
    /// keeps its own).
    pub fn load_models(&self, source: &SourceArgs) -> anyhow::Result<Vec<RerankerModel>> {
        let config = self.llm.config(source.runtime(Role::Rerank), None);
        let models = self
            .rerankers
            .iter()
            .map(|spec| {
                let dir = source.resolve(spec, None)?;
                RerankerModel::load(&dir, &config)
                    .with_context(|| format!("loading reranker {spec}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.llm.check_used(&models.iter().collect::<Vec<_>>())?;
        Ok(models)
    }

    /// The reranked rows of `tamis eval`: one per entry of `windows`, each followed by a
    /// --fuse-stages row and one row per --adaptive-patience.
    pub fn plan(&self, windows: Vec<Vec<usize>>) -> RerankPlan {
        RerankPlan {
            windows,
            stage_fusion: self.stage_fusion(),
            adaptive_patience: self.adaptive_patience.clone(),
            aggregation: self.aggregation(),
            min_score: self.min_score,
            deadline: self.deadline_ms.map(Duration::from_millis),
            raw_scores: self.raw,
            batch_docs: self.rerank_batch_docs,
        }
    }

    fn aggregation(&self) -> ChunkAggregation {
        match self.aggregate {
            AggregateArg::Max => ChunkAggregation::Max,
            AggregateArg::First => ChunkAggregation::First,
            AggregateArg::MeanTop2 => ChunkAggregation::MeanTop2,
        }
    }

    /// The --fuse-stages fusion of the stage-1 and last-reranker lists.
    fn stage_fusion(&self) -> Option<Fusion> {
        let weights = self.stage_weights.clone();
        Some(match self.fuse_stages? {
            StageFusionArg::Rrf => Fusion::Rrf { k: self.stage_rrf_k, weights },
            StageFusionArg::Minmax => {
                Fusion::Linear { normalization: Normalization::MinMax, weights }
            }
            StageFusionArg::Zscore => {
                Fusion::Linear { normalization: Normalization::ZScore, weights }
            }
        })
    }

    /// Whether --fuse-stages was given.
    pub fn fuses(&self) -> bool {
        self.fuse_stages.is_some()
    }

    /// The one --adaptive-patience of a search; a list only makes sense to `tamis eval`.
    pub fn patience(&self) -> anyhow::Result<Option<usize>> {
        match self.adaptive_patience.as_slice() {
            [] => Ok(None),
            [patience] => Ok(Some(*patience)),
            _ => {
                anyhow::bail!("--adaptive-patience takes one value here (a list is for tamis eval)")
            }
        }
    }

    /// The pipeline request over `search`: the rerankers with their candidate windows
    /// (one per reranker), returning `k` documents, with the options `variant` turns on.
    pub fn request<'a>(
        &'a self,
        search: SearchRequest<'a>,
        rerankers: &'a [LoadedReranker],
        windows: &[usize],
        k: usize,
        variant: Variant,
    ) -> anyhow::Result<PipelineRequest<'a>> {
        anyhow::ensure!(
            windows.len() == rerankers.len(),
            "{} candidate counts for {} rerankers: give one per --rerank, in order",
            windows.len(),
            rerankers.len()
        );
        let stages = rerankers
            .iter()
            .zip(&self.rerankers)
            .zip(windows)
            .map(|((reranker, name), &candidates)| reranker.stage(name, candidates))
            .collect();
        let stage1_k = search.k;
        let mut request = PipelineRequest::new(search, stages);
        request.search.k = stage1_k;
        request.k = k;
        request.aggregation = self.aggregation();
        if variant.fused {
            request.stage_fusion = self.stage_fusion();
        }
        request.adaptive = variant.patience.map(|patience| AdaptiveDepth { patience, k });
        request.min_score = self.min_score;
        request.deadline = self.deadline_ms.map(Duration::from_millis);
        request.raw_scores = self.raw;
        request.batch_docs = self.rerank_batch_docs;
        Ok(request)
    }
}
