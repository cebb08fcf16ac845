//! The trainable model against `transformers`' logits (the fixture's `expected.json`)
//! and its gradient against finite differences of its own forward.

use std::path::PathBuf;

use super::*;
use crate::testing::{FIXTURES, fixture_dir_of as fixture, fixture_model_of as model};

/// Fixture `name`'s cases as one packed batch, with the logits `transformers` computed.
fn cases(name: &str) -> (Batch, Vec<f32>) {
    let text = fs_err::read_to_string(fixture(name).join("expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |case: &serde_json::Value, key: &str| -> Vec<u32> {
        case[key].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
    };
    let mut batch = model(name).batch();
    let mut logits = Vec::new();
    for case in expected["cases"].as_array().unwrap() {
        batch.push(&ids(case, "input_ids"), &ids(case, "token_type_ids"));
        logits.push(case["logits"][0].as_f64().unwrap() as f32);
    }
    (batch, logits)
}

#[test]
fn forward_gives_the_logits_of_transformers() {
    for name in FIXTURES {
        let (batch, want) = cases(name);
        assert!(batch.segments.len() >= 3, "{name}: the fixture has too few cases");
        let (got, _) = model(name).forward(&batch, None, 1);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5, "{name}: {g} vs {w}");
        }
    }
}

#[test]
fn the_exported_class_is_the_bases_own() {
    let mut model = model(FIXTURES[1]);
    assert_eq!(model.architecture(), "XLMRobertaForSequenceClassification");
    for (base, class) in [
        ("BertModel", "BertForSequenceClassification"),
        ("RobertaForMaskedLM", "RobertaForSequenceClassification"),
        ("CamembertModel", "CamembertForSequenceClassification"),
        // A config.json without `architectures` names its model type.
        ("xlm-roberta", "XLMRobertaForSequenceClassification"),
    ] {
        model.config.architecture = base.to_owned();
        assert_eq!(model.architecture(), class, "{base}");
    }
}

#[test]
fn a_bi_encoder_gets_the_head_its_family_names() {
    // BERT keeps the pooler under the encoder; RoBERTa's head is outside it.
    let bert = Naming::of(Family::Bert);
    assert_eq!(bert.hugging_face("bert.pooler.dense.weight"), "bert.pooler.dense.weight");
    assert_eq!(bert.hugging_face("classifier.bias"), "classifier.bias");
    let roberta = Naming::of(Family::Roberta);
    assert_eq!(roberta.hugging_face("bert.pooler.dense.weight"), "classifier.dense.weight");
    assert_eq!(roberta.hugging_face("classifier.weight"), "classifier.out_proj.weight");
    assert_eq!(
        roberta.hugging_face("bert.encoder.layer.1.output.dense.bias"),
        "roberta.encoder.layer.1.output.dense.bias"
    );
}

#[test]
fn backward_matches_finite_differences_of_forward() {
    // The inference forward, and a training one whose masks are fixed by seed and step.
    let rates = DropoutRates { hidden: 0.1, attention: 0.1, classifier: 0.2 };
    for name in FIXTURES {
        for dropout in [None, Some(StepDropout { rates, seed: 5, step: 3 })] {
            check_gradient(name, dropout.as_ref());
        }
    }
}

#[test]
fn dropout_is_on_in_training_and_drawn_per_step() {
    let (batch, _) = cases(FIXTURES[0]);
    let model = model(FIXTURES[0]);
    let rates = DropoutRates::from_config(&serde_json::json!({"hidden_dropout_prob": 0.1}));
    assert_eq!(rates, DropoutRates { hidden: 0.1, attention: 0.1, classifier: 0.1 });
    let logits = |dropout: Option<&StepDropout>| model.forward(&batch, dropout, 1).0;
    let step = |step| StepDropout { rates, seed: 5, step };
    assert_eq!(logits(None), logits(None));
    assert_eq!(logits(Some(&step(3))), logits(Some(&step(3))));
    assert_ne!(logits(Some(&step(3))), logits(None));
    assert_ne!(logits(Some(&step(3))), logits(Some(&step(4))));
}

