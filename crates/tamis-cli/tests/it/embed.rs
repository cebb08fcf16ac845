//! `tamis embed` on the real bi-encoder.

use crate::{INPUT, NOT_FOUND, assert_fails_with, json_lines, model_path, tamis};

#[test]
fn embeds_jsonl_from_stdin_keeping_ids_and_order() {
    let input = "{\"id\": \"a\", \"text\": \"A tamis is a fine sieve.\"}\n\n{\"text\": \"Vitamin D and bone health\"}\n{\"id\": 3, \"text\": \"Ça marche très bien 日本語\"}\n";
    let output = tamis(&["embed", "--model", &model_path("all-MiniLM-L6-v2")], input, &[]);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], "a");
    assert!(lines[1].get("id").is_none());
    assert_eq!(lines[2]["id"], 3);
    for line in &lines {
        let vector: Vec<f64> = serde_json::from_value(line["embedding"].clone()).unwrap();
        assert_eq!(vector.len(), 384);
        let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "all-MiniLM-L6-v2 normalizes: norm {norm}");
    }
}

#[test]
fn embedding_matches_sentence_transformers_through_files() {
    #[derive(serde::Deserialize)]
    struct Cases {
        cases: Vec<Case>,
    }
    #[derive(serde::Deserialize)]
    struct Case {
        text: String,
        embedding: Vec<f32>,
    }
    let fixture = tamis_testkit::workspace_root()
        .join("crates/tamis-models/tests/fixtures/minilm-embeddings.json");
    let cases: Cases = serde_json::from_str(&fs_err::read_to_string(fixture).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let out = dir.path().join("out.jsonl");
    let lines: Vec<String> = cases
        .cases
        .iter()
        .take(5)
        .map(|c| serde_json::json!({"text": c.text}).to_string())
        .collect();
    fs_err::write(&input, lines.join("\n")).unwrap();
    let output = tamis(
        &[
            "embed",
            "-m",
            &model_path("all-MiniLM-L6-v2"),
            "-i",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = fs_err::read_to_string(&out).unwrap();
    for (line, case) in written.lines().zip(&cases.cases) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let got: Vec<f32> = serde_json::from_value(value["embedding"].clone()).unwrap();
        let max_diff =
            got.iter().zip(&case.embedding).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(max_diff <= 1e-4, "{:?}: max diff {max_diff}", case.text);
    }
    assert_eq!(written.lines().count(), 5);
}

#[test]
fn bad_lines_are_named_and_nothing_is_written() {
    let model = model_path("all-MiniLM-L6-v2");
    let output = tamis(&["embed", "-m", &model], "{\"text\": \"fine\"}\n{\"text\": \n", &[]);
    assert_fails_with(&output, INPUT, "line 2 of standard input");
    assert!(output.stdout.is_empty());
    let output = tamis(&["embed", "-m", &model], "{\"text\": \"fine\"}\n{\"text\": \"  \"}\n", &[]);
    assert_fails_with(&output, INPUT, "line 2 of standard input: the text is empty");
    let output = tamis(&["embed", "-m", &model], "{\"txt\": \"typo\"}\n", &[]);
    assert_fails_with(&output, INPUT, "missing field `text`");
    let output = tamis(&["embed", "-m", &model], "", &[]);
    assert_fails_with(&output, INPUT, "no input lines");
}

#[test]
fn missing_or_wrong_models_fail_cleanly() {
    let output = tamis(&["embed", "-m", "./no/such/model"], "{\"text\": \"x\"}\n", &[]);
    assert_fails_with(&output, NOT_FOUND, "model directory ./no/such/model does not exist");
    let output = tamis(
        &["embed", "-m", &model_path("tamis-ce-minilm-l6-nfcorpus")],
        "{\"text\": \"x\"}\n",
        &[],
    );
    assert_fails_with(&output, INPUT, "is a cross-encoder");
    let empty = tempfile::tempdir().unwrap();
    let output =
        tamis(&["embed", "-m", empty.path().to_str().unwrap()], "{\"text\": \"x\"}\n", &[]);
    assert_fails_with(&output, NOT_FOUND, "config.json is missing");
}
