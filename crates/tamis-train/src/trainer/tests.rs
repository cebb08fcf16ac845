//! The step loop learns, refuses malformed groups, and resumes exactly (dropout on).

use tamis_models::{PairTokenizer, Truncation};

use super::*;
use crate::testing::{fixture_dir, fixture_model};

const QUERIES: [&str; 4] =
    ["vitamin d bones", "statins and cancer", "sleep and memory", "coffee heart"];

/// A task a tiny model learns in a few steps: the positive of each group says "results
/// found", its negatives (about the other queries) "no study".
fn documents(q: usize) -> Vec<String> {
    (0..4)
        .map(|d| match d {
            0 => format!("{} results found", QUERIES[q]),
            _ => format!("{} no study", QUERIES[(q + d) % 4]),
        })
        .collect()
}

fn trainer(loss: LossKind) -> Trainer {
    weighted_trainer(loss, 0.0)
}

fn weighted_trainer(loss: LossKind, label_weight: f32) -> Trainer {
    let tokenizer = PairTokenizer::load(&fixture_dir(), 48, Truncation::LongestFirst).unwrap();
    let config = TrainerConfig {
        loss,
        label_weight,
        group_size: 4,
        adamw: AdamWConfig::new(5e-3, 2, 20),
        dropout: DropoutRates { hidden: 0.1, attention: 0.1, classifier: 0.1 },
        seed: 9,
        threads: 1,
    };
    Trainer::new(fixture_model(), tokenizer, config)
}

fn run(trainer: &mut Trainer, steps: usize) -> Vec<f32> {
    let docs: Vec<Vec<String>> = (0..4).map(documents).collect();
    let refs: Vec<Vec<&str>> =
        docs.iter().map(|d| d.iter().map(String::as_str).collect()).collect();
    let teacher = [4.0, 1.0, 0.5, -1.0];
    let groups: Vec<StepGroup<'_>> = (0..4)
        .map(|q| StepGroup { query: QUERIES[q], documents: &refs[q], teacher: Some(&teacher) })
        .collect();
    (0..steps).map(|_| trainer.step(&groups).unwrap().loss).collect()
}

#[test]
fn every_loss_learns_the_toy_task() {
    for loss in [LossKind::Listwise, LossKind::MarginMse, LossKind::Kl, LossKind::Bce] {
        let mut trainer = trainer(loss);
        let losses = run(&mut trainer, 20);
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        assert!(last < 0.5 * first, "{loss:?}: loss {first} → {last}: {losses:?}");
        assert_eq!(trainer.steps(), 20);
    }
}

#[test]
fn labels_and_teacher_train_together_as_the_weighted_sum_of_both_losses() {
    // Same initial weights and dropout masks: the first step's losses are comparable.
    let kl = run(&mut trainer(LossKind::Kl), 1)[0];
    let labels = run(&mut trainer(LossKind::Listwise), 1)[0];
    let mut both = weighted_trainer(LossKind::Kl, 0.5);
    let combined = run(&mut both, 1)[0];
    assert!((combined - (kl + 0.5 * labels)).abs() < 1e-5, "{combined} vs {kl} + 0.5 × {labels}");
    // The labels' gradient moved the weights too.
    let mut teacher_only = trainer(LossKind::Kl);
    run(&mut teacher_only, 1);
    assert_ne!(both.model().params, teacher_only.model().params);
    // Label losses ignore the weight.
    let mut listwise = weighted_trainer(LossKind::Listwise, 0.5);
    assert_eq!(run(&mut listwise, 1)[0], labels);
}

#[test]
fn malformed_groups_are_refused_before_any_update() {
    let mut trainer = trainer(LossKind::MarginMse);
    let documents = ["a", "b", "c", "d"];
    let err = trainer
        .step(&[StepGroup { query: "q", documents: &documents[..3], teacher: None }])
        .unwrap_err();
    assert!(err.to_string().contains("not 4"), "{err}");
    let err = trainer
        .step(&[StepGroup { query: "q", documents: &documents, teacher: None }])
        .unwrap_err();
    assert!(err.to_string().contains("teacher"), "{err}");
    assert_eq!(trainer.steps(), 0);
}

#[test]
fn a_resumed_run_with_dropout_reaches_the_same_weights() {
    let mut straight = trainer(LossKind::Listwise);
    run(&mut straight, 6);

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let mut first = trainer(LossKind::Listwise);
    run(&mut first, 3);
    first.save_checkpoint(&checkpoint, &serde_json::json!({"epoch": 0})).unwrap();
    drop(first);
    let mut resumed = trainer(LossKind::Listwise);
    assert_eq!(resumed.resume(&checkpoint).unwrap(), Some(serde_json::json!({"epoch": 0})));
    run(&mut resumed, 3);
    assert_eq!(resumed.model().params, straight.model().params);
}
