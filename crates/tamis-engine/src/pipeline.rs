//! The two-stage query: stage 1 retrieves candidates, rerankers reorder them, the top k
//! come back with every stage's rank and score and each stage's time.
//!
//! Around the core loop sit the controls the field uses:
//! - **cascade**: several [`RerankStage`]s, each scoring the first `candidates` documents
//!   of the order the previous stage left (e.g. 100 with a small model, then 30 with a
//!   large one);
//! - **long documents**: a document's score is an aggregate of its chunks' scores
//!   ([`ChunkAggregation`]), and hits say how many tokens the reranker had to cut;
//! - **stage fusion**: the final order can fuse the stage-1 rank with the last reranker's
//!   (any [`Fusion`] over those two lists, stage 1 first), labelled as fused;
//! - **adaptive depth** ([`AdaptiveDepth`]), a **score threshold** and a **deadline**: when
//!   the deadline would pass, the unscored documents keep their previous order below the
//!   scored ones and the response says so.
//!
//! Documents are scored in batches of `batch_docs` (all chunks of a batch in one reranker
//! call): the deadline and adaptive depth are checked between batches.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tamis_core::{ChunkKey, Embedder, Hit, Reranker, ScoreActivation, TokenEmbedder};

use crate::fusion::{Fusion, fuse};
use crate::index::{Index, ScoreKind, SearchHit, SearchRequest};
use crate::{Error, Result};

mod stage;

/// One reranker of a cascade.
#[derive(Clone, Copy)]
pub struct RerankStage<'a> {
    /// Names the stage in results and timings (the model id, usually).
    pub name: &'a str,
    /// The model (whose score contract the stage's scores follow).
    pub reranker: &'a dyn Reranker,
    /// How many of the incoming documents it scores, from the top.
    pub candidates: usize,
    /// Set for a late-interaction model: the stage then scores by MaxSim against the
    /// token vectors the index stores, encoding only the query and the candidates whose
    /// vectors are not stored, instead of calling `reranker`.
    pub late: Option<LateStage<'a>>,
}

/// A late-interaction (ColBERT) model as a rerank stage.
#[derive(Clone, Copy)]
pub struct LateStage<'a> {
    /// How the model is recorded in an index
    /// ([`LateInteractionSettings::model_id`](crate::LateInteractionSettings)): an index
    /// storing another model's token vectors is refused.
    pub model_id: &'a str,
    /// The model.
    pub model: &'a dyn TokenEmbedder,
}

impl std::fmt::Debug for LateStage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LateStage").field("model_id", &self.model_id).finish()
    }
}

impl<'a> RerankStage<'a> {
    /// A stage that scores (query, passage) pairs with `reranker`.
    pub fn new(name: &'a str, reranker: &'a dyn Reranker, candidates: usize) -> Self {
        RerankStage { name, reranker, candidates, late: None }
    }

    /// A late-interaction stage: `model` scores by MaxSim from the index's stored token
    /// vectors (see [`RerankStage::late`]); `model_id` is how an index records it.
    pub fn late_interaction<M: Reranker + TokenEmbedder>(
        name: &'a str,
        model: &'a M,
        model_id: &'a str,
        candidates: usize,
    ) -> Self {
        RerankStage { name, reranker: model, candidates, late: Some(LateStage { model_id, model }) }
    }
}

impl std::fmt::Debug for RerankStage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RerankStage")
            .field("name", &self.name)
            .field("candidates", &self.candidates)
            .field("late", &self.late)
            .finish()
    }
}

/// How a document's chunk scores become its score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChunkAggregation {
    /// The best chunk's score (default): a long document is as relevant as its best part.
    #[default]
    Max,
    /// The first chunk's score, for corpora whose documents lead with their point.
    First,
    /// The mean of the two best chunks' scores (the best alone for one-chunk documents).
    MeanTop2,
}

