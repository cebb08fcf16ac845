//! The schedule's shape, one AdamW step against the formula of `torch.optim.AdamW`
//! computed in `f64`, and a short training run that learns.

use super::*;
use crate::testing::{fixture_model, tiny_batch};

#[test]
fn warmup_rises_linearly_then_the_rate_decays_to_zero() {
    let config = AdamWConfig::new(1e-3, 4, 12);
    let rates: Vec<f32> = (0..13).map(|step| config.lr_at(step)).collect();
    let want = [0.25, 0.5, 0.75, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0];
    for (step, (got, want)) in rates.iter().zip(want).enumerate() {
        assert!((got - want * 1e-3).abs() < 1e-9, "step {step}: {got}");
    }
    // No warmup: the first step runs at the peak.
    assert_eq!(AdamWConfig::new(1e-3, 0, 10).lr_at(0), 1e-3);
}

#[test]
fn a_new_schedule_applies_from_the_next_step_and_keeps_the_moments() {
    let mut params = fixture_model().params;
    let mut grads = params.zeros_like();
    for values in grads.tensors_mut() {
        values.fill(0.01);
    }
    let mut optimizer = AdamW::new(AdamWConfig::new(1e-3, 1000, 10_000), &params);
    assert!((optimizer.step(&mut params, &grads) - 1e-6).abs() < 1e-12);
    let moments = optimizer.first.clone();
    optimizer.reschedule(2, 10);
    assert_eq!(optimizer.first, moments);
    assert_eq!(optimizer.steps, 1);
    // Step 1 of a 2-step warmup runs at the peak, then the rate decays over 8 steps.
    assert_eq!(optimizer.step(&mut params, &grads), 1e-3);
    assert_eq!(optimizer.step(&mut params, &grads), 1e-3);
    assert!((optimizer.step(&mut params, &grads) - 0.875e-3).abs() < 1e-9);
    assert_eq!(optimizer.config().total_steps, 10);
}

#[test]
fn a_step_follows_torch_adamw() {
    let mut params = fixture_model().params;
    let before = params.clone();
    let mut grads = params.zeros_like();
    for (t, values) in grads.tensors_mut().into_iter().enumerate() {
        for (i, g) in values.iter_mut().enumerate() {
            *g = ((t * 31 + i * 7) % 13) as f32 * 0.01 - 0.06;
        }
    }
    let config = AdamWConfig { weight_decay: 0.1, ..AdamWConfig::new(1e-3, 0, 100) };
    let mut optimizer = AdamW::new(config, &params);
    // Two steps, so that the moments carry over and the bias corrections differ.
    optimizer.step(&mut params, &grads);
    optimizer.step(&mut params, &grads);

    let names = before.names();
    for ((name, (old, g)), new) in names
        .iter()
        .zip(before.tensors_ref().into_iter().zip(grads.tensors_ref()))
        .zip(params.tensors_ref())
    {
        let decay = if name.ends_with(".bias") || name.contains("LayerNorm") { 0.0 } else { 0.1 };
        for i in [0, old.len() / 2, old.len() - 1] {
            let (mut p, g) = (f64::from(old[i]), f64::from(g[i]));
            let (mut m, mut v) = (0.0, 0.0);
            for t in 1..=2 {
                let lr = 1e-3 * (100 - (t - 1)) as f64 / 100.0;
                m = 0.9 * m + 0.1 * g;
                v = 0.999 * v + 0.001 * g * g;
                p -= lr * decay * p;
                p -= lr * (m / (1.0 - 0.9f64.powi(t)))
                    / ((v / (1.0 - 0.999f64.powi(t))).sqrt() + 1e-8);
            }
            assert!(
                (f64::from(new[i]) - p).abs() <= 1e-6 * p.abs().max(1e-2),
                "{name}[{i}]: {} vs {p}",
                new[i]
            );
        }
    }
    assert_eq!(optimizer.steps, 2);
}

#[test]
fn training_on_a_tiny_batch_drives_its_loss_down() {
    let mut model = fixture_model();
    let (batch, targets) = tiny_batch(&model);
    let mut optimizer = AdamW::new(AdamWConfig::new(1e-3, 2, 40), &model.params);
    let mut losses = Vec::new();
    for _ in 0..40 {
        let (logits, tape) = model.forward(&batch, None, 1);
        let mut d_logits = vec![0.0; 16];
        losses.push(crate::loss::listwise(&logits, &targets, 4, &mut d_logits));
        let mut grads = model.params.zeros_like();
        model.backward(&batch, tape, &d_logits, &mut grads, 1);
        optimizer.step(&mut model.params, &grads);
    }
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(
        first > 1.0 && last < 0.1 * first,
        "listwise loss went from {first} to {last}: {losses:?}"
    );
}
