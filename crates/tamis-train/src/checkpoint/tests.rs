//! A run resumed from a checkpoint reaches the weights of an uninterrupted run; a crash
//! between the renames loses nothing; a checkpoint of another model is refused; the
//! exported model loads in tamis' own `CrossEncoder` with the same logits.

use super::*;
use crate::export::export;
use crate::loss::listwise;
use crate::optim::AdamWConfig;
use crate::testing::{FIXTURES, fixture_dir_of, fixture_model, fixture_model_of, tiny_batch};

fn train(model: &mut CrossEncoderModel, optimizer: &mut AdamW, steps: usize) {
    let (batch, targets) = tiny_batch(model);
    for _ in 0..steps {
        let (logits, tape) = model.forward(&batch, None, 1);
        let mut d_logits = vec![0.0; logits.len()];
        listwise(&logits, &targets, 4, &mut d_logits);
        let mut grads = model.params.zeros_like();
        model.backward(&batch, tape, &d_logits, &mut grads, 1);
        optimizer.step(&mut model.params, &grads);
    }
}

fn fresh() -> (CrossEncoderModel, AdamW) {
    let model = fixture_model();
    let optimizer = AdamW::new(AdamWConfig::new(1e-3, 2, 10), &model.params);
    (model, optimizer)
}

#[test]
fn a_resumed_run_reaches_the_weights_of_an_uninterrupted_one() {
    let (mut straight, mut straight_optimizer) = fresh();
    train(&mut straight, &mut straight_optimizer, 4);

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let (mut first, mut first_optimizer) = fresh();
    train(&mut first, &mut first_optimizer, 2);
    save(&checkpoint, &first, &first_optimizer, &serde_json::json!({"cursor": 32})).unwrap();
    drop((first, first_optimizer));

    let (mut resumed, mut resumed_optimizer) = fresh();
    let state = load(&checkpoint, &mut resumed, &mut resumed_optimizer).unwrap();
    assert_eq!(state, Some(serde_json::json!({"cursor": 32})));
    assert_eq!(resumed_optimizer.steps, 2);
    train(&mut resumed, &mut resumed_optimizer, 2);
    assert_eq!(resumed.params, straight.params, "resumed weights differ");
    assert_eq!(resumed_optimizer, straight_optimizer);
}

#[test]
fn a_crash_between_the_renames_leaves_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let (mut model, mut optimizer) = fresh();
    train(&mut model, &mut optimizer, 1);
    save(&checkpoint, &model, &optimizer, &serde_json::json!(1)).unwrap();
    // The state `save` leaves after its first rename: the old checkpoint aside, the new
    // one not yet in place.
    fs_err::rename(&checkpoint, sibling(&checkpoint, "old")).unwrap();
    let (mut resumed, mut resumed_optimizer) = fresh();
    assert_eq!(
        load(&checkpoint, &mut resumed, &mut resumed_optimizer).unwrap(),
        Some(serde_json::json!(1))
    );
    assert_eq!(resumed.params, model.params);
    // And the next save cleans up.
    save(&checkpoint, &resumed, &resumed_optimizer, &serde_json::json!(2)).unwrap();
    assert!(!sibling(&checkpoint, "old").exists() && checkpoint.join("state.json").is_file());
    // No checkpoint at all is `None`, not an error.
    assert_eq!(load(&dir.path().join("none"), &mut resumed, &mut resumed_optimizer).unwrap(), None);
}

#[test]
fn a_checkpoint_of_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let (model, optimizer) = fresh();
    save(&checkpoint, &model, &optimizer, &serde_json::json!(null)).unwrap();
    let (mut other, mut other_optimizer) = fresh();
    other.params.layers.pop();
    other_optimizer.first.layers.pop();
    other_optimizer.second.layers.pop();
    // Fewer layers: every tensor it has is in the file, so shrink one to mismatch.
    other.params.classifier.weight.pop();
    let err = load(&checkpoint, &mut other, &mut other_optimizer).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
    assert!(err.to_string().contains("classifier.weight"), "{err}");
}

#[test]
fn the_exported_model_loads_in_tamis_with_the_same_logits() {
    for fixture in FIXTURES {
        check_export(fixture);
    }
}

fn check_export(fixture: &str) {
    let mut model = fixture_model_of(fixture);
    let mut optimizer = AdamW::new(AdamWConfig::new(1e-3, 2, 10), &model.params);
    train(&mut model, &mut optimizer, 3);
    let base = fixture_dir_of(fixture);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trained");
    export(&model, &base, &out, 48, "# trained\n", false).unwrap();
    assert!(!dir.path().join("trained.partial").exists());
    // The base's own architecture and tensor names, which `transformers` loads.
    let config: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let base_config: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(base.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"], base_config["architectures"], "{fixture}");
    let names = |dir: &std::path::Path| -> Vec<String> {
        let bytes = fs_err::read(dir.join("model.safetensors")).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = file.names().into_iter().map(str::to_owned).collect();
        names.sort();
        names
    };
    assert_eq!(names(&out), names(&base), "{fixture}");

    let loaded = tamis_models::CrossEncoder::load(
        &tamis_models::ModelDir { path: out.clone(), origin: tamis_models::ModelOrigin::Local },
        &tamis_models::CrossEncoderConfig {
            activation: Some(tamis_core::ScoreActivation::Identity),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(loaded.max_length(), 48);
    let (batch, _) = tiny_batch(&model);
    let inputs: Vec<tamis_models::Tokens> = batch
        .segments
        .iter()
        .map(|s| tamis_models::Tokens {
            ids: batch.ids[s.start..][..s.rows].to_vec(),
            type_ids: batch.types[s.start..][..s.rows].to_vec(),
            truncated: false,
            dropped_tokens: 0,
        })
        .collect();
    let served = loaded.predict_tokens(&inputs).unwrap();
    let (trained, _) = model.forward(&batch, None, 1);
    for (served, trained) in served.iter().zip(&trained) {
        let logit = served.logits[0];
        assert!((logit - trained).abs() <= 1e-5, "{fixture}: {logit} vs {trained}");
    }
    // A second export onto it is refused, leaving it whole, unless asked to overwrite.
    let err = export(&model, &base, &out, 48, "", false).unwrap_err();
    assert!(matches!(err, Error::OutputExists { .. }), "{err}");
    assert_eq!(fs_err::read_to_string(out.join("README.md")).unwrap(), "# trained\n");
    export(&model, &base, &out, 48, "# again\n", true).unwrap();
    assert_eq!(fs_err::read_to_string(out.join("README.md")).unwrap(), "# again\n");
    assert!(!dir.path().join("trained.replaced").exists());
}
