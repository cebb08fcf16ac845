//! `tamis search --rerank` and `tamis eval --rerank` end to end with tiny real models
//! (the parity fixtures), so every test runs in seconds.

use std::path::{Path, PathBuf};

use crate::{INPUT, USAGE, assert_fails_with, model_fixture, tamis, tamis_ok};

const TOPICS: [&str; 4] =
    ["vitamin d bone", "statins cholesterol heart", "soy breast cancer", "sleep melatonin"];

/// A BEIR-layout dataset: 16 documents over four topics, one query per topic judging the
/// topic's documents relevant.
fn dataset(dir: &Path) -> PathBuf {
    let root = dir.join("tiny-beir");
    fs_err::create_dir_all(root.join("qrels")).unwrap();
    let mut corpus = String::new();
    let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
    for doc_idx in 0..16 {
        let topic = doc_idx % 4;
        let text = format!("{} study number {doc_idx} with details", TOPICS[topic]);
        corpus.push_str(
            &serde_json::json!({"_id": format!("d{doc_idx}"), "title": "", "text": text})
                .to_string(),
        );
        corpus.push('\n');
        qrels.push_str(&format!("q{topic}\td{doc_idx}\t{}\n", 1 + doc_idx % 2));
    }
    let queries: String = TOPICS
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"_id": format!("q{i}"), "text": t}).to_string() + "\n")
        .collect();
    fs_err::write(root.join("corpus.jsonl"), corpus).unwrap();
    fs_err::write(root.join("queries.jsonl"), queries).unwrap();
    fs_err::write(root.join("qrels/test.tsv"), qrels).unwrap();
    root
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&tamis_ok(args).stdout).unwrap()
}

fn index(work: &Path) -> PathBuf {
    let data = dataset(work);
    let index = work.join("index");
    let corpus = data.join("corpus.jsonl");
    tamis_ok(&[
        "index",
        index.to_str().unwrap(),
        "-i",
        corpus.to_str().unwrap(),
        "-m",
        &model_fixture("bert-embed-cls"),
    ]);
    index
}

#[test]
fn an_llm_reranker_is_the_last_stage_of_a_cascade() {
    let work = tempfile::tempdir().unwrap();
    let index = index(work.path());
    let dir = index.to_str().unwrap();
    let (ce, llm) = (model_fixture("bert-ce-1label"), model_fixture("llm/qwen3-reranker-tied"));
    let search = |extra: &[&str]| {
        let base =
            ["search", dir, "statins cholesterol study", "--json", "--mode", "bm25", "-k", "3"];
        let stages = ["--rerank", &ce, "--rerank", &llm, "--rerank-candidates", "8,4"];
        json(&[&base[..], &stages[..], &["--reranker-kind", "qwen3"], extra].concat())
    };
    let cascade = search(&[]);
    let results = cascade["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for (i, hit) in results.iter().enumerate() {
        // The cross-encoder's top 4 went on to the LLM, whose order is final.
        assert!(hit["reranks"][0]["rank"].as_u64().unwrap() <= 4, "{hit}");
        assert_eq!(hit["reranks"][1]["rank"], i + 1, "{hit}");
    }
    assert!(cascade["timings_ms"][&llm].is_number(), "{cascade}");
    // The instruction is part of the LLM's prompt, so it changes its scores.
    let instructed = search(&["--instruction", "Find studies of side effects"]);
    let score = |r: &serde_json::Value| r["results"][0]["reranks"][1]["score"].as_f64().unwrap();
    assert!((score(&cascade) - score(&instructed)).abs() > 1e-6, "{cascade} {instructed}");
}

