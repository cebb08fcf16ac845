//! Dev evaluation during `tamis train`: the model so far, exported as users get it and
//! loaded by the inference runtime, reranks stage 1's top candidates of the dev queries;
//! the best model by nDCG@10 is kept, and is the one published at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tamis_engine::SearchMode;
use tamis_engine::fusion::Fusion;
use tamis_eval::{
    Dataset, EvalConfig, Experiment, Harness, Metric, NoProgress, RerankModel, RerankPlan,
};
use tamis_models::{CrossEncoder, CrossEncoderConfig, ModelDir, ModelOrigin, RuntimeConfig};
use tamis_train::checkpoint::sibling;

use crate::eval::DatasetIndex;

/// The dev queries and how they are run.
pub(super) struct DevSet {
    /// The dev split's judged queries (at most --dev-queries of them).
    pub dataset: Dataset,
    /// Stage-1 candidates the model reranks per query.
    pub candidates: usize,
    /// Steps between evaluations.
    pub every: u64,
    /// Where each evaluated model is exported (`OUTPUT.dev`).
    pub candidate_dir: PathBuf,
    /// Where the best one is kept (`OUTPUT.best`).
    pub best_dir: PathBuf,
}

impl DevSet {
    /// The split `split` of `dataset_dir`, cut to its first `limit` judged queries.
    pub fn load(
        dataset_dir: &Path,
        split: &str,
        limit: Option<usize>,
        candidates: usize,
        every: u64,
        output: &Path,
    ) -> anyhow::Result<DevSet> {
        let mut dataset = Dataset::load(dataset_dir, split)?;
        if let Some(limit) = limit {
            dataset.truncate(limit);
        }
        anyhow::ensure!(
            !dataset.queries.is_empty(),
            "qrels/{split}.tsv judges no query: nothing to evaluate on (--dev-split)"
        );
        Ok(DevSet {
            dataset,
            candidates,
            every,
            candidate_dir: sibling(output, "dev"),
            best_dir: sibling(output, "best"),
        })
    }

    /// nDCG@10 of stage 1 alone, of the model in `model_dir` reranking stage 1's top
    /// candidates, and of the two fused by RRF.
    pub fn evaluate(
        &self,
        model_dir: &Path,
        stage1: &DatasetIndex,
        threads: usize,
    ) -> anyhow::Result<DevScores> {
        let config = CrossEncoderConfig {
            runtime: RuntimeConfig { threads: Some(threads), ..Default::default() },
            ..Default::default()
        };
        let dir = ModelDir { path: model_dir.to_owned(), origin: ModelOrigin::Local };
        let model = CrossEncoder::load(&dir, &config)?;
        let name = model_dir.display().to_string();
        let rerankers = [RerankModel { name: &name, reranker: &model, late: None }];
        let experiment = Experiment {
            depth: self.candidates.max(10),
            rerank: RerankPlan {
                windows: vec![vec![self.candidates]],
                stage_fusion: Some(Fusion::rrf(2)),
                ..RerankPlan::default()
            },
            eval: EvalConfig::default(),
            bm25: stage1.bm25.clone(),
            ..Experiment::new(vec![SearchMode::Hybrid])
        };
        let harness = Harness {
            index: &stage1.index,
            dataset: &self.dataset,
            embedder: Some(&stage1.embedder),
            rerankers: &rerankers,
        };
        let evaluation = harness.run(&experiment, &mut NoProgress)?;
        // Rows: stage 1, reranked, fused (tamis_eval::harness documents the order).
        let ndcg = |row: usize| -> anyhow::Result<f64> {
            evaluation
                .rows
                .get(row)
                .and_then(|row| row.report.mean.get(Metric::Ndcg(10)))
                .ok_or_else(|| anyhow::anyhow!("the dev evaluation has no row {row}"))
        };
        Ok(DevScores { stage1: ndcg(0)?, alone: ndcg(1)?, fused: ndcg(2)? })
    }
}

/// Dev nDCG@10 of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct DevScores {
    /// Stage 1 (hybrid) alone.
    pub stage1: f64,
    /// The model reranking stage 1's top candidates.
    pub alone: f64,
    /// Stage 1 and the model fused by RRF.
    pub fused: f64,
}