/// Stop scoring once further candidates have stopped mattering.
///
/// Rule: candidates are scored in stage-1 order; after each batch, if at least `k`
/// documents are scored (in a cascade, a stage protects the next stage's window instead)
/// and none of the last `patience` scored documents entered the current top k, the rest
/// is left unscored (in its previous order, below the scored ones).
/// Stage 1 puts most relevant documents early, so a long run of candidates that all rank
/// below the current top k predicts that later ones will too; the price is a document
/// deep in stage 1 that the reranker would have lifted. Larger patience costs more pairs
/// and risks less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveDepth {
    /// Consecutive scored documents outside the top k that end scoring.
    pub patience: usize,
    /// The top k to protect: usually the request's `k`, smaller when the request returns
    /// a long list but only its head matters (an evaluation at nDCG@10 of 100 documents).
    pub k: usize,
}

/// One two-stage query.
#[derive(Debug, Clone)]
pub struct PipelineRequest<'a> {
    /// Stage 1; its `k` is how many candidate documents it hands to the rerankers.
    pub search: SearchRequest<'a>,
    /// The rerankers, applied in order (none: stage 1 only).
    pub stages: Vec<RerankStage<'a>>,
    /// Documents to return.
    pub k: usize,
    /// How chunk scores make a document score.
    pub aggregation: ChunkAggregation,
    /// Order the reranked documents by fusing their stage-1 and last-reranker ranks or
    /// scores (two lists, stage 1 first) instead of the reranker score alone.
    pub stage_fusion: Option<Fusion>,
    /// Stop early when further candidates stop mattering.
    pub adaptive: Option<AdaptiveDepth>,
    /// Keep only documents the last reranker scored at or above this.
    pub min_score: Option<f32>,
    /// Time budget of all rerank stages together.
    pub deadline: Option<Duration>,
    /// Raw logits instead of each model's declared activation.
    pub raw_scores: bool,
    /// Documents per reranker call (a late-interaction stage takes 256 at least).
    pub batch_docs: usize,
}

impl<'a> PipelineRequest<'a> {
    /// A request with the defaults: stage 1 returns 100 candidates, k 10, max over chunks,
    /// no fusion, no early stop, no threshold, no deadline, declared activations, 16
    /// documents per reranker call.
    pub fn new(mut search: SearchRequest<'a>, stages: Vec<RerankStage<'a>>) -> Self {
        search.k = 100;
        PipelineRequest {
            search,
            stages,
            k: 10,
            aggregation: ChunkAggregation::Max,
            stage_fusion: None,
            adaptive: None,
            min_score: None,
            deadline: None,
            raw_scores: false,
            batch_docs: 16,
        }
    }

    fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidPipeline { message });
        if self.batch_docs == 0 {
            return invalid("batch_docs must be at least 1".into());
        }
        if let Some(stage) = self.stages.iter().find(|s| s.candidates == 0) {
            return invalid(format!("stage '{}' scores 0 candidates", stage.name));
        }
        if self.adaptive.is_some_and(|a| a.patience == 0 || a.k == 0) {
            return invalid("adaptive patience and k must be at least 1".into());
        }
        // NaN compares false with every score: it would silently return nothing.
        if let Some(threshold) = self.min_score
            && threshold.is_nan()
        {
            return invalid("min_score is not a number".into());
        }
        if let Some(fusion) = &self.stage_fusion {
            if self.stages.is_empty() {
                return invalid("stage fusion needs a reranker".into());
            }
            fusion.validate(2)?;
        }
        Ok(())
    }
}

/// What a final score is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum FinalScoreKind {
    /// Stage 1's own score (no reranker scored this document).
    Stage1 {
        /// Which stage-1 score.
        kind: ScoreKind,
    },
    /// The last reranker's score, after `activation` (identity: raw logits).
    Reranker {
        /// The activation applied to the logits.
        activation: ScoreActivation,
    },
    /// A fusion of the stage-1 and reranker ranks or scores: it only orders this list.
    Fused,
}

/// A document's place in one ranking.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Place {
    /// 1-based rank.
    pub rank: usize,
    /// The score that ranked it.
    pub score: f32,
}

