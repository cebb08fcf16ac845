//! BM25 with settable parameters, scored by tamis from tantivy's postings and field norms,
//! and top-k search that skips documents which cannot enter the top (MaxScore).
//!
//! tantivy's own scorer fixes `k1 = 1.2` and `b = 0.75`, and the block maxima its index
//! stores for Block-WAND assume them. So tamis reads only what the index stores (postings,
//! term frequencies, field norms and those block maxima) and does the arithmetic itself, at
//! query time: any [`Bm25Params`] work on any index, with no rebuild.
//!
//! The arithmetic follows tantivy's step for step (same `f32` operations, same statistics:
//! `N` counts every document slot of every segment, deleted ones included until a merge),
//! so [`Bm25Params::LEGACY`] gives tantivy's scores; `tests.rs` checks that against
//! tantivy's `TermQuery`.
//!
//! Pruning (MaxScore, Turtle and Flood 1995): each term gets an upper bound on what it can
//! add in a segment. With the terms sorted by bound, those whose bounds together cannot beat
//! the current `k`-th score are *non-essential*: only documents that contain an essential
//! term are visited, and a non-essential term is looked up in a visited document only while
//! the score so far plus the remaining bounds can still beat the threshold. A term's bound
//! is the largest of its block maxima, each converted from the `(field norm, tf)` pair that
//! tantivy stored for the fixed parameters into a bound valid for ours (see
//! [`block_bound`]).

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{Bm25StatisticsProvider, Bm25Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, Term};

use crate::Bm25Params;

/// tantivy's fixed parameters, which the stored block maxima were chosen with.
const TANTIVY_K1: f64 = 1.2;
const TANTIVY_B: f64 = 0.75;

/// Bounds are widened by this factor, so that `f32` rounding in a sum can never make a
/// bound fall below a score it should cover.
const BOUND_SLACK: f64 = 1.0 + 1e-4;

/// One field as BM25 sees it for one query: the length-normalization denominator part
/// `k1 · (1 − b + b · dl / avgdl)` for each of the 256 stored field-norm codes.
struct FieldNorms {
    field: Field,
    avgdl: Score,
    norm: Box<[Score; 256]>,
}

/// One (term, field) of a query, with everything that is the same in every segment.
struct Clause {
    term: Term,
    /// Index into [`Bm25Query::fields`].
    field: usize,
    /// `weight · idf · (k1 + 1)`, times the number of times the term is repeated.
    weight: Score,
}

/// A query compiled against a searcher's statistics.
pub(crate) struct Bm25Query {
    params: Bm25Params,
    fields: Vec<FieldNorms>,
    clauses: Vec<Clause>,
}

impl Bm25Query {
    /// Compiles `terms`, each looked up in each of `fields` (a field and its weight); a term
    /// given twice counts twice. Terms found in no document are dropped. The clauses are
    /// ordered by term, whatever the order of `terms`, so a reordered query sums its
    /// scores in the same order and gets the same bits.
    pub(crate) fn new(
        searcher: &Searcher,
        terms: &[String],
        fields: &[(Field, Score)],
        params: &Bm25Params,
    ) -> tantivy::Result<Bm25Query> {
        let num_docs = searcher.total_num_docs()?;
        let mut query = Bm25Query { params: *params, fields: Vec::new(), clauses: Vec::new() };
        if num_docs == 0 {
            return Ok(query);
        }
        for &(field, _) in fields {
            let avgdl = searcher.total_num_tokens(field)? as Score / num_docs as Score;
            let mut norm = Box::new([0.0; 256]);
            for (id, slot) in (0..=u8::MAX).zip(norm.iter_mut()) {
                let dl = FieldNormReader::id_to_fieldnorm(id) as Score;
                *slot = params.k1 * (1.0 - params.b + params.b * dl / avgdl);
            }
            query.fields.push(FieldNorms { field, avgdl, norm });
        }
        let mut distinct: Vec<&String> = terms.iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        for text in distinct {
            let repeats = terms.iter().filter(|other| *other == text).count() as Score;
            for (field_idx, &(field, field_weight)) in fields.iter().enumerate() {
                let term = Term::from_field_text(field, text);
                let doc_freq = searcher.doc_freq(&term)?;
                if doc_freq == 0 {
                    continue;
                }
                let weight = idf(doc_freq, num_docs) * (1.0 + params.k1) * field_weight * repeats;
                query.clauses.push(Clause { term, field: field_idx, weight });
            }
        }
        Ok(query)
    }

