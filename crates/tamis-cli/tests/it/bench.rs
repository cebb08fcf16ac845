//! `tamis bench`: the report is computed from the run, and the stdio protocol the
//! peer harness relies on answers every line with the model's real logits.

use crate::{INPUT, USAGE, assert_fails_with, json_lines, model_fixture, tamis, tamis_ok};

fn workload() -> String {
    let lines = [
        r#"{"query_id": "1", "query": "what is a tamis", "passages": ["a drum sieve", "a river in the north of France", "fine"]}"#,
        r#"{"query_id": "2", "query": "sieve", "passages": ["a tamis is a fine sieve used after the coarse one"]}"#,
    ];
    lines.join("\n") + "\n"
}

#[test]
fn rerank_stdio_answers_each_line_with_the_models_logits() {
    let model = model_fixture("bert-ce-1label");
    let bad = r#"{"query": "no passages field"}"#;
    let input = format!("{}{bad}\n", workload());
    let output = tamis(&["bench", "rerank", "--model", &model, "--stdio"], &input, &[]);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 4, "a ready line, then one answer per input line");
    assert_eq!(lines[0]["ready"], true);
    assert!(lines[3]["error"].as_str().unwrap().contains("passages"), "{}", lines[3]);

    // The logits are the ones `tamis rerank --raw` gives for the same pairs.
    let rerank_input = r#"{"query": "what is a tamis", "documents": ["a drum sieve", "a river in the north of France", "fine"]}"#;
    let ranked = json_lines(&tamis(&["rerank", "--model", &model, "--raw"], rerank_input, &[]));
    let logits = lines[1]["logits"].as_array().unwrap();
    assert_eq!(logits.len(), 3);
    for result in ranked[0]["results"].as_array().unwrap() {
        let index = result["index"].as_u64().unwrap() as usize;
        let want = result["score"].as_f64().unwrap();
        assert!((logits[index].as_f64().unwrap() - want).abs() < 1e-6, "{index}");
    }
    assert_eq!(lines[2]["logits"].as_array().unwrap().len(), 1);
}

