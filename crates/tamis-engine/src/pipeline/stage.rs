//! One rerank stage: score the head of the current order, chunk by chunk, and reorder it.

use std::collections::HashMap;
use std::panic::resume_unwind;
use std::time::Instant;

use tamis_core::{
    ChunkKey, PairScore, TextRole, TokenEmbedder, TokenMatrix, TokenStorage, expect_count,
};

use super::{AdaptiveDepth, Candidate, ChunkAggregation, EarlyStop, PipelineRequest, Place};
use super::{LateStage, RerankStage, StageReport};
use crate::index::Index;
use crate::{Error, Result};

/// Documents per call of a late-interaction stage at least: 100 candidates in batches
/// of 16 took 23.5 ms p50 per query against 14.1 ms in one batch (NFCorpus, MiniLM
/// ColBERT from stored fp16 vectors, 2-core Xeon).
const LATE_BATCH_DOCS: usize = 256;

/// A late-interaction stage ready to score: the query encoded once for all batches.
struct LateScorer<'a> {
    stage: LateStage<'a>,
    query: TokenMatrix,
    /// How the index stores this model's token vectors; `None` when it stores none.
    stored: Option<TokenStorage>,
}

/// A document's aggregated score and its best chunk.
struct DocScore {
    score: f32,
    best: (tamis_core::ChunkKey, String, usize),
}

impl Index {
    /// Scores the first `stage.candidates` documents of `order` and moves them, best first,
    /// ahead of the rest (which keeps its order).
    pub(super) fn run_stage(
        &self,
        request: &PipelineRequest<'_>,
        stage_idx: usize,
        stage: &RerankStage<'_>,
        order: &mut Vec<super::Candidate>,
        rerank_started: Instant,
    ) -> Result<StageReport> {
        let started = Instant::now();
        let n = stage.candidates.min(order.len());
        // What this stage's ranking feeds: the next stage's window, or the final top k.
        let last_k = request.adaptive.map_or(request.k, |adaptive| adaptive.k);
        let target = request.stages.get(stage_idx + 1).map_or(last_k, |next| next.candidates);
        let mut scored: Vec<(usize, DocScore)> = Vec::with_capacity(n);
        let mut pairs = 0;
        let mut stopped = None;
        let mut outside_top = 0;
        // A late-interaction stage costs per call (reading the stored vectors, one product
        // over all of them), hardly per document: it scores in large batches.
        let batch_docs = match stage.late {
            Some(_) => request.batch_docs.max(LATE_BATCH_DOCS),
            None => request.batch_docs,
        };
        // A late-interaction stage reads its first batch (passages and stored vectors)
        // while the query is encoded.
        let mut first_batch = None;
        let late = match stage.late {
            None => None,
            Some(late) => {
                let stored = self.late_storage(late)?;
                let first = &order[..batch_docs.min(n)];
                let (query, batch) = std::thread::scope(|scope| {
                    // The encoding runs on the model's threads, which a query's few rows
                    // leave half idle; reading takes this one about as long (100 stored
                    // candidates: 1 ms).
                    let encoding = scope.spawn(|| encode_query(late, request.search.query));
                    let batch = self.late_batch(first, 0, stored, late.model.dimension());
                    let query = encoding.join().unwrap_or_else(|panic| resume_unwind(panic));
                    (query, batch)
                });
                first_batch = Some(batch?);
                Some(LateScorer { stage: late, query: query?, stored })
            }
        };
        for (batches_done, batch_start) in (0..n).step_by(batch_docs).enumerate() {
            if let Some(deadline) = request.deadline {
                // Stop before a batch that, at the pace so far, would end past the deadline.
                let spent = rerank_started.elapsed();
                let per_batch = started.elapsed() / (batches_done as u32).max(1);
                if spent + per_batch > deadline {
                    stopped = Some(EarlyStop::Deadline);
                    break;
                }
            }
            let batch_end = (batch_start + batch_docs).min(n);
            let batch = &order[batch_start..batch_end];
            let (passages, tokens) = match (&late, first_batch.take()) {
                (_, Some(first)) => first,
                (Some(late), None) => {
                    self.late_batch(batch, batch_start, late.stored, late.stage.model.dimension())?
                }
                (None, None) => (self.passages(batch, batch_start)?, HashMap::new()),
            };
            let texts: Vec<&str> = passages.iter().map(|(_, _, p, _)| p.as_str()).collect();
            let scores = match &late {
                Some(late) => {
                    let keys: Vec<ChunkKey> = passages.iter().map(|(_, key, ..)| *key).collect();
                    self.late_scores(late, &keys, &texts, tokens)?
                }
                None => stage
                    .reranker
                    .score(request.search.query, &texts)
                    .and_then(|s| expect_count(s, texts.len()))
                    .map_err(Error::Model)?,
            };
            pairs += texts.len();
            for position in batch_start..batch_end {
                let chunk_scores: Vec<(f32, tamis_core::ChunkKey, &str, usize)> = passages
                    .iter()
                    .zip(&scores)
                    .filter(|((p, ..), _)| *p == position)
                    .map(|((_, key, _, text), s)| {
                        let value = if request.raw_scores { s.logit } else { s.score };
                        (value, *key, text.as_str(), s.dropped_tokens)
                    })
                    .collect();
                let Some(doc_score) = aggregate(&chunk_scores, request.aggregation) else {
                    continue;
                };
                let higher = scored.iter().filter(|(_, d)| d.score > doc_score.score).count();
                outside_top = if higher < target { 0 } else { outside_top + 1 };
                scored.push((position, doc_score));
            }
            if let Some(AdaptiveDepth { patience, .. }) = request.adaptive
                && scored.len() >= target
                && outside_top >= patience
                && batch_end < n
            {
                stopped = Some(EarlyStop::Adaptive);
                break;
            }
        }

        // Best first; ties keep the incoming order.
        scored.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        let n_scored = scored.len();
        let mut taken: Vec<Option<Candidate>> = order.drain(..).map(Some).collect();
        for (rank_idx, (position, doc_score)) in scored.into_iter().enumerate() {
            if let Some(mut candidate) = taken[position].take() {
                candidate.reranks[stage_idx] =
                    Some(Place { rank: rank_idx + 1, score: doc_score.score });
                candidate.last_score = Some(doc_score.score);
                candidate.best = Some(doc_score.best);
                order.push(candidate);
            }
        }
        order.extend(taken.into_iter().flatten());
        Ok(StageReport {
            name: stage.name.to_string(),
            documents: n_scored,
            pairs,
            elapsed: started.elapsed(),
            stopped,
        })
    }