#[test]
fn search_with_a_reranker_reports_both_stages() {
    let work = tempfile::tempdir().unwrap();
    let index = index(work.path());
    let dir = index.to_str().unwrap();
    let ce = model_fixture("bert-ce-1label");
    let base = ["search", dir, "statins cholesterol study", "--json", "--mode", "bm25", "-k", "5"];
    let reranked = json(&[&base[..], &["--rerank", &ce, "--rerank-candidates", "8"]].concat());
    let results = reranked["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for (i, hit) in results.iter().enumerate() {
        assert_eq!(hit["reranks"][0]["rank"], i + 1, "{hit}");
        assert!(hit["stage1"]["rank"].as_u64().unwrap() <= 8, "{hit}");
        assert_eq!(hit["score_kind"]["by"], "reranker");
    }
    assert!(reranked["timings_ms"]["stage1"].is_number());
    assert!(reranked["timings_ms"][&ce].is_number());
    assert_eq!(reranked["deadline_exceeded"], false);

    // A long document kept whole: the 64-token cross-encoder cuts the pair, and says by
    // how much.
    let long = work.path().join("long.jsonl");
    let long_text = format!("statins cholesterol {}", "word ".repeat(200));
    fs_err::write(
        &long,
        serde_json::json!({"id": "long", "text": long_text}).to_string()
            + "\n"
            + &serde_json::json!({"id": "short", "text": "statins"}).to_string(),
    )
    .unwrap();
    let whole = work.path().join("whole");
    tamis_ok(&[
        "index",
        whole.to_str().unwrap(),
        "-i",
        long.to_str().unwrap(),
        "-m",
        &model_fixture("bert-embed-cls"),
        "--chunking",
        "whole",
    ]);
    let cut = json(&[
        "search",
        whole.to_str().unwrap(),
        "statins",
        "--json",
        "--mode",
        "bm25",
        "--rerank",
        &ce,
    ]);
    let dropped = |id: &str| {
        let hits = cut["results"].as_array().unwrap();
        hits.iter().find(|r| r["id"] == id).unwrap()["dropped_tokens"].as_u64().unwrap()
    };
    assert!(dropped("long") > 100, "{cut}");
    assert_eq!(dropped("short"), 0);

    // A zero deadline scores nothing: stage-1 order, flagged.
    let stage1 = json(&base);
    let late = json(&[&base[..], &["--rerank", &ce, "--deadline-ms", "0"]].concat());
    assert_eq!(late["deadline_exceeded"], true);
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&late), ids(&stage1));

    // Fused with stage 1 only (reranker weight 0): stage-1 order again, labelled fused.
    let fused = json(
        &[&base[..], &["--rerank", &ce, "--fuse-stages", "rrf", "--stage-weights", "1,0"]].concat(),
    );
    assert_eq!(ids(&fused), ids(&stage1));
    assert_eq!(fused["results"][0]["score_kind"]["by"], "fused");
}

/// `tamis search --queries`: many queries in one process, through one result cache.
#[test]
fn search_answers_a_file_of_queries_through_the_result_cache() {
    let work = tempfile::tempdir().unwrap();
    let index = index(work.path());
    let dir = index.to_str().unwrap();
    let ce = model_fixture("bert-ce-1label");
    let lines = [
        serde_json::json!({"id": 1, "query": "statins cholesterol study"}),
        serde_json::json!({"id": "b", "query": "statins cholesterol study"}),
        serde_json::json!({"query": "Statins  CHOLESTEROL study"}),
        serde_json::json!({"id": 4, "query": "vitamin d bone"}),
    ];
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    let path = work.path().join("queries.jsonl");
    fs_err::write(&path, &text).unwrap();
    let flags = ["--mode", "bm25", "-k", "3", "--rerank", &ce, "--rerank-candidates", "8"];
    let output =
        tamis_ok(&[&["search", dir, "--queries", path.to_str().unwrap()], &flags[..]].concat());
    let answers: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), 4);
    let ids: Vec<&serde_json::Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(
        ids,
        [
            &serde_json::json!(1),
            &serde_json::json!("b"),
            &serde_json::Value::Null,
            &serde_json::json!(4)
        ]
    );
    let levels: Vec<&serde_json::Value> = answers.iter().map(|a| &a["cache"]["level"]).collect();
    assert_eq!(
        levels,
        [
            &serde_json::Value::Null,
            &serde_json::json!("exact"),
            &serde_json::json!("normalized"),
            &serde_json::Value::Null
        ]
    );
    assert_eq!(answers[1]["results"], answers[0]["results"]);
    assert_eq!(answers[2]["results"], answers[0]["results"]);
    assert_ne!(answers[3]["results"], answers[0]["results"]);
    // The same answer as one query per process.
    let single =
        json(&[&["search", dir, "statins cholesterol study", "--json"], &flags[..]].concat());
    assert_eq!(single["results"], answers[0]["results"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 exact and 1 normalized hits, 2 misses"), "{stderr}");

    // From standard input, and without the cache.
    let piped = tamis(
        &["search", dir, "--queries", "-", "--mode", "bm25", "--result-cache-entries", "0"],
        &text,
        &[],
    );
    assert!(piped.status.success(), "{}", String::from_utf8_lossy(&piped.stderr));
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&piped.stdout).lines().nth(1).unwrap())
            .unwrap();
    assert!(first["cache"].is_null(), "{first}");
    // A bad line stops it before any search, naming the line; a query and --queries clash.
    let bad = tamis(
        &["search", dir, "--queries", "-", "--mode", "bm25"],
        "{\"query\": \"a\"}\n{\"q\": 1}\n",
        &[],
    );
    assert_fails_with(&bad, INPUT, "line 2");
    assert!(bad.stdout.is_empty());
    let both = tamis(&["search", dir, "q", "--queries", "-"], "", &[]);
    assert_eq!(both.status.code(), Some(USAGE));
}

