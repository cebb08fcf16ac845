//! Printing an evaluation: a table for people, JSON for scripts.

use std::path::PathBuf;

use serde_json::json;
use tamis_eval::{Evaluation, short_name};

use super::{EvalArgs, ms};

/// What the report says about the whole run.
pub(super) struct Summary<'a> {
    pub args: &'a EvalArgs,
    pub n_docs: u64,
    pub n_chunks: u64,
    pub evaluation: &'a Evaluation,
    /// Where --run-output wrote each row's run.
    pub run_files: &'a [Option<PathBuf>],
}

impl Summary<'_> {
    pub fn print_json(&self) {
        let results: Vec<serde_json::Value> = self
            .evaluation
            .rows
            .iter()
            .zip(self.run_files)
            .map(|(row, run_file)| {
                let report = &row.report;
                let values: serde_json::Map<String, serde_json::Value> =
                    report.mean.iter().map(|(m, v)| (m.label(), json!(v))).collect();
                // Per query too, so that another evaluator can be compared query by query
                // (scripts/eval/check_run.py does it with pytrec_eval).
                let per_query: serde_json::Map<String, serde_json::Value> = report
                    .per_query
                    .iter()
                    .map(|(qid, metrics)| {
                        let values: serde_json::Map<String, serde_json::Value> =
                            metrics.iter().map(|(m, v)| (m.label(), json!(v))).collect();
                        (qid.clone(), values.into())
                    })
                    .collect();
                let latency: serde_json::Map<String, serde_json::Value> = row
                    .stages
                    .iter()
                    .map(|s| {
                        let l = &s.latency;
                        let summary =
                            json!({"p50": ms(l.p50), "p95": ms(l.p95), "mean": ms(l.mean)});
                        (s.name.clone(), summary)
                    })
                    .collect();
                let pairs: serde_json::Map<String, serde_json::Value> = row
                    .stages
                    .iter()
                    .skip(1)
                    .map(|s| (s.name.clone(), json!(s.pairs_per_query)))
                    .collect();
                json!({
                    "row": row.label,
                    "mode": row.label.split(' ').next(),
                    "bm25": row.bm25,
                    "queries": report.n_queries,
                    "metrics": values,
                    "latency_ms": latency,
                    "pairs_per_query": pairs,
                    "scores_from_cache": row.cached,
                    "run_file": run_file.as_ref().map(|p| p.display().to_string()),
                    "per_query": per_query,
                })
            })
            .collect();
        let output = json!({
            "dataset": self.args.dataset.display().to_string(),
            "split": self.args.split,
            "documents": self.n_docs,
            "chunks": self.n_chunks,
            "results": results,
        });
        println!("{output}");
    }

    pub fn print_table(&self) {
        let rows = &self.evaluation.rows;
        let n_queries = rows.first().map_or(0, |row| row.report.n_queries);
        println!(
            "{} ({} split, {n_queries} queries, {} documents, {} chunks)",
            self.args.dataset.display(),
            self.args.split,
            self.n_docs,
            self.n_chunks
        );
        let width = rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(4).max(4);
        let mut header = format!("{:<width$}", "run");
        for metric in &self.evaluation.metrics {
            header.push_str(&format!(" {:>10}", metric.label()));
        }
        println!("{header}  per-stage p50 / p95 ms");
        for row in rows {
            let mut line = format!("{:<width$}", row.label);
            for (_, value) in row.report.mean.iter() {
                line.push_str(&format!(" {value:>10.4}"));
            }
            let stages: Vec<String> = row
                .stages
                .iter()
                .enumerate()
                .map(|(stage_idx, s)| {
                    let (name, l, pairs) = (short_name(&s.name), &s.latency, s.pairs_per_query);
                    match (stage_idx, row.cached) {
                        (0, _) => format!("{name} {:.1}/{:.1}", ms(l.p50), ms(l.p95)),
                        (_, true) => format!("{name} cached ({pairs:.1} pairs)"),
                        (_, false) => {
                            format!("{name} {:.1}/{:.1} ({pairs:.1} pairs)", ms(l.p50), ms(l.p95))
                        }
                    }
                })
                .collect();
            println!("{line}  {}", stages.join(", "));
        }
    }
}
