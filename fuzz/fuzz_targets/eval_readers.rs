//! The readers of `tamis eval`: a BEIR dataset (`queries.jsonl`, `qrels/test.tsv`,
//! `corpus.jsonl`) and a TREC run file, then the evaluation of that run on those qrels.
//!
//! The input is the four files in that order — queries, qrels, run, corpus — separated by
//! lines `===` (missing parts are empty files).
//!
//! Invariants: no reader panics and every error is the user's; a run that reads back is
//! written and read again unchanged; every metric is a number from 0 to 1.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tamis_eval::{Dataset, ErrorKind, EvalConfig, Evaluator, QueryScope, Run};

const SEPARATOR: &[u8] = b"\n===\n";

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tamis_fuzz::scratch_dir("tamis-fuzz-eval");
        std::fs::create_dir(dir.path().join("qrels")).expect("creating qrels/");
        dir
    })
}

fn parts(data: &[u8]) -> [&[u8]; 4] {
    let mut parts = [&data[..0]; 4];
    let mut rest = data;
    for part in parts.iter_mut() {
        match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => {
                *part = &rest[..at];
                rest = &rest[at + SEPARATOR.len()..];
            }
            None => {
                *part = rest;
                rest = &rest[rest.len()..];
            }
        }
    }
    parts
}

#[track_caller]
fn users_fault(err: &tamis_eval::Error) {
    assert_eq!(err.kind(), ErrorKind::User, "{err}");
}

fuzz_target!(|data: &[u8]| {
    let [queries, qrels, run, corpus] = parts(data);
    let dir = scratch().path();
    std::fs::write(dir.join("queries.jsonl"), queries).expect("writing queries.jsonl");
    std::fs::write(dir.join("qrels/test.tsv"), qrels).expect("writing qrels/test.tsv");
    std::fs::write(dir.join("run.trec"), run).expect("writing run.trec");
    std::fs::write(dir.join("corpus.jsonl"), corpus).expect("writing corpus.jsonl");

    let dataset = Dataset::load(dir, "test");
    if let Err(err) = &dataset {
        users_fault(err);
    }
    let run = Run::read_trec(&dir.join("run.trec"));
    if let Err(err) = &run {
        users_fault(err);
    }
    if let Ok(run) = &run {
        let again = dir.join("again.trec");
        run.write_trec(&again, "fuzz").expect("a run that was read can be written");
        let reread = Run::read_trec(&again).expect("a written run reads back");
        for query_id in run.query_ids() {
            assert_eq!(run.ranked(query_id), reread.ranked(query_id), "query {query_id:?}");
        }
        assert_eq!(run.len(), reread.len());
    }
    if let (Ok(dataset), Ok(run)) = (&dataset, &run) {
        for scope in [QueryScope::Judged, QueryScope::WithRelevant, QueryScope::Answered] {
            let config = EvalConfig { scope, ignore_identical_ids: true, ..EvalConfig::default() };
            let evaluator = Evaluator::new(&dataset.qrels, config).expect("default metrics");
            let report = evaluator.evaluate(run);
            for (metric, value) in report
                .mean
                .iter()
                .chain(report.per_query.values().flat_map(|metrics| metrics.iter()))
            {
                assert!((0.0..=1.0 + 1e-9).contains(&value), "{metric:?} = {value}");
            }
        }
    }
    if let Ok(documents) = tamis_eval::corpus_docs(dir) {
        for document in documents {
            if let Err(err) = document {
                assert_eq!(err.kind(), tamis_engine::ErrorKind::User, "{err}");
                break;
            }
        }
    }
});
