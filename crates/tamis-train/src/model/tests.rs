//! The trainable model against `transformers`' logits (the fixture's `expected.json`)
//! and its gradient against finite differences of its own forward.

use std::path::PathBuf;

use tamis_models::EncoderConfig;

use super::*;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tamis-models/tests/fixtures/bert-ce-1label")
}

fn model() -> CrossEncoderModel {
    let dir = fixture();
    let config = EncoderConfig::from_file(&dir.join("config.json")).unwrap();
    CrossEncoderModel::load(&dir, config, 0).unwrap()
}

/// The fixture's cases as one packed batch, with the logits `transformers` computed.
fn cases() -> (Batch, Vec<f32>) {
    let text = fs_err::read_to_string(fixture().join("expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |case: &serde_json::Value, key: &str| -> Vec<u32> {
        case[key].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
    };
    let mut batch = Batch::default();
    let mut logits = Vec::new();
    for case in expected["cases"].as_array().unwrap() {
        batch.push(&ids(case, "input_ids"), &ids(case, "token_type_ids"));
        logits.push(case["logits"][0].as_f64().unwrap() as f32);
    }
    (batch, logits)
}

#[test]
fn forward_gives_the_logits_of_transformers() {
    let (batch, want) = cases();
    assert!(batch.segments.len() >= 3, "the fixture has too few cases");
    let (got, _) = model().forward(&batch, 1);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5, "{g} vs {w}");
    }
}

#[test]
fn backward_matches_finite_differences_of_forward() {
    let (batch, _) = cases();
    let mut model = model();
    let weights: Vec<f32> = (0..batch.segments.len()).map(|n| [1.0, -0.5, 2.0][n % 3]).collect();
    let loss = |model: &CrossEncoderModel| -> f64 {
        let (logits, _) = model.forward(&batch, 1);
        logits.iter().zip(&weights).map(|(z, w)| f64::from(z * w)).sum()
    };
    let (_, tape) = model.forward(&batch, 1);
    let mut grads = model.params.zeros_like();
    model.backward(&batch, tape, &weights, &mut grads, 2);

    // A few coordinates of every tensor, the largest-gradient one among them included.
    let analytic = grads.tensors();
    let mut checked = 0;
    for (t, (name, gradient)) in analytic.iter().enumerate() {
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