    /// What a late-interaction stage computes for chunks the caller picked: MaxSim of
    /// `query` against each of `keys` (unknown keys are an error), from the token vectors
    /// the index stores, the chunks without any encoded now. For benchmarks and callers
    /// with candidates of their own.
    pub fn late_interaction_scores(
        &self,
        late: LateStage<'_>,
        query: &str,
        keys: &[ChunkKey],
    ) -> Result<Vec<f32>> {
        let scorer = self.late_scorer(late, query)?;
        let mut texts: HashMap<ChunkKey, String> = self
            .backend()
            .chunks(keys)?
            .iter()
            .map(|chunk| (chunk.key, self.passage(&chunk.title, &chunk.text)))
            .collect();
        let texts: Vec<String> = keys
            .iter()
            .map(|key| {
                texts.remove(key).ok_or_else(|| Error::InvalidSearch {
                    message: format!("chunk {key} is not in the index"),
                })
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens = self.stored_tokens(scorer.stored, late.model.dimension(), keys)?;
        Ok(self.late_scores(&scorer, keys, &refs, tokens)?.iter().map(|s| s.score).collect())
    }

    /// Checks that the index stores `late`'s token vectors, if any, and encodes the query.
    fn late_scorer<'a>(&self, late: LateStage<'a>, query: &str) -> Result<LateScorer<'a>> {
        let stored = self.late_storage(late)?;
        Ok(LateScorer { stage: late, query: encode_query(late, query)?, stored })
    }

    /// How the index stores `late`'s token vectors (`None`: it stores none); an index
    /// storing another model's is refused.
    fn late_storage(&self, late: LateStage<'_>) -> Result<Option<TokenStorage>> {
        Ok(match &self.settings().late_interaction {
            Some(stored) if stored.model_id != late.model_id => {
                return Err(Error::LateModelMismatch {
                    location: self.backend().location(),
                    indexed_with: stored.model_id.clone(),
                    requested: late.model_id.to_string(),
                });
            }
            Some(stored) if stored.dimension != late.model.dimension() => {
                return Err(Error::TokenDimensionMismatch {
                    expected: stored.dimension,
                    got: late.model.dimension(),
                });
            }
            Some(stored) => Some(stored.storage),
            None => None,
        })
    }