fn check_gradient(name: &str, dropout: Option<&StepDropout>) {
    let (batch, _) = cases(name);
    let mut model = model(name);
    let weights: Vec<f32> = (0..batch.segments.len()).map(|n| [1.0, -0.5, 2.0][n % 3]).collect();
    let loss = |model: &CrossEncoderModel| -> f64 {
        let (logits, _) = model.forward(&batch, dropout, 1);
        logits.iter().zip(&weights).map(|(z, w)| f64::from(z * w)).sum()
    };
    let (_, tape) = model.forward(&batch, dropout, 1);
    let mut grads = model.params.zeros_like();
    model.backward(&batch, tape, &weights, &mut grads, 2);

    // A few coordinates of every tensor, the largest-gradient one among them included.
    let analytic = grads.tensors();
    let mut checked = 0;
    let fixture = name;
    for (t, (tensor, gradient)) in analytic.iter().enumerate() {
        let name = format!("{fixture}: {tensor}");
        let largest = (0..gradient.len())
            .max_by(|a, b| gradient[*a].abs().total_cmp(&gradient[*b].abs()))
            .unwrap();
        let norm = gradient[largest].abs();
        if norm == 0.0 {
            // Rows of the embedding tables no token uses have no gradient, but a whole
            // table must have some.
            panic!("{name}: zero gradient");
        }
        for index in [largest, (t * 7919) % gradient.len(), gradient.len() / 2] {
            let h = 1e-3f32;
            let probe = |model: &mut CrossEncoderModel, delta: f32| {
                let mut seen = 0;
                model.params.for_each_mut(|_, values| {
                    if seen == t {
                        values[index] += delta;
                    }
                    seen += 1;
                });
            };
            probe(&mut model, h);
            let up = loss(&model);
            probe(&mut model, -2.0 * h);
            let down = loss(&model);
            probe(&mut model, h);
            let numeric = (up - down) / (2.0 * f64::from(h));
            let got = f64::from(gradient[index]);
            assert!(
                (got - numeric).abs() <= 2e-2 * f64::from(norm) + 1e-4,
                "{name}[{index}]: backward {got}, finite differences {numeric} (largest {norm})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3 * 20, "only {checked} coordinates checked");
}

/// PyTorch's gradients for fixture `name` (`scripts/parity/train_gradients.py`), by
/// `{loss}/{parameter}`.
fn torch_gradients(name: &str) -> std::collections::HashMap<String, Vec<f32>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/{name}-gradients.safetensors"));
    let bytes = fs_err::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect()
}

/// Our gradient of `loss` against PyTorch's, tensor by tensor: `‖ours − torch‖∞ ≤ 1e-4 ·
/// ‖torch‖∞` (the fused QKV against PyTorch's query, key and value, concatenated).
fn assert_torch_gradients(fixture: &str, loss: &str, d_logits: &[f32]) {
    let (batch, _) = cases(fixture);
    let model = model(fixture);
    let naming = model.naming();
    let (_, tape) = model.forward(&batch, None, 1);
    let mut grads = model.params.zeros_like();
    model.backward(&batch, tape, d_logits, &mut grads, 2);
    let torch = torch_gradients(fixture);
    let mut compared = 0;
    for (name, ours) in grads.tensors() {
        let kind = name.rsplit('.').next().unwrap();
        let want: Vec<f32> = match name.strip_suffix(&format!("attention.self.qkv.{kind}")) {
            Some(stem) => ["query", "key", "value"]
                .iter()
                .flat_map(|part| {
                    let part = naming.hugging_face(&format!("{stem}attention.self.{part}.{kind}"));
                    torch[&format!("{loss}/{part}")].clone()
                })
                .collect(),
            None => torch[&format!("{loss}/{}", naming.hugging_face(&name))].clone(),
        };
        let name = format!("{fixture}: {name}");
        assert_eq!(ours.len(), want.len(), "{name}");
        let norm = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // A softmax over a group ignores a shift of all its logits, so a listwise loss has
        // no gradient for the classifier's bias: PyTorch's is rounding noise (3e-17), and
        // ours must be as small as float32 rounding makes it.
        let shift_invariant = loss == "listwise" && name.ends_with(" classifier.bias");
        assert!(norm > 1e-6 || shift_invariant, "{loss}/{name}: PyTorch's gradient is zero");
        let tolerance = if shift_invariant { 1e-7 } else { 1e-4 * norm };
        let worst = ours.iter().zip(&want).map(|(o, w)| (o - w).abs()).fold(0.0f32, f32::max);
        assert!(worst <= tolerance, "{loss}/{name}: worst difference {worst}, norm {norm}");
        compared += 1;
    }
    // Three embedding tables and their norm, 12 tensors per layer, the pooler and classifier.
    assert_eq!(compared, 3 + 2 + 12 * model.params.layers.len() + 4, "tensors compared");
}

#[test]
fn gradients_match_pytorch() {
    for fixture in FIXTURES {
        check_torch_gradients(fixture);
    }
}

fn check_torch_gradients(fixture: &str) {
    let (batch, _) = cases(fixture);
    let torch = torch_gradients(fixture);
    let sequences = batch.segments.len();
    // The weighted sum of logits: its gradient is the weights.
    let weights: Vec<f32> = (0..sequences).map(|n| [1.0, -0.5, 2.0][n % 3]).collect();
    assert_torch_gradients(fixture, "weighted", &weights);

    // Listwise cross-entropy over whole groups of 4; the cases left over get no gradient.
    let (logits, _) = model(fixture).forward(&batch, None, 1);
    let groups = sequences / 4;
    let mut targets = vec![0.0; groups * 4];
    targets.iter_mut().step_by(4).for_each(|t| *t = 1.0);
    let mut d_logits = vec![0.0; sequences];
    let loss =
        crate::loss::listwise(&logits[..groups * 4], &targets, 4, &mut d_logits[..groups * 4]);
    let want = torch["listwise/loss"][0];
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{fixture}: loss {loss} vs PyTorch's {want}"
    );
    assert_torch_gradients(fixture, "listwise", &d_logits);
}

#[test]
fn pair_tokenizer_gives_the_ids_transformers_gave() {
    for name in FIXTURES {
        check_pair_tokenizer(name);
    }
}

fn check_pair_tokenizer(name: &str) {
    let fixture = || fixture(name);
    let text = fs_err::read_to_string(fixture().join("expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let max_length = expected["max_length"].as_u64().unwrap() as usize;
    for case in expected["cases"].as_array().unwrap() {
        let truncation = match case["truncation"].as_str().unwrap() {
            "only_second" => tamis_models::Truncation::OnlySecond,
            _ => tamis_models::Truncation::LongestFirst,
        };
        let tokenizer =
            tamis_models::PairTokenizer::load(&fixture(), max_length, truncation).unwrap();
        let pair = (case["query"].as_str().unwrap(), case["document"].as_str().unwrap());
        let tokens = &tokenizer.tokenize(&[pair]).unwrap()[0];
        let want: Vec<u32> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tokens.ids, want, "{name}: {pair:?}");
    }
}
