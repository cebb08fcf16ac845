//! The measures: nDCG@k, Recall@k, P@k, MRR@k and MAP@k, with trec_eval's definitions.
//!
//! See [`Metric`] for the definitions.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Judgments};

/// One measure with its cut-off `k` (counted from 1).
///
/// [`Metric::measure`] takes one query's ranking, already in trec_eval's order
/// (see [`crate::trec_order`]), and its judgments. A document is relevant when its grade is above zero.
///
/// | metric | pytrec_eval | value |
/// |---|---|---|
/// | [`Metric::Ndcg`] | `ndcg_cut_k` | DCG@k / ideal DCG@k; gain = grade, discount = log2(rank + 1); the ideal ranking is every relevant document, highest grade first; 0 when nothing is relevant |
/// | [`Metric::Recall`] | `recall_k` | relevant documents in the top k / relevant documents; 0 when nothing is relevant |
/// | [`Metric::Precision`] | `P_k` | relevant documents in the top k / k, even when fewer than k were retrieved |
/// | [`Metric::Mrr`] | `recip_rank` | 1 / rank of the first relevant document within the top k, else 0 |
/// | [`Metric::Map`] | `map_cut_k` | the sum of the precision at the rank of each relevant document within the top k / relevant documents; 0 when nothing is relevant |
///
/// trec_eval's `recip_rank` has no cut-off: MRR@10 is `recip_rank` measured on the run cut
/// at 10, as MS MARCO defines MRR@10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// nDCG@k with graded gains (`ndcg_cut_k`).
    Ndcg(usize),
    /// Recall@k (`recall_k`).
    Recall(usize),
    /// Precision@k (`P_k`).
    Precision(usize),
    /// MRR@k: the reciprocal rank of the first relevant document within the top k.
    Mrr(usize),
    /// MAP@k (`map_cut_k`).
    Map(usize),
}

impl Metric {
    /// nDCG@10, Recall@100, P@5, MRR@10 and MAP@100: what `tamis eval` reports by default.
    pub const DEFAULTS: [Metric; 5] = [
        Metric::Ndcg(10),
        Metric::Recall(100),
        Metric::Precision(5),
        Metric::Mrr(10),
        Metric::Map(100),
    ];

    /// The cut-off k.
    pub fn cutoff(self) -> usize {
        match self {
            Metric::Ndcg(k)
            | Metric::Recall(k)
            | Metric::Precision(k)
            | Metric::Mrr(k)
            | Metric::Map(k) => k,
        }
    }

    /// The name pytrec_eval gives the measure in its results: `ndcg_cut_10`, `recall_100`,
    /// `P_5`, `map_cut_100`.
    ///
    /// MRR@k of any k is `recip_rank`, the trec_eval measure computed on the run cut at k.
    pub fn trec_name(self) -> String {
        match self {
            Metric::Ndcg(k) => format!("ndcg_cut_{k}"),
            Metric::Recall(k) => format!("recall_{k}"),
            Metric::Precision(k) => format!("P_{k}"),
            Metric::Mrr(_) => "recip_rank".to_owned(),
            Metric::Map(k) => format!("map_cut_{k}"),
        }
    }

    /// The label reports use: `nDCG@10`, `Recall@100`, `P@5`, `MRR@10`, `MAP@100` (also what
    /// [`fmt::Display`] writes).
    pub fn label(self) -> String {
        self.to_string()
    }

    /// The value of the measure for one query: `ranking` holds its document ids in
    /// [`crate::trec_order`], `judgments` its qrels.
    pub fn measure(self, ranking: &[&str], judgments: &Judgments) -> f64 {
        let top = &ranking[..ranking.len().min(self.cutoff())];
        match self {
            Metric::Ndcg(k) => ndcg(top, judgments, k),
            Metric::Recall(_) => ratio(count_relevant(top, judgments), judgments.n_relevant()),
            Metric::Precision(k) => ratio(count_relevant(top, judgments), k),
            Metric::Mrr(_) => top
                .iter()
                .position(|doc_id| judgments.is_relevant(doc_id))
                .map_or(0.0, |rank_idx| 1.0 / (rank_idx + 1) as f64),
            Metric::Map(_) => average_precision(top, judgments),
        }
    }
}

