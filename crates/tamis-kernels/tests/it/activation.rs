use tamis_kernels::{gelu_erf, gelu_tanh, relu, silu, tanh};

use crate::{MIRI_STEP, data, pool};

fn inputs() -> Vec<f32> {
    // A dense sweep over where GELU bends, its tails, and enough values for the parallel
    // path (except under Miri).
    let mut x: Vec<f32> = (-12_000..12_000).step_by(MIRI_STEP).map(|i| i as f32 / 1000.0).collect();
    x.extend(data(50_000 / MIRI_STEP, 21, 20.0));
    x.extend([0.0, -0.0, 1e-30, -1e-30, 100.0, -100.0]);
    x
}

fn check(kernel: fn(&mut [f32]), reference: impl Fn(f64) -> f64, tolerance: f32) {
    let x = inputs();
    let mut got = x.clone();
    pool().install(|| kernel(&mut got));
    let want: Vec<f32> = x.iter().map(|v| reference(*v as f64) as f32).collect();
    // Relative beyond 1: at x = 20 one ulp is already 2e-6.
    let worst =
        got.iter().zip(&want).map(|(g, w)| (g - w).abs() / w.abs().max(1.0)).fold(0.0, f32::max);
    assert!(worst <= tolerance, "worst difference {worst}");
}

#[test]
fn gelu_erf_matches_the_exact_formula() {
    check(gelu_erf, |x| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)), 2e-6);
}

#[test]
fn gelu_tanh_matches_the_approximation_it_names() {
    check(
        gelu_tanh,
        |x| 0.5 * x * (1.0 + (0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)).tanh()),
        2e-6,
    );
}

#[test]
fn silu_relu_and_tanh_match() {
    check(silu, |x| x / (1.0 + (-x).exp()), 2e-6);
    check(relu, |x| x.max(0.0), 0.0);
    check(tanh, |x| x.tanh(), 1e-6);
}
