//! Turning token states into one vector, as sentence-transformers' `Pooling` module does.
//!
//! Padding never contributes: every mode reads only positions whose mask is 1.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// One way of reducing token states to a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolingMode {
    /// The first token's state (`[CLS]` / `<s>`).
    Cls,
    /// Element-wise maximum over tokens.
    Max,
    /// Mean over tokens.
    Mean,
    /// Sum over tokens divided by the square root of their count.
    MeanSqrtLen,
    /// Mean weighted by position (1, 2, 3, …), as sentence-transformers' `weightedmean`.
    WeightedMean,
    /// The last real token's state (decoder-style embedders).
    LastToken,
}

/// The pooling of a bi-encoder: the modes to concatenate, in sentence-transformers' order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pooling {
    /// Modes whose vectors are concatenated (usually one).
    pub modes: Vec<PoolingMode>,
    /// Whether prompt tokens take part (sentence-transformers' `include_prompt`).
    pub include_prompt: bool,
}

#[derive(Deserialize)]
struct RawPooling {
    /// sentence-transformers >= 5.4 names the mode in one string instead of booleans.
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    #[serde(default = "yes")]
    include_prompt: bool,
}

fn yes() -> bool {
    true
}

impl Pooling {
    /// Mean pooling, what sentence-transformers uses for a model without a pooling config.
    pub fn mean() -> Pooling {
        Pooling { modes: vec![PoolingMode::Mean], include_prompt: true }
    }

    /// Reads a `1_Pooling/config.json`.
    pub fn from_file(path: &Path) -> Result<Pooling> {
        let raw: RawPooling = crate::config::read_json(path)?;
        if let Some(name) = &raw.pooling_mode {
            let mode = mode_by_name(name).ok_or_else(|| Error::BadConfig {
                path: path.to_path_buf(),
                message: format!("pooling mode '{name}' is not supported"),
            })?;
            return Ok(Pooling { modes: vec![mode], include_prompt: raw.include_prompt });
        }
        let modes: Vec<PoolingMode> = [
            (raw.pooling_mode_cls_token, PoolingMode::Cls),
            (raw.pooling_mode_max_tokens, PoolingMode::Max),
            (raw.pooling_mode_mean_tokens, PoolingMode::Mean),
            (raw.pooling_mode_mean_sqrt_len_tokens, PoolingMode::MeanSqrtLen),
            (raw.pooling_mode_weightedmean_tokens, PoolingMode::WeightedMean),
            (raw.pooling_mode_lasttoken, PoolingMode::LastToken),
        ]
        .into_iter()
        .filter_map(|(on, mode)| on.then_some(mode))
        .collect();
        if modes.is_empty() {
            return Err(Error::BadConfig {
                path: path.to_path_buf(),
                message: "no pooling mode is enabled".to_string(),
            });
        }
        Ok(Pooling { modes, include_prompt: raw.include_prompt })
    }

    /// Pools one sequence: `states` is `[seq_len, hidden]`, `mask` has one entry per token.
    pub fn pool(&self, states: &[f32], mask: &[u32], hidden: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(hidden * self.modes.len());
        for mode in &self.modes {
            out.extend(pool_one(*mode, states, mask, hidden));
        }
        out
    }
}

fn mode_by_name(name: &str) -> Option<PoolingMode> {
    Some(match name {
        "cls" => PoolingMode::Cls,
        "max" => PoolingMode::Max,
        "mean" => PoolingMode::Mean,
        "mean_sqrt_len_tokens" => PoolingMode::MeanSqrtLen,
        "weightedmean" => PoolingMode::WeightedMean,
        "lasttoken" => PoolingMode::LastToken,
        _ => return None,
    })
}

fn pool_one(mode: PoolingMode, states: &[f32], mask: &[u32], hidden: usize) -> Vec<f32> {
    let tokens = || {
        mask.iter()
            .enumerate()
            .filter(|(_, m)| **m == 1)
            .map(|(i, _)| (i, &states[i * hidden..(i + 1) * hidden]))
    };
    let n_tokens = tokens().count();
    let sum = |weight: &dyn Fn(usize) -> f32| {
        let mut acc = vec![0.0f32; hidden];
        for (i, row) in tokens() {
            let w = weight(i);
            acc.iter_mut().zip(row).for_each(|(a, x)| *a += w * x);
        }
        acc
    };
    // sentence-transformers clamps the token count to 1e-9 so empty masks give zeros, not NaN.
    let scaled = |acc: Vec<f32>, denominator: f32| -> Vec<f32> {
        acc.into_iter().map(|a| a / denominator.max(1e-9)).collect()
    };
    match mode {
        PoolingMode::Cls => states[..hidden].to_vec(),
        PoolingMode::Mean => scaled(sum(&|_| 1.0), n_tokens as f32),
        PoolingMode::MeanSqrtLen => scaled(sum(&|_| 1.0), (n_tokens as f32).sqrt()),
        PoolingMode::WeightedMean => {
            let weight = |i: usize| (i + 1) as f32;
            let total: f32 = tokens().map(|(i, _)| weight(i)).sum();
            scaled(sum(&weight), total)
        }
        PoolingMode::Max => {
            // Like sentence-transformers, masked positions count as -1e9, not as absent.
            let mut acc =
                vec![if n_tokens < mask.len() { -1e9f32 } else { f32::NEG_INFINITY }; hidden];
            for (_, row) in tokens() {
                acc.iter_mut().zip(row).for_each(|(a, x)| *a = a.max(*x));
            }
            acc
        }
        PoolingMode::LastToken => match tokens().next_back() {
            Some((_, row)) => row.to_vec(),
            None => vec![0.0; hidden],
        },
    }
}

/// Scales `vector` to unit length (left as is when it is all zeros).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    // torch.nn.functional.normalize divides by max(norm, 1e-12).
    let norm = norm.max(1e-12);
    vector.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests;
