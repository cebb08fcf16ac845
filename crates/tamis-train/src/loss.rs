//! Ranking losses over the logits of a batch, with their gradients.
//!
//! A batch is a list of groups of `group` candidates for one query each, end to end.
//! Every loss returns its value (averaged as its PyTorch counterpart averages it) and
//! writes `d loss / d logit` into `grad`. Sums run in `f64`: a loss is one number per
//! step, and its gradient must not depend on the order of a long `f32` sum.

#[cfg(test)]
mod tests;

/// Binary cross-entropy with logits (`BCEWithLogitsLoss`, mean over pairs):
/// `softplus(z) − y·z` per pair, for labels `y` in `[0, 1]`.
pub fn bce(logits: &[f32], labels: &[f32], grad: &mut [f32]) -> f32 {
    check(logits, labels, grad, 1);
    let n = logits.len() as f64;
    let mut total = 0.0;
    for ((z, y), g) in logits.iter().zip(labels).zip(grad.iter_mut()) {
        let (z, y) = (f64::from(*z), f64::from(*y));
        // softplus(z) = max(z, 0) + ln(1 + e^−|z|), exact at both tails.
        total += z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z;
        *g = ((sigmoid(z) - y) / n) as f32;
    }
    (total / n) as f32
}

/// Listwise softmax cross-entropy: `−Σ t·log softmax(z)` per group of `group` logits,
/// mean over groups, with `targets` a distribution over each group (one-hot on the
/// positive for the usual "one positive, n negatives" groups).
pub fn listwise(logits: &[f32], targets: &[f32], group: usize, grad: &mut [f32]) -> f32 {
    check(logits, targets, grad, group);
    let groups = (logits.len() / group) as f64;
    let mut total = 0.0;
    for ((z, t), g) in logits
        .chunks_exact(group)
        .zip(targets.chunks_exact(group))
        .zip(grad.chunks_exact_mut(group))
    {
        let log_p = log_softmax(z);
        for ((log_p, t), g) in log_p.iter().zip(t).zip(g.iter_mut()) {
            let t = f64::from(*t);
            total -= t * log_p;
            *g = ((log_p.exp() - t) / groups) as f32;
        }
    }
    (total / groups) as f32
}

/// MarginMSE distillation (Hofstätter et al., 2020): each group's first candidate is
/// the positive, and for every other one the student's margin `z₀ − zᵢ` is regressed on
/// the teacher's `t₀ − tᵢ`; mean squared error over all (group, negative) pairs.
pub fn margin_mse(logits: &[f32], teacher: &[f32], group: usize, grad: &mut [f32]) -> f32 {
    check(logits, teacher, grad, group);
    assert!(group >= 2, "margin_mse: a group needs a positive and a negative");
    let pairs = (logits.len() / group * (group - 1)) as f64;
    let mut total = 0.0;
    grad.fill(0.0);
    for ((z, t), g) in logits
        .chunks_exact(group)
        .zip(teacher.chunks_exact(group))
        .zip(grad.chunks_exact_mut(group))
    {
        for i in 1..group {
            let error = (f64::from(z[0]) - f64::from(z[i])) - (f64::from(t[0]) - f64::from(t[i]));
            total += error * error;
            let d = (2.0 * error / pairs) as f32;
            g[0] += d;
            g[i] -= d;
        }
    }
    (total / pairs) as f32
}

/// KL distillation: `KL(softmax(t) ‖ softmax(z))` per group, mean over groups, with `t`
/// the teacher's logits.
pub fn kl(logits: &[f32], teacher: &[f32], group: usize, grad: &mut [f32]) -> f32 {
    check(logits, teacher, grad, group);
    let groups = (logits.len() / group) as f64;
    let mut total = 0.0;
    for ((z, t), g) in logits
        .chunks_exact(group)
        .zip(teacher.chunks_exact(group))
        .zip(grad.chunks_exact_mut(group))
    {
        let log_p = log_softmax(z);
        let log_q = log_softmax(t);
        for ((log_p, log_q), g) in log_p.iter().zip(&log_q).zip(g.iter_mut()) {
            let q = log_q.exp();
            total += q * (log_q - log_p);
            *g = ((log_p.exp() - q) / groups) as f32;
        }
    }
    (total / groups) as f32
}

fn check(logits: &[f32], other: &[f32], grad: &[f32], group: usize) {
    assert!(group > 0 && logits.len().is_multiple_of(group), "loss: groups of {group}");
    assert!(other.len() == logits.len() && grad.len() == logits.len(), "loss: buffer sizes");
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn log_softmax(z: &[f32]) -> Vec<f64> {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(*v)));
    let log_total = z.iter().map(|v| (f64::from(*v) - max).exp()).sum::<f64>().ln();
    z.iter().map(|v| f64::from(*v) - max - log_total).collect()
}
