//! Evaluating a run against qrels: per-query values and their means.
//!
//! Which judged queries count is [`QueryScope`]'s to say.

use std::collections::{BTreeMap, HashSet};

use crate::{Error, Judgments, Metric, Qrels, Run};

/// Which judged queries are evaluated and averaged.
///
/// pytrec_eval returns values only for queries that are both in the run and in the qrels
/// (even when none of their judged documents is relevant: those score 0), and BEIR averages
/// over what it returns. A judged query the system did not answer is thus silently left out
/// of BEIR's mean, which flatters a system that fails on hard queries.
///
/// tamis counts it instead: with the default [`QueryScope::Judged`], every query of the
/// qrels is evaluated and averaged, one missing from the run scoring 0 on every metric.
/// When the run answers every judged query, as in the parity tests, this is exactly
/// pytrec_eval's and BEIR's mean. [`QueryScope::Answered`] gives BEIR's mean on any run, and
/// [`QueryScope::WithRelevant`] leaves out the queries with no relevant document, as TREC
/// practice does with topics that have none.
///
/// Queries of the run without judgments are never evaluated ([`Report::unjudged`] lists them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueryScope {
    /// Every query of the qrels; one the run does not answer scores 0.
    #[default]
    Judged,
    /// The queries of the qrels with at least one relevant document (grade above zero).
    WithRelevant,
    /// The queries of the qrels that the run answers: pytrec_eval's and BEIR's convention.
    Answered,
}

/// What to measure, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalConfig {
    /// The metrics, in the order reports list them.
    pub metrics: Vec<Metric>,
    /// Drop a retrieved document whose id equals the query id before evaluating, as BEIR does
    /// for ArguAna and Quora, where each query is also a document.
    ///
    /// Off by default: on datasets whose query and document ids are both small integers
    /// (Cranfield) it would drop real hits. BEIR's `evaluate` turns it on by default.
    pub ignore_identical_ids: bool,
    /// Which judged queries count.
    pub scope: QueryScope,
}

impl Default for EvalConfig {
    /// [`Metric::DEFAULTS`], identical ids kept, every judged query counted.
    fn default() -> Self {
        EvalConfig {
            metrics: Metric::DEFAULTS.to_vec(),
            ignore_identical_ids: false,
            scope: QueryScope::Judged,
        }
    }
}

/// The values of a set of metrics, for one query or averaged.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    values: Vec<(Metric, f64)>,
}

impl Metrics {
    /// The value of `metric`, if it was measured.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.values.iter().find(|(measured, _)| *measured == metric).map(|&(_, value)| value)
    }

    /// Every (metric, value), in the order of [`EvalConfig::metrics`].
    pub fn iter(&self) -> impl Iterator<Item = (Metric, f64)> + '_ {
        self.values.iter().copied()
    }
}

/// The result of [`Evaluator::evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The values of each evaluated query.
    pub per_query: BTreeMap<String, Metrics>,
    /// The mean of each metric over the evaluated queries (0 when there are none).
    pub mean: Metrics,
    /// How many queries were evaluated: the length of `per_query`.
    pub n_queries: usize,
    /// Judged queries the run does not answer, in qrels order (evaluated as scoring 0 unless
    /// the scope is [`QueryScope::Answered`]).
    pub unanswered: Vec<String>,
    /// Queries of the run that the qrels do not judge, in byte order (never evaluated).
    pub unjudged: Vec<String>,
}

/// Measures runs against one set of qrels.
#[derive(Debug, Clone)]
pub struct Evaluator<'q> {
    qrels: &'q Qrels,
    config: EvalConfig,
}

impl<'q> Evaluator<'q> {
    /// An evaluator of `config.metrics` (repeats removed) against `qrels`.
    ///
    /// # Errors
    /// [`Error::ZeroCutoff`] when a metric has cut-off 0.
    pub fn new(qrels: &'q Qrels, mut config: EvalConfig) -> crate::Result<Self> {
        if let Some(&metric) = config.metrics.iter().find(|metric| metric.cutoff() == 0) {
            return Err(Error::ZeroCutoff { metric });
        }
        let mut seen = HashSet::new();
        config.metrics.retain(|&metric| seen.insert(metric));
        Ok(Evaluator { qrels, config })
    }

    /// The configuration in use.
    pub fn config(&self) -> &EvalConfig {
        &self.config
    }

    /// Every metric for every query in scope, and their means.
    pub fn evaluate(&self, run: &Run) -> Report {
        let mut per_query = BTreeMap::new();
        let mut unanswered = Vec::new();
        for (query_id, judgments) in self.qrels.iter() {
            let answered = run.contains_query(query_id);
            if !answered {
                unanswered.push(query_id.to_owned());
            }
            let in_scope = match self.config.scope {
                QueryScope::Judged => true,
                QueryScope::WithRelevant => judgments.n_relevant() > 0,
                QueryScope::Answered => answered,
            };
            if in_scope {
                per_query
                    .insert(query_id.to_owned(), self.evaluate_query(query_id, judgments, run));
            }
        }
        let n_queries = per_query.len();
        let mean = Metrics {
            values: self
                .config
                .metrics
                .iter()
                .enumerate()
                .map(|(metric_idx, &metric)| {
                    let values =
                        per_query.values().map(|metrics: &Metrics| metrics.values[metric_idx].1);
                    (metric, crate::mean(values).unwrap_or(0.0))
                })
                .collect(),
        };
        let unjudged = run
            .query_ids()
            .filter(|query_id| self.qrels.get(query_id).is_none())
            .map(str::to_owned)
            .collect();
        Report { per_query, mean, n_queries, unanswered, unjudged }
    }

    /// Every metric for one judged query; an unanswered query scores 0.
    fn evaluate_query(&self, query_id: &str, judgments: &Judgments, run: &Run) -> Metrics {
        let ranking: Vec<&str> = run
            .ranked(query_id)
            .into_iter()
            .map(|(doc_id, _)| doc_id)
            .filter(|doc_id| !(self.config.ignore_identical_ids && *doc_id == query_id))
            .collect();
        let values = self
            .config
            .metrics
            .iter()
            .map(|&metric| (metric, metric.measure(&ranking, judgments)))
            .collect();
        Metrics { values }
    }
}

#[cfg(test)]
mod tests;