    /// A late-interaction stage's batch: the candidates' passages (as [`Self::passages`])
    /// and the token vectors the index stores for them (none when `stored` is `None`).
    fn late_batch(
        &self,
        candidates: &[Candidate],
        first: usize,
        stored: Option<TokenStorage>,
        dim: usize,
    ) -> Result<(Vec<Passage>, StoredTokens)> {
        let passages = self.passages(candidates, first)?;
        let keys: Vec<ChunkKey> = passages.iter().map(|(_, key, ..)| *key).collect();
        Ok((passages, self.stored_tokens(stored, dim, &keys)?))
    }

    /// The token vectors the index stores for `keys`, each checked to be whole rows of
    /// `dim` values in `storage` (none when `storage` is `None`).
    fn stored_tokens(
        &self,
        storage: Option<TokenStorage>,
        dim: usize,
        keys: &[ChunkKey],
    ) -> Result<StoredTokens> {
        let Some(storage) = storage else {
            return Ok(HashMap::new());
        };
        let stored: StoredTokens = self.backend().chunk_tokens(keys)?.into_iter().collect();
        for (key, bytes) in &stored {
            if !bytes.len().is_multiple_of(storage.row_bytes(dim)) {
                let source = tamis_core::BadTokenBytes { len: bytes.len(), storage, dim };
                let location = self.backend().location();
                return Err(Error::CorruptTokenVectors { location, key: *key, source });
            }
        }
        Ok(stored)
    }

    /// MaxSim of the scorer's query against each chunk (`keys[i]`, whose text is
    /// `texts[i]`): from the token vectors `stored` (read by [`Self::stored_tokens`]),
    /// the chunks without any encoded now (into the stored form, so that every chunk is
    /// scored alike).
    fn late_scores(
        &self,
        late: &LateScorer<'_>,
        keys: &[ChunkKey],
        texts: &[&str],
        mut stored: StoredTokens,
    ) -> Result<Vec<PairScore>> {
        let model = late.stage.model;
        let scores = match late.stored {
            None => {
                let matrices = encode_documents(model, texts)?;
                let rows: Vec<usize> = matrices.iter().map(TokenMatrix::rows).collect();
                let data: Vec<f32> = matrices.into_iter().flat_map(|m| m.data).collect();
                model.max_sim(&late.query, &data, &rows)
            }
            Some(storage) => {
                let missing: Vec<&str> = keys
                    .iter()
                    .zip(texts)
                    .filter(|(key, _)| !stored.contains_key(key))
                    .map(|(_, text)| *text)
                    .collect();
                let mut encoded = encode_documents(model, &missing)?
                    .into_iter()
                    .map(|matrix| storage.encode(&matrix));
                let mut documents: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
                for key in keys {
                    let bytes =
                        match stored.remove(key) {
                            Some(bytes) => bytes,
                            None => encoded.next().ok_or(Error::Model(
                                tamis_core::Error::WrongCount { expected: missing.len(), got: 0 },
                            ))?,
                        };
                    documents.push(bytes);
                }
                let refs: Vec<&[u8]> = documents.iter().map(Vec::as_slice).collect();
                model.max_sim_stored(&late.query, storage, &refs)
            }
        };
        let scores = scores.and_then(|s| expect_count(s, keys.len())).map_err(Error::Model)?;
        Ok(scores
            .into_iter()
            .map(|score| PairScore { score, logit: score, truncated: false, dropped_tokens: 0 })
            .collect())
    }

