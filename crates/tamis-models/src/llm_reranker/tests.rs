//! The exact shortcuts change no score: a shared prefix, packed documents, the last
//! layer for last rows only and two rows of the output head give what one sequence at a
//! time, every row through every layer and the vocabulary-wide projection give.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use tamis_kernels::CausalSegment;

use super::{LlmReranker, LlmRerankerConfig, RerankerKind};
use crate::decoder::Tensors;
use crate::{ModelDir, ModelOrigin, RuntimeConfig};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llm").join(name)
}

fn load(name: &str, kind: RerankerKind, max_batch_tokens: usize) -> LlmReranker {
    load_with(name, kind, max_batch_tokens, true)
}

fn load_with(
    name: &str,
    kind: RerankerKind,
    max_batch_tokens: usize,
    share_prefix: bool,
) -> LlmReranker {
    let config = LlmRerankerConfig {
        share_prefix,
        runtime: RuntimeConfig { threads: Some(2), ..Default::default() },
        max_pass_tokens: max_batch_tokens,
        max_length: Some(200),
        kind: Some(kind),
    };
    LlmReranker::load(&ModelDir { path: fixture(name), origin: ModelOrigin::Local }, &config)
        .unwrap()
}

const QUERY: &str = "Does vitamin D protect bones?";
const DOCUMENTS: [&str; 4] = [
    "Vitamin D supplements and bone mineral density in older adults.",
    "x",
    "Statins lower LDL cholesterol; muscle pain is a reported side effect in some trials.",
    "Dietary calcium, vitamin D status and fractures: a cohort of 60 000 women followed for 19 years.",
];

/// The answer logits computed the long way: each whole prompt alone, every row through
/// every layer, then the full vocabulary projection, from which two columns are read.
fn reference(model: &LlmReranker, name: &str) -> Vec<(f32, f32)> {
    let config = model.decoder.config().clone();
    let hidden = config.hidden_size;
    let head = match config.tie_word_embeddings {
        true => "model.embed_tokens.weight",
        false => "lm_head.weight",
    };
    let table =
        Tensors::load(&fixture(name)).unwrap().take(head, &[config.vocab_size, hidden]).unwrap();
    let (relevant, not_relevant) = model.template.answers;
    model
        .tokenize(QUERY, None, &DOCUMENTS)
        .unwrap()
        .iter()
        .map(|tokens| {
            let n = tokens.ids.len();
            let positions: Vec<usize> = (0..n).collect();
            let all = [CausalSegment::alone(0, n)];
            let states = model.decoder.forward(&tokens.ids, &positions, &all, &all);
            let last = &states[(n - 1) * hidden..];
            let mut row = vec![0.0f32; hidden];
            let logits: Vec<f32> = (0..config.vocab_size)
                .map(|v| {
                    table.row_into(v, hidden, &mut row);
                    row.iter().zip(last).map(|(a, b)| a * b).sum()
                })
                .collect();
            (logits[relevant as usize], logits[not_relevant as usize])
        })
        .collect()
}

fn check(name: &str, kind: RerankerKind) {
    let model = load(name, kind, 100_000);
    let want = reference(&model, name);
    for (max_batch_tokens, share_prefix) in
        [(1, true), (120, true), (100_000, true), (100_000, false)]
    {
        let model = load_with(name, kind, max_batch_tokens, share_prefix);
        let got = model.answer_logits(QUERY, None, &DOCUMENTS).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g.relevant - w.0).abs() < 1e-5 && (g.not_relevant - w.1).abs() < 1e-5,
                "{name}, max_batch_tokens {max_batch_tokens}, document {i}: {g:?} vs {w:?}"
            );
        }
        // Several queries in one pass score as each alone.
        let prompts = [
            model.prepare(QUERY, None, &DOCUMENTS).unwrap(),
            model.prepare("statin side effects", Some("Find trials"), &DOCUMENTS[1..3]).unwrap(),
        ];
        let together = model.score_prepared(&prompts);
        for (prompt, scores) in prompts.iter().zip(&together) {
            let alone = model.score_prepared(std::slice::from_ref(prompt)).remove(0);
            assert_eq!(alone.len(), scores.len());
            for (a, t) in alone.iter().zip(scores) {
                assert!((a.logit - t.logit).abs() < 1e-5, "{name}: {a:?} vs {t:?}");
            }
        }
        // The order of documents in a pass changes nothing either.
        let reversed: Vec<&str> = DOCUMENTS.iter().rev().copied().collect();
        let got_reversed = model.answer_logits(QUERY, None, &reversed).unwrap();
        for (g, r) in got.iter().zip(got_reversed.iter().rev()) {
            assert!((g.relevant - r.relevant).abs() < 1e-5, "{name}: order changed a score");
        }
    }
}

#[test]
fn qwen3_shortcuts_change_no_score() {
    check("qwen3-reranker-untied", RerankerKind::Qwen3);
    check("qwen3-reranker-tied", RerankerKind::Qwen3);
}

#[test]
fn mxbai_shortcuts_change_no_score() {
    check("mxbai-v2-qwen2", RerankerKind::MxbaiV2);
}

#[test]
fn rotary_frequencies_are_those_of_transformers() {
    #[derive(serde::Deserialize)]
    struct Expected {
        rope_inv_freq: Vec<f32>,
    }
    for (name, kind) in
        [("qwen3-reranker-tied", RerankerKind::Qwen3), ("mxbai-v2-qwen2", RerankerKind::MxbaiV2)]
    {
        let text = fs_err::read_to_string(fixture(name).join("expected.json")).unwrap();
        let want: Expected = serde_json::from_str(&text).unwrap();
        let got = load(name, kind, 100).decoder.rope().inv_freq().to_vec();
        assert_eq!(got.len(), want.rope_inv_freq.len(), "{name}");
        for (g, w) in got.iter().zip(&want.rope_inv_freq) {
            // torch's and Rust's powf may differ by an ulp.
            assert!((g - w).abs() <= 2.0 * f32::EPSILON * w, "{name}: {g} vs {w}");
        }
    }
}
