//! ColBERT's MaxSim of one query against many documents.
//!
//! Each document's score is `Σᵢ maxⱼ qᵢ · dⱼ` over the query's rows `i` and the
//! document's rows `j`. The products of one document are one small GEMM (`[q, dim] ·
//! [dim, rows]`, the document read transposed in place), whose rows are then reduced;
//! documents run in parallel on the current rayon pool, each thread reusing one scratch
//! block.

use rayon::prelude::*;

use crate::linear::{Strided, matmul};

/// Scores each of `documents` (row-major `[rows, dim]` each) against `query` (row-major
/// `[query_rows, dim]`) into `out`, one score per document: for every query row, its
/// largest dot product with a document row, summed over the query rows in order. A
/// document without rows scores 0.
///
/// # Panics
/// If `dim` is 0, a matrix's length is not a multiple of `dim`, or `out` does not have
/// one slot per document.
pub fn max_sim(query: &[f32], dim: usize, documents: &[&[f32]], out: &mut [f32]) {
    assert!(dim > 0, "max_sim: dim is 0");
    assert!(query.len().is_multiple_of(dim), "max_sim: the query is not [rows, dim]");
    assert!(
        documents.iter().all(|d| d.len().is_multiple_of(dim)),
        "max_sim: a document is not [rows, dim]"
    );
    assert_eq!(documents.len(), out.len(), "max_sim: one score per document");
    let query_rows = query.len() / dim;
    documents.par_iter().zip(out.par_iter_mut()).for_each_init(
        Vec::new,
        |scratch, (document, score)| {
            *score = one(query, query_rows, document, dim, scratch);
        },
    );
}

/// One document's score, with `scratch` for its `[query_rows, rows]` products.
fn one(
    query: &[f32],
    query_rows: usize,
    document: &[f32],
    dim: usize,
    scratch: &mut Vec<f32>,
) -> f32 {
    let rows = document.len() / dim;
    if rows == 0 || query_rows == 0 {
        return 0.0;
    }
    scratch.resize(query_rows * rows, 0.0);
    matmul(
        query_rows,
        rows,
        dim,
        Strided::rows(query, dim),
        Strided::transposed(document, dim),
        scratch,
        rows,
        false,
        1.0,
        1,
    );
    scratch
        .chunks_exact(rows)
        .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .sum()
}

#[cfg(test)]
mod tests;
