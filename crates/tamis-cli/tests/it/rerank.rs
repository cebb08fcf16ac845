//! `tamis rerank` on the real cross-encoder, checked against its reference scores.

use crate::{INPUT, assert_fails_with, json_lines, model_path, tamis};

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