/// Where stage 1's retrievers placed a document's best chunk, before fusion.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct RetrieverPlaces {
    /// In the BM25 list, when it was there.
    pub bm25: Option<Place>,
    /// In the dense list, when it was there.
    pub dense: Option<Place>,
}

/// One returned document. It serializes as every front end shows it (`id` for
/// `doc_id`, no chunk key).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PipelineHit {
    /// The document id.
    #[serde(rename = "id")]
    pub doc_id: String,
    /// The document title.
    pub title: String,
    /// The best chunk, by the last stage that scored the document.
    #[serde(skip)]
    pub chunk_key: ChunkKey,
    /// Its text.
    pub text: String,
    /// The final score (see `score_kind`).
    pub score: f32,
    /// What `score` is.
    pub score_kind: FinalScoreKind,
    /// Rank and score in stage 1.
    pub stage1: Place,
    /// Rank and score of its stage-1 chunk in each retriever's list (what hybrid fused).
    pub retrievers: RetrieverPlaces,
    /// Rank and score in each rerank stage that scored the document, in stage order.
    pub reranks: Vec<Option<Place>>,
    /// Tokens the last reranker to score the best chunk had to cut from the pair (a lower
    /// bound for very long chunks: see [`tamis_core::PairScore::dropped_tokens`]); 0
    /// after a late-interaction stage, which does not count them.
    pub dropped_tokens: usize,
}

/// Why a stage stopped before its candidates ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyStop {
    /// The deadline would have passed.
    Deadline,
    /// Adaptive depth judged further candidates irrelevant.
    Adaptive,
}

/// What one stage did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageReport {
    /// The stage name (`stage1` for retrieval).
    pub name: String,
    /// Documents it scored (retrieved, for stage 1).
    pub documents: usize,
    /// (query, chunk) pairs it scored (0 for stage 1).
    pub pairs: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Set when the stage left candidates unscored.
    pub stopped: Option<EarlyStop>,
}

/// The answer to a [`PipelineRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineResponse {
    /// The top k, best first.
    pub hits: Vec<PipelineHit>,
    /// Stage 1 first, then each rerank stage.
    pub stages: Vec<StageReport>,
    /// The deadline cut a stage short: part of the list is in stage-1 (or previous-stage)
    /// order, never silently.
    pub deadline_exceeded: bool,
}

/// A candidate document travelling through the stages.
#[derive(Debug)]
struct Candidate {
    hit: SearchHit,
    stage1: Place,
    reranks: Vec<Option<Place>>,
    /// The best chunk by the latest stage that scored it: key, text, dropped tokens.
    best: Option<(ChunkKey, String, usize)>,
    /// The latest reranker score, for thresholds and fusion.
    last_score: Option<f32>,
}

