//! `tamis eval`: stage-1 quality through the whole engine, against the reference numbers
//! of `shared/datasets/README.md` (sentence-transformers for dense, bm25s for BM25).

use crate::{INPUT, NOT_FOUND, assert_fails_with, tamis};

/// Runs `tamis eval --json` and returns its report.
fn eval(args: &[&str]) -> (serde_json::Value, String) {
    let output = tamis(&[&["eval", "--json"], args].concat(), "", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (serde_json::from_slice(&output.stdout).unwrap(), stderr)
}

fn metric(report: &serde_json::Value, mode: &str, label: &str) -> f64 {
    let row = report["results"].as_array().unwrap().iter().find(|r| r["mode"] == mode).unwrap();
    row["metrics"][label].as_f64().unwrap_or_else(|| panic!("{mode} {label} in {row}"))
}

/// Cranfield end to end with the real all-MiniLM-L6-v2: one chunk per document cut at
/// 256 tokens, exact search, so dense must reproduce sentence-transformers.
#[test]
fn cranfield_stage_one_matches_the_references() {
    let cache = tempfile::tempdir().unwrap();
    let dataset = tamis_testkit::shared_dataset("cranfield");
    let model = tamis_testkit::shared_model("all-MiniLM-L6-v2");
    let run_file = cache.path().join("run.txt");
    let args = [
        "--dataset",
        dataset.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--chunking",
        "whole",
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ];
    let (report, stderr) = eval(&args);
    assert!(stderr.contains("1400 embedded now"), "{stderr}");
    assert_eq!(report["results"][0]["queries"], 225);
    // sentence-transformers, exact top 100 (README): nDCG@10 0.3817, Recall@100 0.7724,
    // MRR@10 0.5380, P@5 0.3182.
    for (label, reference) in
        [("nDCG@10", 0.3817), ("Recall@100", 0.7724), ("MRR@10", 0.5380), ("P@5", 0.3182)]
    {
        let got = metric(&report, "dense", label);
        assert!((got - reference).abs() <= 0.002, "dense {label} {got:.4} vs {reference}");
    }
    // bm25s (k1 0.9, b 0.4, title + text in one field): tantivy's multifield BM25 lands
    // above it; no more than 0.01 below is the README's bar.
    assert!(metric(&report, "bm25", "nDCG@10") >= 0.3517 - 0.01);
    assert!(metric(&report, "bm25", "Recall@100") >= 0.7258 - 0.01);
    // Hybrid recalls at least what the better retriever does, and ranks above both.
    let hybrid_recall = metric(&report, "hybrid", "Recall@100");
    for mode in ["bm25", "dense"] {
        assert!(hybrid_recall >= metric(&report, mode, "Recall@100"), "hybrid vs {mode}");
        assert!(metric(&report, "hybrid", "nDCG@10") > metric(&report, mode, "nDCG@10"));
    }

    // A second run reuses the cached index and writes a run file trec_eval can read.
    let (again, stderr) = eval(
        &[&args[..], &["--mode", "dense", "--run-output", run_file.to_str().unwrap()]].concat(),
    );
    assert!(stderr.contains("0 embedded now"), "{stderr}");
    assert_eq!(metric(&again, "dense", "nDCG@10"), metric(&report, "dense", "nDCG@10"));
    let run = tamis_eval::Run::read_trec(&run_file).unwrap();
    assert_eq!(run.len(), 225);
    assert!(run.query_ids().all(|q| run.ranked(q).len() == 100));

    // A BM25 sweep reuses the index too (the parameters apply at query time): one row per
    // combination, the defaults' row equal to the first run's.
    let bm25_row = |report: &serde_json::Value| report["results"][0].clone();
    let defaults = bm25_row(&report)["bm25"].clone();
    let (k1, b) = (defaults["k1"].as_f64().unwrap(), defaults["b"].as_f64().unwrap());
    let title = defaults["title_weight"].as_f64().unwrap();
    let (sweep, stderr) = eval(
        &[
            &args[..],
            &["--mode", "bm25", "--bm25-k1", &format!("0.5,{k1}"), "--bm25-b", &format!("{b},1")],
            &["--title-weight", &title.to_string()],
        ]
        .concat(),
    );
    assert!(stderr.contains("0 embedded now"), "{stderr}");
    let rows = sweep["results"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let ndcg = |row: &serde_json::Value| row["metrics"]["nDCG@10"].as_f64().unwrap();
    let same = rows.iter().find(|row| row["bm25"] == defaults).unwrap();
    assert_eq!(ndcg(same), metric(&report, "bm25", "nDCG@10"));
    assert!(same["row"].as_str().unwrap().starts_with(&format!("bm25 [k1 {k1} b {b} title")));
    let distinct: std::collections::HashSet<u64> = rows.iter().map(|r| ndcg(r).to_bits()).collect();
    assert_eq!(distinct.len(), 4, "every parameter set ranks differently");
}

#[test]
fn eval_misuse_fails_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    let dataset = tamis_testkit::shared_dataset("cranfield");
    let dataset = dataset.to_str().unwrap();
    let output = tamis(&["eval", "--dataset", dataset, "--split", "dev"], "", &[]);
    assert_fails_with(&output, NOT_FOUND, "dev");
    let output = tamis(&["eval", "--dataset", dataset], "", &[]);
    assert_fails_with(&output, INPUT, "needs --model");
    let output = tamis(&["eval", "--dataset", work.path().to_str().unwrap()], "", &[]);
    assert_fails_with(&output, NOT_FOUND, work.path().to_str().unwrap());
    let model = tamis_testkit::shared_model("all-MiniLM-L6-v2");
    for (flags, message) in [
        (["--bm25-b", "0.4,1.5"], "BM25 b = 1.5 is invalid"),
        (["--bm25-k1", "-1"], "BM25 k1 = -1 is invalid"),
        (["--title-weight", "0"], "BM25 title_weight = 0 is invalid"),
    ] {
        let output = tamis(
            &[
                &["eval", "--dataset", dataset, "--model", model.to_str().unwrap()][..],
                &["--chunking", "whole", "--cache-dir", work.path().to_str().unwrap()],
                &flags,
            ]
            .concat(),
            "",
            &[],
        );
        assert_fails_with(&output, INPUT, message);
    }
}