#[test]
fn rerank_workload_report_counts_what_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.jsonl");
    fs_err::write(&path, workload()).unwrap();
    let model = model_fixture("bert-ce-1label");
    let args = ["bench", "rerank", "--model", &model, "--workload", path.to_str().unwrap()];
    let output = tamis_ok(&[&args[..], &["--rounds", "2", "--json"]].concat());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["calls"], 4);
    assert_eq!(report["items"], 8, "4 pairs per round, 2 rounds");
    assert!(report["items_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["p95_ms"].as_f64().unwrap() >= report["p50_ms"].as_f64().unwrap());
    assert_eq!(report["encoder"], "native (packed)");
    // The default, auto: bf16x3 where the CPU has AMX, else fp32; either
    // is held against the FMA peak.
    let auto = tamis_models::Precision::Auto.resolve_encoder(tamis_models::EncoderKind::Native);
    assert_eq!((&report["precision"], &report["peak"]), (&auto.name().into(), &"fma".into()));
    let output =
        tamis_ok(&[&args[..], &["--precision", "fp32", "--limit", "1", "--json"]].concat());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((&report["precision"], &report["peak"]), (&"fp32".into(), &"fma".into()));
    let output = tamis_ok(&[&args[..], &["--precision", "int8", "--json"]].concat());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((&report["precision"], &report["peak"]), (&"int8".into(), &"int8".into()));
    assert_eq!(report["items"], 4);

    // `--backend` is the flag's old name, kept hidden for older scripts.
    for flag in ["--encoder", "--backend"] {
        let output = tamis(&[&args[..], &["--limit", "1", flag, "candle"]].concat(), "", &[]);
        assert!(output.status.success(), "{flag}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("tamis candle ") && stdout.contains("3 pairs"), "{stdout}");
    }
    let help = tamis_ok(&["bench", "rerank", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--encoder <ENCODER>") && !help.contains("--backend"), "{help}");
}

#[test]
fn embed_stdio_returns_normalized_vectors() {
    let model = model_fixture("bert-embed-cls");
    let input = "{\"texts\": [\"a tamis\", \"a fine sieve used after the coarse one\"]}\n";
    let lines = json_lines(&tamis(&["bench", "embed", "--model", &model, "--stdio"], input, &[]));
    let vectors = lines[1]["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
}

#[test]
fn gemm_reports_every_dense_layer() {
    let output = tamis_ok(&["bench", "gemm", "--rows", "64", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let layers = report["gemm"].as_array().unwrap();
    assert_eq!(layers.len(), 4);
    assert!(layers.iter().all(|l| l["gflops"].as_f64().unwrap() > 0.0));
    // bf16 and bf16x3 are timed together, where the CPU runs bf16 products.
    for layer in layers {
        let bf16 = layer["bf16_seconds"].as_f64();
        assert_eq!(bf16.is_some(), layer["bf16x3_seconds"].as_f64().is_some(), "{layer}");
        assert!(layer["bf16x3_speedup"].as_f64().is_none_or(|s| s > 0.0), "{layer}");
    }
}

#[test]
fn a_bad_workload_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.jsonl");
    fs_err::write(&path, "{\"query\": \"q\", \"passages\": []}\n").unwrap();
    let model = model_fixture("bert-ce-1label");
    let output = tamis(
        &["bench", "rerank", "--model", &model, "--workload", path.to_str().unwrap()],
        "",
        &[],
    );
    assert_fails_with(&output, INPUT, "has no passages");
    let output = tamis(&["bench", "rerank", "--model", &model], "", &[]);
    assert_eq!(output.status.code(), Some(USAGE), "--workload or --stdio is required");
}

#[test]
fn ingest_report_times_both_sides_on_the_same_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let lines: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"_id": "d{i}", "title": "t{i}", "text": "document {i} on sieves"}}"#))
        .collect();
    fs_err::write(&corpus, lines.join("\n")).unwrap();
    let model = model_fixture("bert-embed-cls");
    let corpus = corpus.to_str().unwrap();
    let args = ["bench", "ingest", "--model", &model, "--input", corpus, "--batch-docs", "4"];
    let output = tamis_ok(&[&args[..], &["--rounds", "2", "--json"]].concat());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["documents"], 10);
    assert_eq!(report["batch_docs"], 4);
    // Short documents stay whole: one chunk each, embedded by both sides.
    assert_eq!(report["chunks"], 10);
    assert_eq!(report["embed_seconds"].as_array().unwrap().len(), 2);
    assert_eq!(report["ingest_seconds"].as_array().unwrap().len(), 2);
    let (embed, ingest) = (
        report["embed_documents_per_second"].as_f64().unwrap(),
        report["ingest_documents_per_second"].as_f64().unwrap(),
    );
    assert!((report["ratio"].as_f64().unwrap() - ingest / embed).abs() < 1e-9);
    assert!(!report["cpu"].as_str().unwrap().is_empty());
    let limited = tamis_ok(&[&args[..], &["--rounds", "1", "--limit", "3", "--json"]].concat());
    let limited: serde_json::Value = serde_json::from_slice(&limited.stdout).unwrap();
    assert_eq!(limited["documents"], 3);

    fs_err::write(dir.path().join("corpus.jsonl"), "{\"_id\": \"d1\"}\n").unwrap();
    assert_fails_with(&tamis(&args, "", &[]), INPUT, "line 1 of");
}

#[test]
fn train_report_times_the_steps_it_was_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let groups = dir.path().join("groups.jsonl");
    let lines = [
        r#"{"query": "vitamin d bones", "documents": ["vitamin d and bone density", "coffee", "sleep", "rivers"]}"#,
        r#"{"query": "statins", "documents": ["statins lower cholesterol", "sugar", "sieves", "trains"]}"#,
        r#"{"query": "sleep", "documents": ["sleep and memory", "tea", "the sea", "a drum sieve"]}"#,
    ];
    fs_err::write(&groups, lines.join("\n") + "\n").unwrap();
    let base = model_fixture("bert-embed-cls");
    let path = groups.to_str().unwrap();
    let args = ["bench", "train", "--base", &base, "--groups", path, "--max-length", "32"];
    let steps = ["--steps", "4", "--warmup-steps", "1", "--batch-size", "2", "--json"];
    let output = tamis_ok(&[&args[..], &steps].concat());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["engine"], "tamis");
    assert_eq!(report["steps"], 4);
    assert_eq!((report["batch_size"].clone(), report["group_size"].clone()), (2.into(), 4.into()));
    let (seconds, rate) =
        (report["seconds"].as_f64().unwrap(), report["steps_per_s"].as_f64().unwrap());
    assert!(seconds > 0.0 && (rate * seconds - 4.0).abs() < 1e-6, "{report}");
    let pairs = report["pairs_per_s"].as_f64().unwrap();
    assert!((pairs - rate * 8.0).abs() < 1e-6 * pairs, "{report}");

    // Groups of unequal size, and an empty file, are refused with the file named.
    fs_err::write(
        &groups,
        format!("{}\n{}\n", lines[0], r#"{"query": "q", "documents": ["a", "b"]}"#),
    )
    .unwrap();
    assert_fails_with(&tamis(&args, "", &[]), INPUT, "line 2: 2 document(s)");
    fs_err::write(&groups, "").unwrap();
    assert_fails_with(&tamis(&args, "", &[]), INPUT, "holds no group");
}
