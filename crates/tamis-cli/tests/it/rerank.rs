//! `tamis rerank` on the real cross-encoder, checked against its reference scores.

use crate::{INPUT, assert_fails_with, json_lines, model_fixture, model_path, tamis};

#[test]
fn ranks_by_reference_scores_with_top_n() {
    let (_, references) = tamis_testkit::reference_scores();
    let input: Vec<String> = references
        .iter()
        .map(|r| serde_json::json!({"query": r.query, "documents": r.documents}).to_string())
        .collect();
    let output = tamis(
        &["rerank", "-m", &model_path("tamis-ce-minilm-l6-nfcorpus"), "--top-n", "3"],
        &input.join("\n"),
        &[],
    );
    let lines = json_lines(&output);
    assert_eq!(lines.len(), references.len());
    for (line, reference) in lines.iter().zip(&references) {
        let results = line["results"].as_array().unwrap();
        assert_eq!(results.len(), reference.documents.len().min(3));
        // The reference order: indices sorted by logit, highest first.
        let mut expected: Vec<usize> = (0..reference.logits.len()).collect();
        expected.sort_by(|a, b| reference.logits[*b].total_cmp(&reference.logits[*a]));
        let mut previous = f32::INFINITY;
        for (rank, result) in results.iter().enumerate() {
            let index = result["index"].as_u64().unwrap() as usize;
            let score = result["score"].as_f64().unwrap() as f32;
            // The model declares Identity, so scores are the logits themselves.
            assert!(
                (score - reference.logits[index]).abs() <= 1e-4,
                "{score} vs {}",
                reference.logits[index]
            );
            assert_eq!(result["truncated"].as_bool().unwrap(), reference.truncated[index]);
            assert!(score <= previous, "sorted descending");
            previous = score;
            if (reference.logits[index] - reference.logits[expected[rank]]).abs() > 1e-3 {
                assert_eq!(index, expected[rank], "rank {rank} of {:?}", reference.query);
            }
        }
    }
}