    /// Scores the documents of one segment that contain a query term, in doc order, calling
    /// `sink(doc, score)` for each one whose score is above `threshold`; `sink` returns the
    /// new threshold (a score a document must *exceed* to matter), which only grows. With a
    /// threshold that stays `Score::MIN`, every matching document is scored.
    pub(crate) fn for_each_top(
        &self,
        reader: &SegmentReader,
        threshold: Score,
        mut sink: impl FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        let mut cursors = self.cursors(reader)?;
        if cursors.is_empty() {
            return Ok(());
        }
        // Ascending bounds; `reach[i]` is the most that terms `0..=i` can add together.
        cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
        let reach: Vec<Score> = cursors
            .iter()
            .scan(0.0f64, |sum, cursor| {
                *sum += f64::from(cursor.bound);
                Some((*sum * BOUND_SLACK) as Score)
            })
            .collect();
        let mut contribution = vec![0.0; self.clauses.len()];
        let mut threshold = threshold;
        // Terms before `first_essential` cannot lift a document above the threshold alone.
        let mut first_essential = 0;
        loop {
            while first_essential < cursors.len() && reach[first_essential] <= threshold {
                first_essential += 1;
            }
            let Some(doc) = cursors[first_essential..].iter().map(|c| c.postings.doc()).min()
            else {
                return Ok(());
            };
            if doc == TERMINATED {
                return Ok(());
            }
            contribution.fill(0.0);
            let mut partial = 0.0;
            for cursor in &mut cursors[first_essential..] {
                if cursor.postings.doc() == doc {
                    let score = cursor.score(&self.fields);
                    contribution[cursor.clause] = score;
                    partial += score;
                    cursor.postings.advance();
                }
            }
            let mut viable = true;
            for idx in (0..first_essential).rev() {
                if partial + reach[idx] <= threshold {
                    viable = false;
                    break;
                }
                let cursor = &mut cursors[idx];
                if cursor.postings.doc() < doc {
                    cursor.postings.seek(doc);
                }
                if cursor.postings.doc() == doc {
                    let score = cursor.score(&self.fields);
                    contribution[cursor.clause] = score;
                    partial += score;
                }
            }
            if !viable {
                continue;
            }
            // Summed in clause order, so a document's score never depends on which terms
            // happened to be essential: equal documents tie exactly, and the key breaks it.
            let score: Score = contribution.iter().sum();
            if score > threshold {
                threshold = sink(doc, score).max(threshold);
            }
        }
    }

    /// A cursor per clause whose term occurs in this segment.
    fn cursors(&self, reader: &SegmentReader) -> tantivy::Result<Vec<Cursor>> {
        let mut field_norms = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            field_norms.push(reader.get_fieldnorms_reader(field.field)?);
        }
        let mut cursors = Vec::with_capacity(self.clauses.len());
        for (clause_idx, clause) in self.clauses.iter().enumerate() {
            let inverted = reader.inverted_index(clause.term.field())?;
            let Some(info) = inverted.get_term_info(&clause.term)? else { continue };
            let fieldnorms = field_norms[clause.field].clone();
            let field = &self.fields[clause.field];
            let segment_avgdl =
                inverted.total_num_tokens() as f64 / f64::from(fieldnorms.num_docs());
            let bound = {
                let mut blocks = inverted
                    .read_block_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?;
                // The weight tantivy's stored maxima are scored with: only its tf factor
                // matters here, and a full-weight probe reads it back as a fraction.
                let probe = Bm25Weight::for_one_term(1, 2, segment_avgdl as Score);
                let conversion = Conversion::new(&self.params, field.avgdl, segment_avgdl);
                let mut largest: f64 = 0.0;
                while blocks.block_len() > 0 {
                    let stored = blocks.block_max_score(&fieldnorms, &probe);
                    largest = largest.max(block_bound(stored, probe.max_score(), &conversion));
                    blocks.advance();
                }
                (f64::from(clause.weight) * largest * BOUND_SLACK) as Score
            };
            let postings =
                inverted.read_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?;
            cursors.push(Cursor {
                postings,
                fieldnorms,
                clause: clause_idx,
                field: clause.field,
                weight: clause.weight,
                bound,
            });
        }
        Ok(cursors)
    }
}