#[test]
fn eval_reports_a_row_per_reranking_and_fusion() {
    let work = tempfile::tempdir().unwrap();
    let data = dataset(work.path());
    let cache = work.path().join("cache");
    let run_file = work.path().join("run.txt");
    let report = json(&[
        "eval",
        "--json",
        "--dataset",
        data.to_str().unwrap(),
        "--model",
        &model_fixture("bert-embed-cls"),
        "--mode",
        "hybrid",
        "--reranker",
        &model_fixture("bert-ce-1label"),
        "--candidates",
        "4",
        "--candidates",
        "8",
        "--fuse-stages",
        "rrf",
        "--adaptive-patience",
        "1",
        "-k",
        "1",
        "--rerank-batch-docs",
        "2",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--run-output",
        run_file.to_str().unwrap(),
    ]);
    let rows: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["row"].as_str().unwrap()).collect();
    assert_eq!(
        rows,
        [
            "hybrid",
            "hybrid → bert-ce-1label@4",
            "hybrid → bert-ce-1label@4 fused",
            "hybrid → bert-ce-1label@4 adaptive(patience 1)",
            "hybrid → bert-ce-1label@8",
            "hybrid → bert-ce-1label@8 fused",
            "hybrid → bert-ce-1label@8 adaptive(patience 1)"
        ]
    );
    for row in report["results"].as_array().unwrap() {
        assert_eq!(row["queries"], 4);
        let ndcg = row["metrics"]["nDCG@10"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ndcg), "{row}");
        assert!(row["latency_ms"]["stage1"]["p50"].is_number(), "{row}");
    }
    // Each reranked row scored its window of candidates for every query.
    let pairs = |i: usize| {
        report["results"][i]["pairs_per_query"][&model_fixture("bert-ce-1label")].as_f64()
    };
    assert_eq!(pairs(1), Some(4.0));
    assert_eq!(pairs(4), Some(8.0));
    // Adaptive depth scores fewer pairs than the full window, from the cache.
    assert!(pairs(6).unwrap() < 8.0, "{report}");
    assert_eq!(report["results"][6]["scores_from_cache"], true);
    assert_eq!(report["results"][4]["scores_from_cache"], false);
    // Reranking the top 4 or 8 of 16 keeps every retrieved document: recall is stage 1's.
    let recall = |i: usize| report["results"][i]["metrics"]["Recall@100"].as_f64().unwrap();
    assert!((1..7).all(|i| recall(i) == recall(0)));
    // One run file per row, each with every query.
    let run = tamis_eval::Run::read_trec(Path::new(&format!(
        "{}.hybrid_bert-ce-1label_4",
        run_file.display()
    )))
    .unwrap();
    assert_eq!(run.len(), 4);
}