/// `numerator / denominator`, or 0 when the denominator is 0.
fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

fn count_relevant(top: &[&str], judgments: &Judgments) -> usize {
    top.iter().filter(|doc_id| judgments.is_relevant(doc_id)).count()
}

/// The discount of the document at 0-based `rank_idx`: log2 of its 1-based rank plus one.
fn discount(rank_idx: usize) -> f64 {
    (rank_idx as f64 + 2.0).log2()
}

fn ndcg(top: &[&str], judgments: &Judgments, k: usize) -> f64 {
    let dcg: f64 = top
        .iter()
        .enumerate()
        .map(|(rank_idx, doc_id)| judgments.gain(doc_id) as f64 / discount(rank_idx))
        .sum();
    let ideal_dcg: f64 = judgments
        .ideal_gains()
        .into_iter()
        .take(k)
        .enumerate()
        .map(|(rank_idx, gain)| gain as f64 / discount(rank_idx))
        .sum();
    if ideal_dcg > 0.0 { dcg / ideal_dcg } else { 0.0 }
}

fn average_precision(top: &[&str], judgments: &Judgments) -> f64 {
    let mut n_found = 0usize;
    let mut sum = 0.0;
    for (rank_idx, doc_id) in top.iter().enumerate() {
        if judgments.is_relevant(doc_id) {
            n_found += 1;
            sum += n_found as f64 / (rank_idx + 1) as f64;
        }
    }
    if judgments.n_relevant() == 0 { 0.0 } else { sum / judgments.n_relevant() as f64 }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (family, k) = match *self {
            Metric::Ndcg(k) => ("nDCG", k),
            Metric::Recall(k) => ("Recall", k),
            Metric::Precision(k) => ("P", k),
            Metric::Mrr(k) => ("MRR", k),
            Metric::Map(k) => ("MAP", k),
        };
        write!(f, "{family}@{k}")
    }
}

impl FromStr for Metric {
    type Err = Error;

    /// Parses a label, case-insensitively (`ndcg@10`, `recall@100`, `p@5` or `precision@5`,
    /// `mrr@10`, `map@100`), or a pytrec_eval name (`ndcg_cut_10` or `ndcg_cut.10`, `recall_100`,
    /// `P_5`, `map_cut_100`, and `recip_rank`, which means MRR@10).
    fn from_str(spec: &str) -> crate::Result<Metric> {
        let unknown = || Error::UnknownMetric { spec: spec.to_owned() };
        let lower = spec.trim().to_ascii_lowercase();
        if lower == "recip_rank" {
            return Ok(Metric::Mrr(10));
        }
        let (family, k) = match lower.split_once('@') {
            Some(label) => label,
            None => ["ndcg_cut", "recall", "p", "map_cut"]
                .iter()
                .find_map(|family| {
                    let rest = lower.strip_prefix(family)?;
                    Some((*family, rest.strip_prefix('_').or_else(|| rest.strip_prefix('.'))?))
                })
                .ok_or_else(unknown)?,
        };
        let k: usize = k.parse().map_err(|_| unknown())?;
        let metric = match family {
            "ndcg" | "ndcg_cut" => Metric::Ndcg(k),
            "recall" => Metric::Recall(k),
            "p" | "precision" => Metric::Precision(k),
            "mrr" => Metric::Mrr(k),
            "map" | "map_cut" => Metric::Map(k),
            _ => return Err(unknown()),
        };
        if k == 0 {
            return Err(Error::ZeroCutoff { metric });
        }
        Ok(metric)
    }
}

#[cfg(test)]
mod tests;
