//! Each loss's gradient against central finite differences of its own value, and its
//! value at points where it is known in closed form.

use super::*;

fn numeric_gradient(z: &[f32], loss: impl Fn(&[f32]) -> f32) -> Vec<f32> {
    let mut z = z.to_vec();
    (0..z.len())
        .map(|i| {
            let original = z[i];
            let h = 1e-2;
            z[i] = original + h;
            let up = loss(&z);
            z[i] = original - h;
            let down = loss(&z);
            z[i] = original;
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn assert_gradient(name: &str, logits: &[f32], loss: impl Fn(&[f32], &mut [f32]) -> f32) {
    let mut grad = vec![0.0; logits.len()];
    loss(logits, &mut grad);
    let numeric = numeric_gradient(logits, |z| loss(z, &mut vec![0.0; z.len()]));
    for (i, (g, n)) in grad.iter().zip(&numeric).enumerate() {
        // f32 differences of an f32 loss: good to about 1e-3 of the gradient's scale.
        assert!((g - n).abs() <= 2e-3 * n.abs().max(0.05), "{name}[{i}]: {g} vs {n}");
    }
}

const LOGITS: [f32; 8] = [2.5, -1.0, 0.3, 0.0, -3.0, 1.2, 4.0, -0.7];
const TEACHER: [f32; 8] = [5.0, 1.0, -2.0, 0.5, 3.0, 3.5, -1.0, 0.0];

#[test]
fn every_gradient_matches_finite_differences() {
    let labels = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.0];
    assert_gradient("bce", &LOGITS, |z, g| bce(z, &labels, g));
    let one_hot = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    assert_gradient("listwise", &LOGITS, |z, g| listwise(z, &one_hot, 4, g));
    assert_gradient("margin_mse", &LOGITS, |z, g| margin_mse(z, &TEACHER, 4, g));
    assert_gradient("kl", &LOGITS, |z, g| kl(z, &TEACHER, 4, g));
}

#[test]
fn losses_take_their_known_values() {
    let mut grad = [0.0; 2];
    // BCE at logit 0 is ln 2 whatever the label; far on the right side it is ~0.
    assert!((bce(&[0.0, 0.0], &[1.0, 0.0], &mut grad) - std::f32::consts::LN_2).abs() < 1e-6);
    assert!(bce(&[40.0, -40.0], &[1.0, 0.0], &mut grad) < 1e-12);
    // Uniform logits over 4 candidates: cross-entropy ln 4.
    let mut grad = [0.0; 4];
    assert!((listwise(&[1.0; 4], &[1.0, 0.0, 0.0, 0.0], 4, &mut grad) - 4f32.ln()).abs() < 1e-6);
    // A student equal to the teacher up to a shift has no margin error and no KL.
    let shifted: Vec<f32> = TEACHER.iter().map(|t| t + 3.0).collect();
    let mut grad = [1.0; 8];
    assert_eq!(margin_mse(&shifted, &TEACHER, 4, &mut grad), 0.0);
    assert!(grad.iter().all(|g| *g == 0.0));
    assert!(kl(&shifted, &TEACHER, 4, &mut grad).abs() < 1e-6);
    assert!(grad.iter().all(|g| g.abs() < 1e-7));
}