/// A clause's postings in one segment.
struct Cursor {
    postings: SegmentPostings,
    fieldnorms: FieldNormReader,
    clause: usize,
    field: usize,
    weight: Score,
    /// At least the largest score this clause gives any document of the segment.
    bound: Score,
}

impl Cursor {
    /// The clause's score for the current document (tantivy's `Bm25Weight::score`, with
    /// our normalization).
    fn score(&self, fields: &[FieldNorms]) -> Score {
        let tf = self.postings.term_freq() as Score;
        let id = self.fieldnorms.fieldnorm_id(self.postings.doc());
        self.weight * (tf / (tf + fields[self.field].norm[usize::from(id)]))
    }
}

/// tantivy's inverse document frequency, in the same `f32` steps.
fn idf(doc_freq: u64, num_docs: u64) -> Score {
    let x = (num_docs.saturating_sub(doc_freq) as Score + 0.5) / (doc_freq as Score + 0.5);
    (1.0 + x).ln()
}

/// How a block maximum stored for tantivy's parameters becomes one for ours.
///
/// A block stores the posting that maximizes `tf / (tf + c₀(dl))`, with
/// `c₀(dl) = K1 · (1 − B + B · dl / A₀)` (tantivy's `K1`, `B` and the segment's mean length
/// `A₀`). Ours is `c(dl) = k1 · (1 − b + b · dl / A)`. For every posting of the block,
/// `tf / c(dl) = tf / c₀(dl) · c₀(dl) / c(dl)`, and `c₀ / c` is a ratio of two linear
/// functions of `dl`, so over `dl ≥ 1` it is largest at `dl = 1` or as `dl → ∞`. Hence
/// `max tf / c ≤ (max tf / c₀) · factor`, and `x / (1 + x)` of that bounds our tf factor.
struct Conversion {
    /// The largest `c₀(dl) / c(dl)` over `dl ≥ 1`; infinite when `c` can reach 0.
    factor: f64,
}

impl Conversion {
    fn new(params: &Bm25Params, avgdl: Score, segment_avgdl: f64) -> Conversion {
        let (k1, b, avgdl) = (f64::from(params.k1), f64::from(params.b), f64::from(avgdl));
        let ours = |dl: f64| k1 * (1.0 - b + b * dl / avgdl);
        let theirs = |dl: f64| TANTIVY_K1 * (1.0 - TANTIVY_B + TANTIVY_B * dl / segment_avgdl);
        let at_one = theirs(1.0) / ours(1.0);
        let at_infinity = (TANTIVY_K1 * TANTIVY_B / segment_avgdl) / (k1 * b / avgdl);
        let factor = at_one.max(at_infinity);
        Conversion { factor: if factor.is_finite() { factor } else { f64::INFINITY } }
    }
}

/// An upper bound on our tf factor `tf / (tf + c(dl))` over a block, from the block's stored
/// maximum (`stored`, scored with a probe weight whose `max_score()` is `probe_max`).
fn block_bound(stored: Score, probe_max: Score, conversion: &Conversion) -> f64 {
    // The stored tf factor; dividing by the probe's maximum rather than its weight can only
    // make it larger, which keeps the bound safe.
    let theirs = f64::from(stored) / f64::from(probe_max);
    if theirs >= 1.0 || conversion.factor.is_infinite() {
        return 1.0;
    }
    let ratio = theirs / (1.0 - theirs) * conversion.factor;
    if ratio.is_finite() { ratio / (1.0 + ratio) } else { 1.0 }
}

#[cfg(test)]
mod tests;
