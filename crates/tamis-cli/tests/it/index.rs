//! `tamis index`, `tamis search` and `tamis info` end to end, with a tiny real bi-encoder
//! (the parity fixture) so that every test runs in seconds.

use std::path::{Path, PathBuf};

use crate::{INPUT, NOT_FOUND, UNAVAILABLE, USAGE, assert_fails_with, tamis, tamis_ok};

fn tiny_model() -> String {
    crate::model_fixture("bert-embed-cls")
}

const CORPUS: &str = r#"{"id": "vit", "title": "Vitamin D", "text": "sunlight raises vitamin d levels", "metadata": {"year": 2012, "topic": "nutrition"}}
{"id": "stat", "title": "Statins", "text": "statins lower cholesterol", "metadata": {"year": 2018, "topic": "drugs"}}
{"id": 3, "title": "Soy", "text": "soy isoflavones and breast cancer", "metadata": {"year": 2020, "topic": "nutrition"}}
"#;

fn write_corpus(dir: &Path) -> PathBuf {
    let path = dir.join("corpus.jsonl");
    fs_err::write(&path, CORPUS).unwrap();
    path
}

fn search_ids(index: &Path, query: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["search", index.to_str().unwrap(), query, "--json"];
    args.extend_from_slice(extra);
    let output = tamis(&args, "", &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    value["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn index_search_filter_delete_and_info() {
    let work = tempfile::tempdir().unwrap();
    let corpus = write_corpus(work.path());
    let index = work.path().join("index");
    let model = tiny_model();
    let output = tamis(
        &["index", index.to_str().unwrap(), "-i", corpus.to_str().unwrap(), "-m", &model],
        "",
        &[],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    assert_eq!(search_ids(&index, "statins cholesterol", &["--mode", "bm25"])[0], "stat");
    assert_eq!(search_ids(&index, "statins cholesterol", &["--mode", "hybrid"])[0], "stat");
    assert_eq!(search_ids(&index, "anything", &["--mode", "dense", "-k", "2"]).len(), 2);
    let filtered = search_ids(
        &index,
        "vitamin soy statins",
        &["--mode", "hybrid", "--filter", r#"topic = "nutrition" and year > 2015"#],
    );
    assert_eq!(filtered, vec!["3".to_string()]);
    // Linear fusion with the dense list weighted 0 orders like BM25 alone.
    let bm25 = search_ids(&index, "statins cholesterol vitamin", &["--mode", "bm25"]);
    for fusion in ["minmax", "zscore"] {
        let fused = search_ids(
            &index,
            "statins cholesterol vitamin",
            &["--fusion", fusion, "--weights", "1,0"],
        );
        assert_eq!(fused[..bm25.len()], bm25[..], "{fusion}");
    }

    // Re-running the same ingest writes nothing new.
    let output =
        tamis(&["index", index.to_str().unwrap(), "-i", corpus.to_str().unwrap()], "", &[]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("indexed 0 document(s) (0 chunk(s)), 3 unchanged")
    );

    let output = tamis(&["index", index.to_str().unwrap(), "--delete", "stat"], "", &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        !search_ids(&index, "statins cholesterol", &["--mode", "bm25"])
            .contains(&"stat".to_string())
    );

    let output =
        tamis(&["index", index.to_str().unwrap(), "--delete-where", "year < 2015"], "", &[]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("deleted 1 document(s) (1 chunk(s)) matching the filter"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(search_ids(&index, "vitamin soy statins", &["--mode", "dense"]), ["3"]);

    let output = tamis(&["info", index.to_str().unwrap(), "--json"], "", &[]);
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["documents"], 1);
    assert_eq!(info["dimension"], 32);
    assert_eq!(info["vector_index"], "exact");
}

/// Issue 18: `tamis search --filter` with 8000 parentheses overflowed the stack (exit
/// 134). Filters past the limits now fail like any bad input; the flags raise them.
#[test]
fn issue_18_filters_past_the_limits_exit_65_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    let corpus = write_corpus(work.path());
    let index = work.path().join("index");
    let dir = index.to_str().unwrap();
    tamis_ok(&["index", dir, "-i", corpus.to_str().unwrap(), "-m", &tiny_model()]);
    let parentheses = |n| format!("{}year > 2019{}", "(".repeat(n), ")".repeat(n));
    // A 50,000-term chain would not fit in one argument (Linux caps one at 128 KiB).
    for (filter, flag) in [
        (parentheses(8000), "--max-filter-depth"),
        (parentheses(2000), "--max-filter-depth"),
        (format!("{}year > 2015", "not ".repeat(5000)), "--max-filter-depth"),
        (vec!["year>1"; 9000].join(" and "), "--max-filter-bytes"),
        (vec!["year>1"; 1001].join(" and "), "--max-filter-terms"),
    ] {
        let output = tamis(&["search", dir, "q", "--mode", "bm25", "--filter", &filter], "", &[]);
        assert_fails_with(&output, INPUT, flag);
        assert_fails_with(&output, INPUT, "filter too large");
        let output = tamis(&["index", dir, "--delete-where", &filter], "", &[]);
        assert_fails_with(&output, INPUT, flag);
    }
    // The limits' flags raise them, and are range-checked.
    let deep = parentheses(40);
    let output = tamis(&["search", dir, "q", "--mode", "bm25", "--filter", &deep], "", &[]);
    assert_fails_with(&output, INPUT, "max_filter_depth = 32");
    let raised = ["--max-filter-depth", "40"];
    let found = search_ids(
        &index,
        "soy statins",
        &[&["--mode", "bm25", "--filter", &deep], &raised[..]].concat(),
    );
    assert_eq!(found, ["3"]);
    let output = tamis(&["index", dir, "--delete-where", &deep], "", &[]);
    assert_fails_with(&output, INPUT, "max_filter_depth = 32");
    tamis_ok(&[&["index", dir, "--delete-where", &deep][..], &raised[..]].concat());
    assert!(search_ids(&index, "soy statins", &["--mode", "bm25"]).iter().all(|id| id != "3"));
    for (flag, value) in [("--max-filter-depth", "0"), ("--max-filter-terms", "10001")] {
        let output = tamis(&["search", dir, "q", "--mode", "bm25", flag, value], "", &[]);
        assert_fails_with(&output, INPUT, flag);
        let output = tamis(&["serve", "--reranker", "none", flag, value], "", &[]);
        assert_fails_with(&output, INPUT, &flag[2..].replace('-', "_"));
    }
}

#[test]
fn index_misuse_fails_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    let corpus = write_corpus(work.path());
    let index = work.path().join("index");
    let dir = index.to_str().unwrap();
    let output = tamis(&["index", dir, "-i", corpus.to_str().unwrap()], "", &[]);
    assert_fails_with(&output, INPUT, "a new index needs --model");
    let bad = work.path().join("bad.jsonl");
    fs_err::write(&bad, "{\"id\": \"a\", \"text\": \"ok\"}\n{\"id\": \"b\"}\n").unwrap();
    let output = tamis(&["index", dir, "-i", bad.to_str().unwrap(), "-m", &tiny_model()], "", &[]);
    assert_fails_with(&output, INPUT, "line 2 of");
    let output =
        tamis(&["index", dir, "-i", corpus.to_str().unwrap(), "-m", &tiny_model()], "", &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let other =
        tamis_testkit::workspace_root().join("crates/tamis-models/tests/fixtures/bert-embed-max");
    let output = tamis(
        &["index", dir, "-i", corpus.to_str().unwrap(), "-m", other.to_str().unwrap()],
        "",
        &[],
    );
    assert_fails_with(&output, INPUT, "was built with embedder");
    let output =
        tamis(&["index", dir, "-i", corpus.to_str().unwrap(), "--chunking", "whole"], "", &[]);
    assert_fails_with(&output, INPUT, "settings are fixed when an index is created");
    let output = tamis(&["index", dir, "--delete-where", "year >"], "", &[]);
    assert_fails_with(&output, INPUT, "invalid filter at character 6");
    let output = tamis(&["search", dir, "q", "--weights", "nan,1"], "", &[]);
    assert_fails_with(&output, INPUT, "weights must be finite");
    let output = tamis(&["search", dir, "q", "--filter", "year >"], "", &[]);
    assert_fails_with(&output, INPUT, "invalid filter at character 6");
    let output = tamis(&["search", dir, "q", "--mode", "bm25", "--ef-search", "1001"], "", &[]);
    assert_fails_with(&output, INPUT, "ef_search must be 1 to 1000, got 1001");
    for (args, needle) in [
        (&["--rerank", "m", "--min-score", "NaN"][..], "'NaN' is not a finite number"),
        (&["--min-score", "0.5"][..], "--rerank"),
    ] {
        let output = tamis(&[&["search", dir, "q"][..], args].concat(), "", &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(USAGE), "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    let output = tamis(&["search", dir, " "], "", &[]);
    assert_fails_with(&output, INPUT, "the query is empty");
    let output = tamis(&["search", work.path().to_str().unwrap(), "q"], "", &[]);
    assert_fails_with(&output, NOT_FOUND, "holds no tamis index");
}

/// Two `tamis index` runs started together on a new directory end as they would one after
/// the other: never "already holds an index" for the one that lost the creation race.
#[test]
fn two_runs_creating_one_index_at_once_both_index() {
    let work = tempfile::tempdir().unwrap();
    let corpus = write_corpus(work.path());
    let model = tiny_model();
    for round in 0..4 {
        let index = work.path().join(format!("index{round}"));
        let args = ["index", index.to_str().unwrap(), "-i", corpus.to_str().unwrap(), "-m", &model];
        let runs: Vec<_> = (0..2)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_tamis"))
                    .args(args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let output = run.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            // The loser finds the winner still writing (75) or writes after it (0).
            let busy = output.status.code() == Some(UNAVAILABLE)
                && stderr.contains("another process is writing this index");
            assert!(output.status.success() || busy, "round {round}: {stderr}");
        }
        assert_eq!(search_ids(&index, "statins", &["--mode", "bm25"]), vec!["stat".to_string()]);
    }
}

#[test]
fn a_directory_of_text_files_is_a_corpus() {
    let work = tempfile::tempdir().unwrap();
    let docs = work.path().join("docs");
    fs_err::create_dir_all(docs.join("sub")).unwrap();
    fs_err::write(docs.join("a.txt"), "glaciers melt in warm summers").unwrap();
    fs_err::write(docs.join("sub").join("b.md"), "# Rust\nborrow checker and lifetimes").unwrap();
    fs_err::write(docs.join("ignored.bin"), "not text").unwrap();
    let index = work.path().join("index");
    let output = tamis(
        &["index", index.to_str().unwrap(), "-i", docs.to_str().unwrap(), "-m", &tiny_model()],
        "",
        &[],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        search_ids(&index, "borrow checker", &["--mode", "bm25"]),
        vec!["sub/b.md".to_string()]
    );
}

#[test]
fn bm25_parameters_are_set_at_creation_shown_by_info_and_checked() {
    let work = tempfile::tempdir().unwrap();
    let corpus = write_corpus(work.path());
    let corpus = corpus.to_str().unwrap();
    let model = tiny_model();
    let index = work.path().join("tuned");
    let dir = index.to_str().unwrap();
    let tuned = ["--bm25-k1", "0.9", "--bm25-b", "0.4", "--title-weight", "2"];
    tamis_ok(&[&["index", dir, "-i", corpus, "-m", &model][..], &tuned].concat());
    let output = tamis(&["info", dir, "--json"], "", &[]);
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let bm25 = &info["bm25"];
    assert_eq!((bm25["k1"].as_f64(), bm25["b"].as_f64()), (Some(0.9), Some(0.4)), "{info}");
    assert_eq!(bm25["title_weight"], 2.0);
    assert_eq!(bm25["fields"], "multifield");
    // The tuned index searches with its parameters.
    assert_eq!(search_ids(&index, "statins", &["--mode", "bm25"])[0], "stat");
    // Reopened for writing without flags, the recorded parameters stay.
    tamis_ok(&["index", dir, "-i", corpus]);
    let output = tamis(&["info", dir, "--json"], "", &[]);
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["bm25"]["title_weight"], 2.0);

    for (flags, message) in [
        (&["--bm25-k1", "-0.5"][..], "BM25 k1 = -0.5 is invalid: expected a finite number ≥ 0"),
        (&["--bm25-k1", "NaN"][..], "BM25 k1 = NaN is invalid"),
        (&["--bm25-b", "1.5"][..], "BM25 b = 1.5 is invalid: expected a number from 0 to 1"),
        (&["--title-weight", "0"][..], "BM25 title_weight = 0 is invalid"),
        (&["--title-weight", "-2"][..], "BM25 title_weight = -2 is invalid"),
        (&["--bm25-k1", "0.9,1.2"][..], "--bm25-k1 takes one value when an index is created"),
    ] {
        let bad = work.path().join("bad");
        let bad_dir = bad.to_str().unwrap();
        let output =
            tamis(&[&["index", bad_dir, "-i", corpus, "-m", &model][..], flags].concat(), "", &[]);
        assert_fails_with(&output, INPUT, message);
        assert!(!bad.join("store.sqlite").exists(), "{flags:?} created an index");
    }
    // A search may try other parameters on the built index; bad ones are refused.
    let top_score = |extra: &[&str]| {
        let args = [&["search", dir, "vitamin sunlight", "--mode", "bm25", "--json"][..], extra];
        let output = tamis(&args.concat(), "", &[]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        value["results"][0]["score"].as_f64().unwrap()
    };
    let recorded = top_score(&[]);
    assert_eq!(
        top_score(&["--bm25-k1", "0.9", "--bm25-b", "0.4", "--title-weight", "2"]),
        recorded
    );
    assert_ne!(top_score(&["--title-weight", "0.25"]), recorded);
    let output = tamis(&["search", dir, "vitamin", "--mode", "bm25", "--bm25-b", "1.5"], "", &[]);
    assert_fails_with(&output, INPUT, "BM25 b = 1.5 is invalid");
    let output = tamis(&["index", dir, "--bm25-b", "abc"], "", &[]);
    assert_eq!(output.status.code(), Some(USAGE));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid value 'abc' for '--bm25-b"));
}

#[test]
fn whole_chunking_keeps_one_chunk_per_document() {
    let work = tempfile::tempdir().unwrap();
    let long_text = (0..400).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let corpus = work.path().join("long.jsonl");
    fs_err::write(&corpus, serde_json::json!({"id": "long", "text": long_text}).to_string())
        .unwrap();
    let chunks_with = |mode: &str| {
        let index = work.path().join(mode);
        let output = tamis(
            &[
                "index",
                index.to_str().unwrap(),
                "-i",
                corpus.to_str().unwrap(),
                "-m",
                &tiny_model(),
                "--chunking",
                mode,
                "--no-stemming",
            ],
            "",
            &[],
        );
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let output = tamis(&["info", index.to_str().unwrap(), "--json"], "", &[]);
        let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(info["bm25"]["stemming"], false);
        info["chunks"].as_u64().unwrap()
    };
    assert!(chunks_with("windows") > 1);
    assert_eq!(chunks_with("whole"), 1);
}

/// Searching takes no lock: `tamis search` runs while another process writes the index,
/// and `tamis index` waits for that writer instead of writing beside it.
#[test]
fn searches_run_beside_a_writer_and_writes_wait_for_it() {
    let work = tempfile::tempdir().unwrap();
    let corpus = write_corpus(work.path());
    let index = work.path().join("index");
    let dir = index.to_str().unwrap();
    tamis_ok(&["index", dir, "-i", corpus.to_str().unwrap(), "-m", &tiny_model()]);
    // Another writer: this test process, holding the lock after a write.
    let mut writer = tamis_embedded::open(&index).unwrap();
    writer.delete(&["no-such-document"]).unwrap();
    assert_eq!(search_ids(&index, "statins", &["--mode", "bm25"]), vec!["stat".to_string()]);
    let refused = tamis(&["index", dir, "--delete", "stat"], "", &[]);
    assert_fails_with(&refused, UNAVAILABLE, "another process is writing this index");
    drop(writer);
    tamis_ok(&["index", dir, "--delete", "stat"]);
    assert!(search_ids(&index, "statins", &["--mode", "bm25"]).is_empty());
}

/// `tamis serve --data-dir` beside `tamis index` on its collections: the server takes no
/// lock until it writes, its searches follow the other process's writes, and it serves a
/// collection the other process creates.
#[test]
fn a_server_follows_what_tamis_index_writes_into_its_collections() {
    let work = tempfile::tempdir().unwrap();
    let corpus = write_corpus(work.path());
    let collection = work.path().join("data/collections/docs");
    let dir = collection.to_str().unwrap();
    let model = tiny_model();
    tamis_ok(&["index", dir, "-i", corpus.to_str().unwrap(), "-m", &model]);
    let data = work.path().join("data");
    let server =
        crate::server::Server::start(&["--data-dir", data.to_str().unwrap(), "-m", &model]);
    let search = |query: &str| {
        let body = serde_json::json!({ "query": query, "mode": "bm25", "k": 3 });
        let reply = server.post("/v1/collections/docs/search", body).unwrap();
        let results = reply["results"].as_array().unwrap().clone();
        results.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(search("statins"), ["stat"]);

    let more = work.path().join("more.jsonl");
    fs_err::write(&more, r#"{"id": "glac", "text": "glaciers retreat as summers warm"}"#).unwrap();
    tamis_ok(&["index", dir, "-i", more.to_str().unwrap()]);
    assert_eq!(search("glaciers"), ["glac"]);
    let info = server.get("/v1/collections/docs").unwrap();
    assert_eq!((&info["documents"], &info["vectors"]), (&4.into(), &4.into()), "{info}");
    tamis_ok(&["index", dir, "--delete", "stat"]);
    assert!(search("statins").is_empty());
    // Having only searched, the server still leaves writing to others.
    tamis_ok(&["index", dir, "--delete", "glac"]);
    assert!(search("glaciers").is_empty());
    // A collection that `tamis index` creates beside the server is served on request,
    // and the server can delete it.
    let fresh = work.path().join("data/collections/fresh");
    tamis_ok(&["index", fresh.to_str().unwrap(), "-i", more.to_str().unwrap(), "-m", &model]);
    let listed = server.get("/v1/collections").unwrap();
    let names: Vec<&str> = listed["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["docs", "fresh"], "{listed}");
    let body = serde_json::json!({ "query": "glaciers", "mode": "bm25" });
    let found = server.post("/v1/collections/fresh/search", body.clone()).unwrap();
    assert_eq!(found["results"][0]["id"], "glac", "{found}");
    server.delete("/v1/collections/fresh").unwrap();
    assert!(!fresh.exists());
    assert_eq!(server.post("/v1/collections/fresh/search", body), Err(404));

    // Once the server writes, it is the writer, and `tamis index` waits for it.
    let documents = serde_json::json!({ "documents": [{ "id": "ice", "text": "sea ice" }] });
    server.post("/v1/collections/docs/documents", documents).unwrap();
    assert_eq!(search("ice"), ["ice"]);
    let refused = tamis(&["index", dir, "--delete", "ice"], "", &[]);
    assert_fails_with(&refused, UNAVAILABLE, "another process is writing this index");
}
