//! Hybrid fusion: several ranked lists (BM25, dense, a reranker) into one.
//!
//! Two families, as the field uses them:
//! - **RRF** (reciprocal rank fusion): `Σ wᵢ / (k + rankᵢ)`, ranks from 1; scale-free, so
//!   BM25 scores and cosine similarities never have to be compared.
//! - **Linear**: each list's scores normalized (min-max or z-score), then `Σ wᵢ · normᵢ`.
//!
//! A fused score is not a relevance probability: results carry [`FusedHit`] with the
//! per-list ranks and raw scores, and callers label the final score as fused.

use std::collections::HashMap;

use tamis_core::{ChunkKey, Hit};

use crate::{Error, Result};

/// How lists are normalized before a linear fusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// `(s − min) / (max − min)`; a list whose scores are all equal maps to 1.
    MinMax,
    /// `(s − mean) / std`; a list whose scores are all equal maps to 0.
    ZScore,
}

/// A fusion method with its weights, one weight per input list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal rank fusion.
    Rrf {
        /// The rank offset; 60 in the original paper and by default.
        k: f32,
        /// Weight of each list, in input order.
        weights: Vec<f32>,
    },
    /// Weighted sum of normalized scores.
    Linear {
        /// How each list is normalized.
        normalization: Normalization,
        /// Weight of each list, in input order.
        weights: Vec<f32>,
    },
}

impl Fusion {
    /// RRF with k = 60 and equal weights over `n_lists` lists.
    pub fn rrf(n_lists: usize) -> Fusion {
        Fusion::Rrf { k: 60.0, weights: vec![1.0; n_lists] }
    }

    fn weights(&self) -> &[f32] {
        match self {
            Fusion::Rrf { weights, .. } | Fusion::Linear { weights, .. } => weights,
        }
    }

    /// Checks the weights against the number of lists, and k.
    pub fn validate(&self, n_lists: usize) -> Result<()> {
        let weights = self.weights();
        if weights.len() != n_lists {
            return Err(Error::InvalidFusion {
                message: format!("{} weights for {n_lists} lists", weights.len()),
            });
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(Error::InvalidFusion {
                message: "weights must be finite and ≥ 0".into()
            });
        }
        if let Fusion::Rrf { k, .. } = self
            && (!k.is_finite() || *k < 0.0)
        {
            return Err(Error::InvalidFusion { message: format!("rrf k must be ≥ 0, got {k}") });
        }
        Ok(())
    }
}

/// One fused result, with where it stood in each input list.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedHit {
    /// The chunk.
    pub key: ChunkKey,
    /// The fused score (higher is better); not comparable across fusion methods.
    pub score: f32,
    /// 1-based rank in each input list, `None` where the list did not have it.
    pub ranks: Vec<Option<usize>>,
    /// Raw score in each input list, `None` where the list did not have it.
    pub scores: Vec<Option<f32>>,
}

/// Fuses ranked `lists` (each sorted best first) and returns the best `limit`, sorted by
/// fused score descending, ties broken by the smaller key.
pub fn fuse(lists: &[&[Hit]], fusion: &Fusion, limit: usize) -> Result<Vec<FusedHit>> {
    fusion.validate(lists.len())?;
    let n = lists.len();
    let mut fused: HashMap<ChunkKey, FusedHit> = HashMap::new();
    for (list_index, list) in lists.iter().enumerate() {
        for (position, hit) in list.iter().enumerate() {
            let entry = fused.entry(hit.key).or_insert_with(|| FusedHit {
                key: hit.key,
                score: 0.0,
                ranks: vec![None; n],
                scores: vec![None; n],
            });
            // A key listed twice in one list keeps its best (first) rank.
            if entry.ranks[list_index].is_none() {
                entry.ranks[list_index] = Some(position + 1);
                entry.scores[list_index] = Some(hit.score);
            }
        }
    }
    match fusion {
        Fusion::Rrf { k, weights } => {
            for hit in fused.values_mut() {
                hit.score = hit
                    .ranks
                    .iter()
                    .zip(weights)
                    .filter_map(|(rank, w)| rank.map(|r| w / (k + r as f32)))
                    .sum();
            }
        }
        Fusion::Linear { normalization, weights } => {
            let normalizers: Vec<Normalizer> =
                lists.iter().map(|list| Normalizer::fit(list, *normalization)).collect();
            for hit in fused.values_mut() {
                hit.score = (0..n)
                    .map(|i| {
                        let normalized = match hit.scores[i] {
                            Some(score) => normalizers[i].apply(score),
                            // Absent from a list: as bad as that list's worst entry.
                            None => normalizers[i].floor(),
                        };
                        weights[i] * normalized
                    })
                    .sum();
            }
        }
    }
    let mut out: Vec<FusedHit> = fused.into_values().collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
    out.truncate(limit);
    Ok(out)
}

/// The normalization fitted on one list.
#[derive(Debug, Clone, Copy)]
struct Normalizer {
    mode: Normalization,
    /// min (min-max) or mean (z-score).
    offset: f32,
    /// max − min (min-max) or standard deviation (z-score).
    spread: f32,
    /// The list's smallest raw score; `None` for an empty list.
    min: Option<f32>,
}

impl Normalizer {
    fn fit(list: &[Hit], mode: Normalization) -> Normalizer {
        if list.is_empty() {
            return Normalizer { mode, offset: 0.0, spread: 0.0, min: None };
        }
        let min = list.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
        let max = list.iter().map(|h| h.score).fold(f32::NEG_INFINITY, f32::max);
        match mode {
            Normalization::MinMax => {
                Normalizer { mode, offset: min, spread: max - min, min: Some(min) }
            }
            Normalization::ZScore => {
                let n = list.len() as f32;
                let mean = list.iter().map(|h| h.score).sum::<f32>() / n;
                let variance = list.iter().map(|h| (h.score - mean).powi(2)).sum::<f32>() / n;
                Normalizer { mode, offset: mean, spread: variance.sqrt(), min: Some(min) }
            }
        }
    }

    fn apply(&self, score: f32) -> f32 {
        if self.spread > 0.0 {
            return (score - self.offset) / self.spread;
        }
        match self.mode {
            Normalization::MinMax => 1.0,
            Normalization::ZScore => 0.0,
        }
    }

    /// The normalized value of the list's worst entry, given to keys the list lacks
    /// (0 for an empty list, which then shifts nobody).
    fn floor(&self) -> f32 {
        self.min.map_or(0.0, |min| self.apply(min))
    }
}

#[cfg(test)]
mod tests;
