//! Similarity metrics, and the checks every vector passes before it reaches an index.
//!
//! Both backends store vectors in the form they are compared in: under
//! [`Metric::Cosine`] a vector is normalised to unit length once, when it is indexed,
//! and the query once per search, so every score is a single dot product. That keeps
//! [`crate::FlatIndex`] and [`crate::HnswIndex`] bit-for-bit comparable and makes a
//! zero vector an error at the door instead of a NaN inside a ranking.

use std::borrow::Cow;

use tamis_core::ChunkKey;

use crate::Error;

/// How two vectors are compared. Every score is a similarity: higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// The dot product `Σ a[i]·b[i]`. For unit-length embeddings (what most
    /// bi-encoders produce) this equals the cosine similarity and is cheaper.
    InnerProduct,
    /// The cosine similarity `a·b / (|a|·|b|)`, in `[-1, 1]`. All-zero vectors are
    /// rejected because they have no direction.
    Cosine,
}

/// The largest key an index accepts, `2^63 − 1` (SQLite's and PostgreSQL's largest
/// row id): the keys above it are reserved by the HNSW backend for removed vectors, and
/// every backend rejects them so that they stay interchangeable.
pub const MAX_KEY: ChunkKey = (1 << 63) - 1;

/// Checks that a vector has the index's dimension.
pub(crate) fn check_dimension(expected: usize, vector: &[f32]) -> crate::Result<()> {
    if vector.len() == expected {
        Ok(())
    } else {
        Err(Error::DimensionMismatch { expected, got: vector.len() })
    }
}

/// Checks a vector to be indexed under `key` and returns it in stored form.
pub(crate) fn prepare_vector<'v>(
    metric: Metric,
    dimension: usize,
    key: ChunkKey,
    vector: &'v [f32],
) -> crate::Result<Cow<'v, [f32]>> {
    if key > MAX_KEY {
        return Err(Error::ReservedKey { key });
    }
    check_dimension(dimension, vector)?;
    if let Some(position) = first_non_finite(vector) {
        return Err(Error::NonFiniteVector { key, position });
    }
    normalize_for(metric, vector).ok_or(Error::ZeroVector { key })
}

/// Checks a query and returns it in the form it is compared in.
pub(crate) fn prepare_query(
    metric: Metric,
    dimension: usize,
    query: &[f32],
) -> crate::Result<Cow<'_, [f32]>> {
    check_dimension(dimension, query)?;
    if let Some(position) = first_non_finite(query) {
        return Err(Error::NonFiniteQuery { position });
    }
    normalize_for(metric, query).ok_or(Error::ZeroQuery)
}

fn first_non_finite(vector: &[f32]) -> Option<usize> {
    vector.iter().position(|value| !value.is_finite())
}

/// The vector as the metric compares it, or `None` for a zero vector under cosine.
fn normalize_for(metric: Metric, vector: &[f32]) -> Option<Cow<'_, [f32]>> {
    match metric {
        Metric::InnerProduct => Some(Cow::Borrowed(vector)),
        Metric::Cosine => {
            // Summed in f64 so that large finite components cannot overflow the length
            // and tiny ones do not underflow it to zero.
            let length: f64 =
                vector.iter().map(|&value| f64::from(value).powi(2)).sum::<f64>().sqrt();
            if length == 0.0 {
                return None;
            }
            Some(Cow::Owned(
                vector.iter().map(|&value| (f64::from(value) / length) as f32).collect(),
            ))
        }
    }
}