/// One evaluation of the run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct DevPoint {
    /// The step evaluated.
    pub step: u64,
    /// What it scored.
    pub scores: DevScores,
    /// How long the evaluation took, export included.
    pub seconds: f64,
}

/// Every evaluation of the run so far: saved in checkpoints, so a resumed run keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct DevLog {
    /// The evaluations, in step order.
    pub history: Vec<DevPoint>,
    /// The step whose model is kept as the best.
    pub best_step: Option<u64>,
}

impl DevLog {
    /// The kept evaluation.
    pub fn best(&self) -> Option<&DevPoint> {
        let step = self.best_step?;
        self.history.iter().find(|point| point.step == step)
    }

    /// Records `point`; whether it beats the kept one (ties keep the earlier model).
    pub fn record(&mut self, point: DevPoint) -> bool {
        let better = self.best().is_none_or(|best| point.scores.alone > best.scores.alone);
        self.history.retain(|earlier| earlier.step != point.step);
        self.history.push(point);
        if better {
            self.best_step = Some(point.step);
        }
        better
    }

    /// Whether `step` was evaluated.
    pub fn has(&self, step: u64) -> bool {
        self.history.iter().any(|point| point.step == step)
    }

    /// What to keep free of the time budget for one more evaluation: the longest so far,
    /// else `estimate`.
    pub fn reserve(&self, estimate: Duration) -> Duration {
        self.history
            .iter()
            .map(|point| Duration::from_secs_f64(point.seconds))
            .max()
            .unwrap_or(estimate)
    }

    /// The model card's lines.
    pub fn card(&self, dev: &DevSet) -> String {
        let mut out = format!(
            "\n## Dev evaluation\n\nnDCG@10 on `{}` split `{}` ({} queries), reranking tamis' hybrid top {}; \
             the published model is the best step by the reranker alone.\n\n\
             | step | hybrid | reranker alone | fused (RRF) |\n|---:|---:|---:|---:|\n",
            dev.dataset.dir.display(),
            dev.dataset.split,
            dev.dataset.queries.len(),
            dev.candidates
        );
        for point in &self.history {
            let mark = if Some(point.step) == self.best_step { " (kept)" } else { "" };
            out.push_str(&format!(
                "| {}{mark} | {:.4} | {:.4} | {:.4} |\n",
                point.step, point.scores.stage1, point.scores.alone, point.scores.fused
            ));
        }
        out
    }
}

/// Exports the model being trained, evaluates it on the dev set and keeps it when it is
/// the best so far; returns the evaluation.
pub(super) fn checkpoint_model(
    dev: &DevSet,
    log: &mut DevLog,
    export: impl FnOnce(&Path) -> anyhow::Result<()>,
    stage1: &DatasetIndex,
    step: u64,
    threads: usize,
) -> anyhow::Result<DevPoint> {
    let started = Instant::now();
    export(&dev.candidate_dir)?;
    let scores = dev.evaluate(&dev.candidate_dir, stage1, threads)?;
    let point = DevPoint { step, scores, seconds: started.elapsed().as_secs_f64() };
    if log.record(point) {
        tamis_train::export::keep(&dev.candidate_dir, &dev.best_dir)?;
    } else {
        fs_err::remove_dir_all(&dev.candidate_dir)?;
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(step: u64, alone: f64) -> DevPoint {
        DevPoint { step, scores: DevScores { stage1: 0.3, alone, fused: 0.3 }, seconds: 1.0 }
    }

    #[test]
    fn the_best_is_the_highest_alone_and_ties_keep_the_earlier() {
        let mut log = DevLog::default();
        assert!(log.record(point(100, 0.20)));
        assert!(log.record(point(200, 0.25)));
        assert!(!log.record(point(300, 0.25)));
        assert!(!log.record(point(400, 0.10)));
        assert_eq!(log.best_step, Some(200));
        assert_eq!(log.history.len(), 4);
        // A resumed run evaluates a step again: it replaces the earlier record.
        assert!(log.record(point(400, 0.30)));
        assert_eq!((log.best_step, log.history.len()), (Some(400), 4));
    }
}
