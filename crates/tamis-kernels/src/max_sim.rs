//! ColBERT's MaxSim of one query against many documents.
//!
//! Each document's score is `Σᵢ maxⱼ qᵢ · dⱼ` over the query's rows `i` and the
//! document's rows `j`. The documents' rows lie end to end in one buffer, and blocks of
//! whole documents (about [`BLOCK_ROWS`] rows) are each one GEMM `[rows, dim] · [dim,
//! query_rows]`, the query read transposed in place: tall products keep the GEMM's
//! micro-kernel busy, where one small product per document spent much of its time in
//! setup (1.6× slower at 100 documents of 300 rows, dim 128). Each document's rows of
//! the product are then folded with an element-wise max, a `query_rows`-wide vector
//! reduction, and summed. Blocks run in parallel on the current rayon pool.

use rayon::prelude::*;

use crate::linear::{Strided, matmul};

/// Rows of documents per GEMM: large enough for the micro-kernel, small enough that
/// each thread's `[rows, query_rows]` products stay in its L2 cache.
const BLOCK_ROWS: usize = 2048;

/// Scores each document against `query` (row-major `[query_rows, dim]`) into `out`.
/// `documents` holds every document's rows end to end (row-major, `dim` wide), and
/// `rows[d]` says how many belong to document `d`. A document's score is, for every
/// query row, its largest dot product with one of the document's rows, summed over
/// the query rows in order; a document without rows scores 0.
///
/// # Panics
/// If `dim` is 0, the query's length is not a multiple of `dim`, `documents` does not
/// hold exactly `Σ rows` rows, or `out` does not have one slot per document.
pub fn max_sim(query: &[f32], dim: usize, documents: &[f32], rows: &[usize], out: &mut [f32]) {
    assert!(dim > 0, "max_sim: dim is 0");
    assert!(query.len().is_multiple_of(dim), "max_sim: the query is not [rows, dim]");
    let total = rows.iter().try_fold(0usize, |sum, &r| sum.checked_add(r));
    assert!(
        total.and_then(|t| t.checked_mul(dim)) == Some(documents.len()),
        "max_sim: the documents do not hold the rows counted"
    );
    assert_eq!(rows.len(), out.len(), "max_sim: one score per document");
    let query_rows = query.len() / dim;
    // Blocks of whole documents: (first document, documents, first row, rows).
    let mut blocks = Vec::new();
    let (mut first, mut first_row, mut block_rows) = (0, 0, 0);
    for (d, &r) in rows.iter().enumerate() {
        if block_rows > 0 && block_rows + r > BLOCK_ROWS {
            blocks.push((first, d - first, first_row, block_rows));
            (first, first_row, block_rows) = (d, first_row + block_rows, 0);
        }
        block_rows += r;
    }
    blocks.push((first, rows.len() - first, first_row, block_rows));
    // Each block's slice of `out`, in order.
    let mut slices = Vec::with_capacity(blocks.len());
    let mut rest = out;
    for &(_, count, _, _) in &blocks {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(count);
        slices.push(head);
        rest = tail;
    }
    blocks.into_par_iter().zip(slices).for_each_init(Vec::new, |scratch, (block, out)| {
        let (first, count, first_row, block_rows) = block;
        let block_docs = &documents[first_row * dim..(first_row + block_rows) * dim];
        score_block(query, query_rows, dim, block_docs, &rows[first..first + count], out, scratch);
    });
}

/// The scores of one block's documents, with `scratch` for its products.
fn score_block(
    query: &[f32],
    query_rows: usize,
    dim: usize,
    documents: &[f32],
    rows: &[usize],
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let total = documents.len() / dim;
    if query_rows == 0 || total == 0 {
        out.fill(0.0);
        return;
    }
    scratch.resize(total * query_rows, 0.0);
    matmul(
        total,
        query_rows,
        dim,
        Strided::rows(documents, dim),
        Strided::transposed(query, dim),
        scratch,
        query_rows,
        false,
        1.0,
        1,
    );
    let mut best = vec![f32::NEG_INFINITY; query_rows];
    let mut start = 0;
    for (&r, score) in rows.iter().zip(out) {
        if r == 0 {
            *score = 0.0;
            continue;
        }
        best.fill(f32::NEG_INFINITY);
        for row in scratch[start * query_rows..(start + r) * query_rows].chunks_exact(query_rows) {
            for (b, &x) in best.iter_mut().zip(row) {
                *b = b.max(x);
            }
        }
        *score = best.iter().sum();
        start += r;
    }
}

#[cfg(test)]
mod tests;
