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

thread_local! {
    /// Each thread's products and decoded rows, kept from call to call: allocated per
    /// call, these megabytes came back as fresh pages from the system, and faulting
    /// them in cost more than the products (a rerank stage of 100 documents of 300
    /// rows, dim 128).
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

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
    let (blocks, slices) = blocks(rows, out);
    blocks.into_par_iter().zip(slices).for_each(|(block, out)| {
        let block_docs = &documents[block.first_row * dim..(block.first_row + block.rows) * dim];
        let rows = &rows[block.first..block.first + block.count];
        SCRATCH.with_borrow_mut(|(scratch, _)| {
            score_block(query, query_rows, dim, block_docs, rows, out, scratch)
        });
    });
}

/// [`max_sim`] over documents kept in another form (half floats, int8): `fill(d, buf)`
/// appends document `d`'s `rows[d]` rows, as `f32`, to `buf`. Each block of documents is
/// filled into a buffer of its own thread just before its product, so decoding runs in
/// parallel and its output is read from cache, never written to memory as one large
/// buffer (which costs more than the products at 100 documents of 300 rows).
///
/// # Panics
/// As [`max_sim`], and if `fill` appends another number of values than `rows[d] · dim`.
pub fn max_sim_with<F>(query: &[f32], dim: usize, rows: &[usize], out: &mut [f32], fill: F)
where
    F: Fn(usize, &mut Vec<f32>) + Sync,
{
    assert!(dim > 0, "max_sim: dim is 0");
    assert!(query.len().is_multiple_of(dim), "max_sim: the query is not [rows, dim]");
    assert_eq!(rows.len(), out.len(), "max_sim: one score per document");
    let query_rows = query.len() / dim;
    let (blocks, slices) = blocks(rows, out);
    blocks.into_par_iter().zip(slices).for_each(|(block, out)| {
        SCRATCH.with_borrow_mut(|(scratch, decoded)| {
            decoded.clear();
            let rows = &rows[block.first..block.first + block.count];
            for (d, &r) in (block.first..).zip(rows) {
                let before = decoded.len();
                fill(d, decoded);
                assert_eq!(decoded.len() - before, r * dim, "max_sim: document {d}'s rows");
            }
            score_block(query, query_rows, dim, decoded, rows, out, scratch);
        })
    });
}

/// Whole documents whose rows make one product.
#[derive(Debug, Clone, Copy)]
struct Block {
    first: usize,
    count: usize,
    first_row: usize,
    rows: usize,
}

/// The blocks of about [`BLOCK_ROWS`] rows, and each block's slice of `out`, in order.
fn blocks<'o>(rows: &[usize], out: &'o mut [f32]) -> (Vec<Block>, Vec<&'o mut [f32]>) {
    let mut blocks = Vec::new();
    let mut block = Block { first: 0, count: 0, first_row: 0, rows: 0 };
    for (d, &r) in rows.iter().enumerate() {
        if block.rows > 0 && block.rows + r > BLOCK_ROWS {
            blocks.push(Block { count: d - block.first, ..block });
            block = Block { first: d, count: 0, first_row: block.first_row + block.rows, rows: 0 };
        }
        block.rows += r;
    }
    blocks.push(Block { count: rows.len() - block.first, ..block });
    let mut slices = Vec::with_capacity(blocks.len());
    let mut rest = out;
    for block in &blocks {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(block.count);
        slices.push(head);
        rest = tail;
    }
    (blocks, slices)
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