#[test]
fn rerank_misuse_fails_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    let index = index(work.path());
    let dir = index.to_str().unwrap();
    let ce = model_fixture("bert-ce-1label");
    let output = tamis(&["search", dir, "q", "--rerank", &ce, "--rerank", &ce], "", &[]);
    assert_fails_with(&output, INPUT, "needs --rerank-candidates");
    let output = tamis(&["search", dir, "q", "--rerank", &ce, "--rerank-candidates", "0"], "", &[]);
    assert_fails_with(&output, INPUT, "scores 0 candidates");
    let data = dataset(work.path());
    let data = data.to_str().unwrap();
    let model = model_fixture("bert-embed-cls");
    let cache = work.path().join("cache");
    let eval =
        ["eval", "--dataset", data, "--model", &model, "--cache-dir", cache.to_str().unwrap()];
    let output = tamis(&[&eval[..], &["--candidates", "30"]].concat(), "", &[]);
    assert_fails_with(&output, INPUT, "--candidates needs --rerank");
    let output = tamis(&[&eval[..], &["--rerank", &ce, "--candidates", "30,10"]].concat(), "", &[]);
    assert_fails_with(&output, INPUT, "2 count(s) for 1 reranker(s)");
}

/// `tamis index --late-interaction` stores ColBERT token vectors; `tamis search --rerank`
/// with that model scores from them as it scores by encoding, alone or in a cascade.
#[test]
fn an_index_stores_colbert_token_vectors_that_search_scores_from() {
    let work = tempfile::tempdir().unwrap();
    let data = dataset(work.path());
    let corpus = data.join("corpus.jsonl");
    let corpus = corpus.to_str().unwrap();
    let (bi, colbert) = (model_fixture("bert-embed-cls"), model_fixture("colbert-pylate"));
    let build = |name: &str, extra: &[&str]| {
        let dir = work.path().join(name);
        let dir_text = dir.to_str().unwrap().to_string();
        let output =
            tamis(&[&["index", &dir_text, "-i", corpus, "-m", &bi][..], extra].concat(), "", &[]);
        (dir_text, output)
    };
    let (stored, output) = build("stored", &["--late-interaction", &colbert]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("token vectors: 16 of 16 chunk(s)"), "{stderr}");
    let (int8, _) = build("int8", &["--late-interaction", &colbert, "--token-storage", "int8"]);
    let (plain, _) = build("plain", &[]);

    let info = json(&["info", &stored, "--json"]);
    let late = &info["late_interaction"];
    let dimension = late["dimension"].as_u64().unwrap();
    assert_eq!(late["chunks"], info["chunks"], "{info}");
    assert_eq!(late["storage"], "f16");
    assert_eq!(late["bytes_per_vector"], 2 * dimension);
    assert_eq!(late["bytes"], late["vectors"].as_u64().unwrap() * 2 * dimension, "{info}");
    let int8_info = json(&["info", &int8, "--json"]);
    assert_eq!(int8_info["late_interaction"]["bytes_per_vector"], 4 + dimension);
    assert_eq!(json(&["info", &plain, "--json"]).get("late_interaction"), None);

    let search = |dir: &str, stages: &[&str]| {
        let base = ["search", dir, "statins cholesterol study", "--json", "--mode", "bm25"];
        json(&[&base[..], stages].concat())
    };
    let scores = |response: &serde_json::Value| -> Vec<(String, f64)> {
        let hits = response["results"].as_array().unwrap();
        hits.iter()
            .map(|h| (h["id"].as_str().unwrap().to_string(), h["score"].as_f64().unwrap()))
            .collect()
    };
    let rerank = ["--rerank", colbert.as_str(), "--rerank-candidates", "16", "-k", "16"];
    let encoded = scores(&search(&plain, &rerank));
    assert_eq!(encoded.len(), 16);
    for (storage, dir, tolerance) in [("f16", &stored, 2e-3), ("int8", &int8, 5e-2)] {
        let from_stored = scores(&search(dir, &rerank));
        for ((id, score), (_, reference)) in from_stored.iter().zip(&encoded) {
            let reference_of_id = encoded.iter().find(|(other, _)| other == id).unwrap().1;
            assert!(
                (score - reference_of_id).abs() <= tolerance * reference_of_id.abs().max(1.0),
                "{storage}: {id} scored {score}, encoded {reference_of_id}"
            );
            // Same order, but for near ties.
            assert!((score - reference).abs() <= 2.0 * tolerance * reference.abs().max(1.0));
        }
    }

    // 16 -> ColBERT -> 4 -> cross-encoder -> 3.
    let ce = model_fixture("bert-ce-1label");
    let cascade = search(
        &stored,
        &["--rerank", &colbert, "--rerank", &ce, "--rerank-candidates", "16,4", "-k", "3"],
    );
    let hits = cascade["results"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    for (i, hit) in hits.iter().enumerate() {
        assert!(hit["reranks"][0]["rank"].as_u64().unwrap() <= 4, "{hit}");
        assert_eq!(hit["reranks"][1]["rank"], i + 1, "{hit}");
    }

    // `tamis eval` rows score from the stored vectors as they score by encoding.
    let cache = work.path().join("cache");
    let eval = |extra: &[&str]| {
        let base = ["eval", "--json", "--dataset", data.to_str().unwrap(), "--model", &bi];
        let rest = ["--mode", "bm25", "--rerank", &colbert, "--candidates", "16"];
        json(&[&base[..], &rest[..], &["--cache-dir", cache.to_str().unwrap()], extra].concat())
    };
    let (with_vectors, encoding) = (eval(&["--late-interaction", &colbert]), eval(&[]));
    let ndcg = |report: &serde_json::Value| report["results"][1]["metrics"]["nDCG@10"].as_f64();
    let (a, b) = (ndcg(&with_vectors).unwrap(), ndcg(&encoding).unwrap());
    assert!((a - b).abs() < 1e-3, "{with_vectors} {encoding}");
    let pairs =
        |report: &serde_json::Value| report["results"][1]["pairs_per_query"][&colbert].clone();
    assert!(pairs(&with_vectors).as_f64().unwrap() > 0.0, "{with_vectors}");
    assert_eq!(pairs(&with_vectors), pairs(&encoding));

    // Another ColBERT model cannot read these vectors.
    let other = model_fixture("colbert-ai");
    let args = ["search", &stored, "statins", "--mode", "bm25", "--rerank", &other];
    let output = tamis(&args, "", &[]);
    assert_fails_with(&output, INPUT, "stores the token vectors of late-interaction model");

    // Later runs compute the vectors with the index's own model.
    let more = work.path().join("more.jsonl");
    fs_err::write(&more, r#"{"id": "new", "text": "melatonin and sleep in shift workers"}"#)
        .unwrap();
    tamis_ok(&["index", &stored, "-i", more.to_str().unwrap()]);
    let info = json(&["info", &stored, "--json"]);
    assert_eq!(info["late_interaction"]["chunks"], 17, "{info}");
    assert_eq!(info["chunks"], 17);

    // The models an index stores are fixed when it is created.
    let more = more.to_str().unwrap();
    let output = tamis(&["index", &plain, "-i", more, "--late-interaction", &colbert], "", &[]);
    assert_fails_with(&output, INPUT, "created without a late-interaction model");
    let output = tamis(&["index", &stored, "-i", more, "--late-interaction", &other], "", &[]);
    assert_fails_with(&output, INPUT, "stores the token vectors of late-interaction model");
    let output = tamis(&["index", &stored, "-i", more, "--token-storage", "int8"], "", &[]);
    assert_eq!(output.status.code(), Some(USAGE));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--late-interaction <DIR|ID>"));
    // A bi-encoder is no late-interaction model, and the reverse.
    let (wrong, output) = build("wrong", &["--late-interaction", &bi]);
    assert_fails_with(&output, INPUT, "late-interaction (ColBERT) model");
    assert!(!Path::new(&wrong).join("store.sqlite").exists(), "{wrong} was created");
    let output = tamis(&["index", &wrong, "-i", corpus, "-m", &colbert], "", &[]);
    assert_fails_with(&output, INPUT, "ColBERT");
}