impl Index {
    /// Runs stage 1, then each rerank stage, and returns the top `k`. `embedder` is needed
    /// for dense and hybrid stage 1, as in [`Index::search`].
    pub fn search_and_rerank(
        &self,
        request: &PipelineRequest<'_>,
        embedder: Option<&dyn Embedder>,
    ) -> Result<PipelineResponse> {
        request.validate()?;
        let started = Instant::now();
        let hits = self.search(&request.search, embedder)?;
        let mut stages = vec![StageReport {
            name: "stage1".into(),
            documents: hits.len(),
            pairs: 0,
            elapsed: started.elapsed(),
            stopped: None,
        }];
        let n_stages = request.stages.len();
        let mut order: Vec<Candidate> = hits
            .into_iter()
            .enumerate()
            .map(|(i, hit)| Candidate {
                stage1: Place { rank: i + 1, score: hit.score },
                hit,
                reranks: vec![None; n_stages],
                best: None,
                last_score: None,
            })
            .collect();

        let rerank_started = Instant::now();
        let mut scored_by_last = 0;
        for (stage_idx, stage) in request.stages.iter().enumerate() {
            let report = self.run_stage(request, stage_idx, stage, &mut order, rerank_started)?;
            scored_by_last = report.documents;
            stages.push(report);
        }
        let deadline_exceeded = stages.iter().any(|s| s.stopped == Some(EarlyStop::Deadline));

        let mut fused_scores: HashMap<usize, f32> = HashMap::new();
        if let Some(fusion) = &request.stage_fusion {
            // The scored head, as the two rankings to fuse: stage 1, then the reranker.
            let head = &order[..scored_by_last];
            let mut by_stage1: Vec<Hit> = head
                .iter()
                .enumerate()
                .map(|(i, c)| Hit { key: i as ChunkKey, score: c.stage1.score })
                .collect();
            by_stage1.sort_by_key(|h| head[h.key as usize].stage1.rank);
            let by_reranker: Vec<Hit> = head
                .iter()
                .enumerate()
                .map(|(i, c)| Hit { key: i as ChunkKey, score: c.last_score.unwrap_or(0.0) })
                .collect();
            let fused = fuse(&[&by_stage1, &by_reranker], fusion, usize::MAX)?;
            let mut reordered: Vec<Option<Candidate>> =
                order.drain(..scored_by_last).map(Some).collect();
            let mut head: Vec<Candidate> = Vec::with_capacity(fused.len());
            for hit in &fused {
                if let Some(candidate) = reordered[hit.key as usize].take() {
                    fused_scores.insert(head.len(), hit.score);
                    head.push(candidate);
                }
            }
            // Both lists hold every head document, so nothing is left; never drop one anyway.
            head.extend(reordered.into_iter().flatten());
            order.splice(0..0, head);
        }

        // `k` is the caller's: sized by what there is, a huge `k` cannot abort on allocation.
        let mut hits = Vec::with_capacity(request.k.min(order.len()));
        for (position, candidate) in order.into_iter().enumerate() {
            let scored_last = n_stages > 0 && candidate.reranks[n_stages - 1].is_some();
            if let Some(threshold) = request.min_score
                && (!scored_last || candidate.last_score.is_some_and(|s| s < threshold))
            {
                continue;
            }
            let latest = candidate.reranks.iter().rposition(Option::is_some);
            let (score, score_kind) = match latest {
                Some(_) if scored_last && request.stage_fusion.is_some() => {
                    (fused_scores.get(&position).copied().unwrap_or(0.0), FinalScoreKind::Fused)
                }
                // Ranked by the latest stage that scored it (in a cascade, maybe not the last).
                Some(stage_idx) => (
                    candidate.last_score.unwrap_or(0.0),
                    FinalScoreKind::Reranker {
                        activation: stage_activation(
                            &request.stages[stage_idx],
                            request.raw_scores,
                        ),
                    },
                ),
                None => (
                    candidate.stage1.score,
                    FinalScoreKind::Stage1 { kind: candidate.hit.score_kind },
                ),
            };
            let (chunk_key, text, dropped_tokens) =
                candidate.best.unwrap_or((candidate.hit.chunk_key, candidate.hit.text, 0));
            let place =
                |found: Option<(usize, f32)>| found.map(|(rank, score)| Place { rank, score });
            let retrievers = RetrieverPlaces {
                bm25: place(candidate.hit.bm25),
                dense: place(candidate.hit.dense),
            };
            hits.push(PipelineHit {
                doc_id: candidate.hit.doc_id,
                title: candidate.hit.title,
                chunk_key,
                text,
                score,
                score_kind,
                stage1: candidate.stage1,
                retrievers,
                reranks: candidate.reranks,
                dropped_tokens,
            });
            if hits.len() == request.k {
                break;
            }
        }
        Ok(PipelineResponse { hits, stages, deadline_exceeded })
    }
}

/// The activation behind a stage's scores: the model's declared one, or none when raw.
fn stage_activation(stage: &RerankStage<'_>, raw_scores: bool) -> ScoreActivation {
    if raw_scores { ScoreActivation::Identity } else { stage.reranker.score_contract().activation }
}
