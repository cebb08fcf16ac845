//! Tiny random Qwen3 / Qwen2 decoders against the rerankers' reference code
//! (`scripts/parity/generate_llm_rerankers.py`: the Qwen3-Reranker model card's
//! transformers code, and the `mxbai-rerank` package).

use serde::Deserialize;
use tamis_core::ScoreActivation;
use tamis_models::{LlmReranker, LlmRerankerConfig, Precision, RerankerKind, RuntimeConfig};

use crate::{fixtures_dir, local, read_json};

#[derive(Deserialize)]
struct Expected {
    kind: String,
    max_length: usize,
    true_id: u32,
    false_id: u32,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    query: String,
    instruction: Option<String>,
    expect_error: bool,
    /// mxbai: whether the query part was cut (to 3/4 of the length).
    #[serde(default)]
    query_truncated: bool,
    documents: Vec<String>,
    results: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    input_ids: Vec<u32>,
    truncated: bool,
    l_true: f32,
    l_false: f32,
    score: f32,
}

/// `max_batch_tokens` values that put one document per pass, a few, and all of them.
const BATCH_TOKENS: [usize; 3] = [1, 200, 100_000];

fn load(name: &str, precision: Precision, max_batch_tokens: usize) -> (LlmReranker, Expected) {
    let dir = fixtures_dir().join("llm").join(name);
    let expected: Expected = read_json(&dir.join("expected.json"));
    let kind = RerankerKind::from_name(&expected.kind).unwrap();
    // The reference's max_length counts the whole prompt for Qwen3; for mxbai only the
    // query and document parts, so the template's own tokens are added.
    let template_tokens = match kind {
        RerankerKind::Qwen3 => 0,
        RerankerKind::MxbaiV2 => {
            LlmReranker::load(&local(dir.clone()), &config(kind, precision, None, 1))
                .unwrap()
                .template_tokens()
        }
    };
    let max_length = expected.max_length + template_tokens;
    let config = config(kind, precision, Some(max_length), max_batch_tokens);
    let model = LlmReranker::load(&local(dir), &config).unwrap();
    assert_eq!(model.precision(), precision);
    (model, expected)
}

fn config(
    kind: RerankerKind,
    precision: Precision,
    max_length: Option<usize>,
    max_batch_tokens: usize,
) -> LlmRerankerConfig {
    LlmRerankerConfig {
        runtime: RuntimeConfig { threads: Some(2), precision, ..Default::default() },
        max_pass_tokens: max_batch_tokens,
        max_length,
        kind: Some(kind),
        ..Default::default()
    }
}

/// The precisions held to the reference's 1e-4: fp32, and bf16x3 wherever it runs
/// (its split products keep fp32's tolerance; bf16 and int8 do not, and are bounded
/// against fp32 in `precision.rs`).
fn precisions() -> Vec<Precision> {
    let mut modes = vec![Precision::Fp32];
    if tamis_kernels::Bf16Kernel::Avx512Bf16.is_supported() {
        modes.push(Precision::Bf16x3);
    } else {
        eprintln!("bf16x3 not checked against the reference: this CPU lacks AVX512-BF16");
    }
    modes
}

fn check(name: &str) {
    for (precision, max_batch_tokens) in
        precisions().into_iter().flat_map(|p| BATCH_TOKENS.map(|b| (p, b)))
    {
        let (model, expected) = load(name, precision, max_batch_tokens);
        let what = format!("{name}, {}, max_batch_tokens {max_batch_tokens}", precision.name());
        let activation = match model.kind() {
            RerankerKind::Qwen3 => ScoreActivation::Sigmoid,
            RerankerKind::MxbaiV2 => ScoreActivation::Identity,
        };
        assert_eq!(model.activation(), activation, "{what}");
        for case in &expected.cases {
            let what = format!("{what}, query {:?}", case.query);
            let documents: Vec<&str> = case.documents.iter().map(String::as_str).collect();
            let instruction = case.instruction.as_deref();
            if case.expect_error {
                let err = model.score_passages(&case.query, instruction, &documents).unwrap_err();
                assert!(err.to_string().contains("leave no room for a document"), "{what}: {err}");
                continue;
            }
            let tokens = model.tokenize(&case.query, instruction, &documents).unwrap();
            let logits = model.answer_logits(&case.query, instruction, &documents).unwrap();
            let scores = model.score_passages(&case.query, instruction, &documents).unwrap();
            assert_eq!(scores.len(), case.results.len(), "{what}");
            for (i, want) in case.results.iter().enumerate() {
                let what = format!("{what}, document {i}");
                assert_eq!(tokens[i].ids, want.input_ids, "{what}: ids");
                // tamis reports a cut query as truncation of every pair.
                let truncated = want.truncated || case.query_truncated;
                assert_eq!(scores[i].truncated, truncated, "{what}: truncated");
                assert!(
                    (logits[i].relevant - want.l_true).abs() <= 1e-4,
                    "{what}: {} vs {}",
                    logits[i].relevant,
                    want.l_true
                );
                assert!(
                    (logits[i].not_relevant - want.l_false).abs() <= 1e-4,
                    "{what}: {} vs {}",
                    logits[i].not_relevant,
                    want.l_false
                );
                assert!(
                    (scores[i].score - want.score).abs() <= 1e-4,
                    "{what}: score {} vs {}",
                    scores[i].score,
                    want.score
                );
            }
        }
        assert_eq!(model.answer_token_ids(), (expected.true_id, expected.false_id), "{what}");
    }
}

#[test]
fn qwen3_reranker_with_tied_bf16_weights_matches_the_model_card_code() {
    check("qwen3-reranker-tied");
}

#[test]
fn qwen3_reranker_with_an_untied_head_biases_and_shards_matches_the_model_card_code() {
    check("qwen3-reranker-untied");
}

#[test]
fn mxbai_rerank_v2_matches_the_mxbai_rerank_package() {
    check("mxbai-v2-qwen2");
}

/// A copy of a fixture with `edit` applied to its `config.json`.
fn edited_fixture(name: &str, edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let from = fixtures_dir().join("llm").join(name);
    let dir = tempfile::tempdir().unwrap();
    for entry in fs_err::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        fs_err::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    fs_err::write(&path, config.to_string()).unwrap();
    dir
}

#[test]
fn configurations_it_would_run_wrongly_are_refused() {
    let load = |dir: &tempfile::TempDir| {
        LlmReranker::load(
            &local(dir.path().to_path_buf()),
            &config(RerankerKind::Qwen3, Precision::Fp32, None, 100),
        )
        .unwrap_err()
        .to_string()
    };
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 4] = [
        ("vocab_size is 900", |c| c["vocab_size"] = 900.into()),
        ("sliding-window attention", |c| c["use_sliding_window"] = true.into()),
        ("rope_scaling", |c| {
            c["rope_scaling"] = serde_json::json!({"rope_type": "yarn", "factor": 4.0})
        }),
        ("unsupported architecture", |c| {
            c["architectures"] = serde_json::json!(["LlamaForCausalLM"])
        }),
    ];
    for (needle, edit) in cases {
        let message = load(&edited_fixture("qwen3-reranker-tied", edit));
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
    // Without a kind, a local directory cannot say which template it needs.
    let dir = fixtures_dir().join("llm").join("qwen3-reranker-tied");
    let no_kind = LlmRerankerConfig { kind: None, ..Default::default() };
    let message = LlmReranker::load(&local(dir), &no_kind).unwrap_err().to_string();
    assert!(message.contains("--reranker-kind qwen3"), "{message}");
}