#[test]
fn documents_may_be_objects_and_input_may_be_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pairs.jsonl");
    fs_err::write(&input, r#"{"query": "vitamin d", "documents": [{"text": "Vitamin D and bone health"}, "Trains of Europe"]}"#).unwrap();
    let output = tamis(
        &[
            "rerank",
            "-m",
            &model_path("tamis-ce-minilm-l6-nfcorpus"),
            "-i",
            input.to_str().unwrap(),
        ],
        "",
        &[],
    );
    let lines = json_lines(&output);
    assert_eq!(lines[0]["results"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_rerank_input_is_refused() {
    let model = model_path("tamis-ce-minilm-l6-nfcorpus");
    let cases = [
        (r#"{"query": "q", "documents": []}"#, "line 1 of standard input: documents is empty"),
        (r#"{"query": "", "documents": ["d"]}"#, "the query is empty"),
        (r#"{"query": "q", "documents": ["d", ""]}"#, "document 1 is empty"),
        (r#"{"query": "q", "documents": "d"}"#, "line 1 of standard input"),
        ("not json", "line 1 of standard input"),
    ];
    for (input, needle) in cases {
        let output = tamis(&["rerank", "-m", &model], input, &[]);
        assert_fails_with(&output, INPUT, needle);
        assert!(output.stdout.is_empty());
    }
    let output = tamis(
        &["rerank", "-m", &model_path("all-MiniLM-L6-v2")],
        r#"{"query": "q", "documents": ["d"]}"#,
        &[],
    );
    assert_fails_with(&output, INPUT, "is a bi-encoder");
    let output = tamis(
        &["rerank", "-m", &model, "--top-n", "0"],
        r#"{"query": "q", "documents": ["d"]}"#,
        &[],
    );
    assert_fails_with(&output, INPUT, "--top-n must be at least 1");
}

/// The tiny Qwen3-Reranker fixture and its reference results (`expected.json`).
fn qwen3_fixture() -> (String, serde_json::Value) {
    let dir = model_fixture("llm/qwen3-reranker-tied");
    let text = fs_err::read_to_string(format!("{dir}/expected.json")).unwrap();
    (dir, serde_json::from_str(&text).unwrap())
}

#[test]
fn an_llm_reranker_ranks_with_the_reference_scores_and_its_instruction() {
    let (model, expected) = qwen3_fixture();
    // The fixture's prompts are at most 160 tokens, as its reference ran them.
    let args = ["rerank", "-m", &model, "--reranker-kind", "qwen3", "--max-length", "160"];
    let cases = expected["cases"].as_array().unwrap();
    let case = cases
        .iter()
        .find(|c| c["instruction"].is_string() && c["documents"].as_array().unwrap().len() >= 3)
        .expect("a case with an instruction and several documents");
    let input = serde_json::json!({"query": case["query"], "documents": case["documents"]});
    let instruction = case["instruction"].as_str().unwrap();
    for raw in [false, true] {
        let mut args = args.to_vec();
        args.extend(["--instruction", instruction]);
        if raw {
            args.push("--raw");
        }
        let lines = json_lines(&tamis(&args, &input.to_string(), &[]));
        let results = lines[0]["results"].as_array().unwrap();
        assert_eq!(results.len(), case["documents"].as_array().unwrap().len());
        let mut previous = f64::INFINITY;
        for result in results {
            let index = result["index"].as_u64().unwrap() as usize;
            let reference = &case["results"][index];
            let want = reference[if raw { "logit" } else { "score" }].as_f64().unwrap();
            let score = result["score"].as_f64().unwrap();
            assert!((score - want).abs() <= 1e-4, "raw {raw}, document {index}: {score} vs {want}");
            assert_eq!(result["truncated"], reference["truncated"]);
            assert!(score <= previous, "sorted descending");
            previous = score;
        }
    }
    // Without the instruction, the default one gives other scores.
    let lines = json_lines(&tamis(&args, &input.to_string(), &[]));
    let first = &lines[0]["results"][0];
    let index = first["index"].as_u64().unwrap() as usize;
    let with_instruction = case["results"][index]["score"].as_f64().unwrap();
    assert!((first["score"].as_f64().unwrap() - with_instruction).abs() > 1e-4);
}

#[test]
fn llm_reranker_misuse_is_refused_with_the_fix() {
    let (model, _) = qwen3_fixture();
    let input = r#"{"query": "q", "documents": ["d"]}"#;
    // A directory cannot say which template it needs.
    let output = tamis(&["rerank", "-m", &model], input, &[]);
    assert_fails_with(&output, INPUT, "--reranker-kind qwen3");
    let output =
        tamis(&["rerank", "-m", &model, "--reranker-kind", "qwen3", "--label", "1"], input, &[]);
    assert_fails_with(&output, INPUT, "--label applies to cross-encoders");
    // A query that leaves no room for a document is refused, never cut into the prompt.
    let long = serde_json::json!({"query": "vitamin ".repeat(200), "documents": ["d"]}).to_string();
    let output = tamis(
        &["rerank", "-m", &model, "--reranker-kind", "qwen3", "--max-length", "160"],
        &long,
        &[],
    );
    assert_fails_with(&output, INPUT, "leave no room for a document");
    // LLM flags on a cross-encoder would change nothing.
    let cross = model_path("tamis-ce-minilm-l6-nfcorpus");
    let output = tamis(&["rerank", "-m", &cross, "--instruction", "x"], input, &[]);
    assert_fails_with(&output, INPUT, "--instruction applies to LLM rerankers");
}

/// `--precision int8` reranks with scores near the fp32 reference, and the candle
/// encoder, which has no int8 path, refuses it with the fix.
#[test]
fn int8_precision_reranks_near_the_reference_and_candle_refuses_it() {
    let (_, references) = tamis_testkit::reference_scores();
    let reference = &references[0];
    let input = serde_json::json!({"query": reference.query, "documents": reference.documents});
    let model = model_path("tamis-ce-minilm-l6-nfcorpus");
    let output = tamis(&["rerank", "-m", &model, "--precision", "int8"], &input.to_string(), &[]);
    let lines = json_lines(&output);
    let mut worst = 0.0f32;
    for result in lines[0]["results"].as_array().unwrap() {
        let index = result["index"].as_u64().unwrap() as usize;
        let score = result["score"].as_f64().unwrap() as f32;
        worst = worst.max((score - reference.logits[index]).abs());
    }
    assert!(worst > 1e-4 && worst < 0.25, "int8 against the fp32 reference: {worst}");
    let output = tamis(
        &["rerank", "-m", &model, "--precision", "int8", "--encoder", "candle"],
        &input.to_string(),
        &[],
    );
    assert_fails_with(&output, INPUT, "candle computes in fp32");
}

/// A ColBERT model reranks with PyLate's `rank.rerank` order and scores, in both layouts.
#[test]
fn a_colbert_model_reranks_as_pylate_does() {
    for name in ["colbert-pylate", "colbert-ai"] {
        let model = model_fixture(name);
        let text = fs_err::read_to_string(format!("{model}/expected.json")).unwrap();
        let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
        let documents: Vec<&str> = expected["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["text"].as_str().unwrap())
            .collect();
        // The CLI refuses an empty query (the fixture has one).
        let cases: Vec<(&serde_json::Value, &serde_json::Value)> = expected["queries"]
            .as_array()
            .unwrap()
            .iter()
            .zip(expected["rerank"].as_array().unwrap())
            .filter(|(query, _)| query["text"] != "")
            .collect();
        let input: String = cases
            .iter()
            .map(|(q, _)| {
                serde_json::json!({"query": q["text"], "documents": documents}).to_string() + "\n"
            })
            .collect();
        let lines = json_lines(&tamis(&["rerank", "-m", &model], &input, &[]));
        assert_eq!(lines.len(), cases.len());
        for (line, (_, want)) in lines.iter().zip(&cases) {
            let got = line["results"].as_array().unwrap();
            let want = want.as_array().unwrap();
            assert_eq!(got.len(), want.len());
            for (got, want) in got.iter().zip(want) {
                assert_eq!(got["index"], want["id"], "{name}: {line}");
                let score = got["score"].as_f64().unwrap();
                let reference = want["score"].as_f64().unwrap();
                assert!((score - reference).abs() <= 1e-4, "{name}: {score} vs {reference}");
            }
        }
        let input = r#"{"query": "q", "documents": ["d"]}"#;
        let output = tamis(&["rerank", "-m", &model, "--label", "1"], input, &[]);
        assert_fails_with(&output, INPUT, "ColBERT models have one score");
        let output = tamis(&["rerank", "-m", &model, "--instruction", "x"], input, &[]);
        assert_fails_with(&output, INPUT, "--instruction applies to LLM rerankers");
    }
}