    /// Every chunk of each candidate document, in order, as (the candidate's position,
    /// counting from `first`, key, text given to the reranker, chunk text). The chunk
    /// that stage 1 found is taken from its hit; the others are read in one call, so a
    /// document of one chunk costs no read of its text.
    fn passages(&self, candidates: &[Candidate], first: usize) -> Result<Vec<Passage>> {
        let ids: Vec<&str> = candidates.iter().map(|c| c.hit.doc_id.as_str()).collect();
        let chunk_lists = self.backend().chunks_of_documents(&ids)?;
        // A document deleted since stage 1 (a concurrent writer) has none: not scored.
        let keys: Vec<Vec<ChunkKey>> = candidates
            .iter()
            .map(|candidate| chunk_lists.get(&candidate.hit.doc_id).cloned().unwrap_or_default())
            .collect();
        let others: Vec<ChunkKey> = candidates
            .iter()
            .zip(&keys)
            .flat_map(|(candidate, keys)| keys.iter().filter(|&&k| k != candidate.hit.chunk_key))
            .copied()
            .collect();
        let mut read: HashMap<ChunkKey, crate::StoredChunk> = if others.is_empty() {
            HashMap::new()
        } else {
            self.backend().chunks(&others)?.into_iter().map(|c| (c.key, c)).collect()
        };
        let mut passages = Vec::with_capacity(others.len() + candidates.len());
        // Keys come in chunk order from `chunks_of_documents`; the passages keep it.
        for (offset, (candidate, keys)) in candidates.iter().zip(keys).enumerate() {
            for key in keys {
                let (title, text) = match read.remove(&key) {
                    Some(chunk) => (chunk.title, chunk.text),
                    None if key == candidate.hit.chunk_key => {
                        (candidate.hit.title.clone(), candidate.hit.text.clone())
                    }
                    // Deleted since stage 1 (a concurrent writer): not scored.
                    None => continue,
                };
                passages.push((first + offset, key, self.passage(&title, &text), text));
            }
        }
        Ok(passages)
    }

    /// What a reranker reads of a chunk: its text, after the title where the index embeds
    /// chunks that way.
    fn passage(&self, title: &str, text: &str) -> String {
        let title = title.trim();
        if self.settings().chunking.prepend_title && !title.is_empty() {
            format!("{title} {text}")
        } else {
            text.to_string()
        }
    }
}

/// A chunk to score: its candidate's position, key, the text given to the reranker, and
/// the chunk's text.
type Passage = (usize, ChunkKey, String, String);

/// Stored token vectors by chunk, in the index's [`TokenStorage`].
type StoredTokens = HashMap<ChunkKey, Vec<u8>>;

/// The query encoded by a late-interaction model.
fn encode_query(late: LateStage<'_>, query: &str) -> Result<TokenMatrix> {
    late.model
        .embed_tokens(&[query], TextRole::Query)
        .and_then(|m| expect_count(m, 1))
        .map_err(Error::Model)?
        .pop()
        .ok_or(Error::Model(tamis_core::Error::WrongCount { expected: 1, got: 0 }))
}

/// `texts` encoded as documents by `model`, each as wide as the model says.
fn encode_documents(model: &dyn TokenEmbedder, texts: &[&str]) -> Result<Vec<TokenMatrix>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let matrices = model
        .embed_tokens(texts, TextRole::Document)
        .and_then(|m| expect_count(m, texts.len()))
        .map_err(Error::Model)?;
    if let Some(matrix) = matrices.iter().find(|m| m.dim != model.dimension()) {
        return Err(Error::TokenDimensionMismatch { expected: model.dimension(), got: matrix.dim });
    }
    Ok(matrices)
}

/// A document's score from its chunks' (score, key, text, dropped tokens), in chunk order.
fn aggregate(
    chunks: &[(f32, tamis_core::ChunkKey, &str, usize)],
    aggregation: ChunkAggregation,
) -> Option<DocScore> {
    // Reversed so that, among equal scores, the earliest chunk wins.
    let best = chunks.iter().rev().max_by(|a, b| a.0.total_cmp(&b.0))?;
    let score = match aggregation {
        ChunkAggregation::Max => best.0,
        ChunkAggregation::First => chunks[0].0,
        ChunkAggregation::MeanTop2 => {
            let mut values: Vec<f32> = chunks.iter().map(|c| c.0).collect();
            values.sort_by(|a, b| b.total_cmp(a));
            values.iter().take(2).sum::<f32>() / values.len().min(2) as f32
        }
    };
    let chosen = if aggregation == ChunkAggregation::First { &chunks[0] } else { best };
    Some(DocScore { score, best: (chosen.1, chosen.2.to_string(), chosen.3) })
}
