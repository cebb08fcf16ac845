use tamis_kernels::{gelu_erf, gelu_erf_backward, gelu_tanh, relu, silu, softmax_rows, tanh};

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
fn gelu_erf_backward_is_the_exact_derivative() {
    // The kernel multiplies the incoming gradient: 1 reads the derivative itself, and
    // 3 checks that it multiplies.
    for scale in [1.0f32, 3.0] {
        check_backward(scale);
    }
}

fn check_backward(scale: f32) {
    let x = inputs();
    let mut got = vec![scale; x.len()];
    pool().install(|| gelu_erf_backward(&x, &mut got));
    let derivative = |x: f64| {
        let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        cdf + x * pdf
    };
    for (g, v) in got.iter().zip(&x) {
        let want = scale as f64 * derivative(*v as f64);
        assert!((*g as f64 - want).abs() <= 2e-6 * want.abs().max(1.0), "x {v}: {g} vs {want}");
    }
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

#[test]
fn softmax_rows_matches_the_definition() {
    let x = data(7 * 61, 5, 30.0);
    let mut got = x.clone();
    softmax_rows(&mut got, 61);
    for (row, want_row) in got.chunks_exact(61).zip(x.chunks_exact(61)) {
        let max = want_row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
        let total: f64 = want_row.iter().map(|v| (*v as f64 - max).exp()).sum();
        for (g, v) in row.iter().zip(want_row) {
            let want = (*v as f64 - max).exp() / total;
            assert!((*g as f64 - want).abs() <= 1e-6 * want.max(1e-30) + 1e-9, "{g} vs {want}");
        }
    }
}

#[test]
fn gated_is_the_activation_of_the_input_half_times_the_gate_half() {
    use tamis_kernels::Activation;
    for (rows, width) in [(3, 19), (64 / MIRI_STEP, 1000)] {
        let input_gate = data(rows * 2 * width, 67, 4.0);
        for activation in
            [Activation::GeluErf, Activation::GeluTanh, Activation::Relu, Activation::Silu]
        {
            let mut got = vec![f32::NAN; rows * width];
            pool().install(|| tamis_kernels::gated(&input_gate, rows, width, activation, &mut got));
            for (r, out) in got.chunks(width).enumerate() {
                let (input, gate) = input_gate[r * 2 * width..][..2 * width].split_at(width);
                let mut want = input.to_vec();
                activation.apply(&mut want);
                for ((o, w), g) in out.iter().zip(&want).zip(gate) {
                    assert_eq!(*o, w * g, "{activation:?}");
                }
            }
        }
    }
}

#[test]
fn swiglu_is_silu_of_the_gate_times_up() {
    for (rows, width) in [(3, 19), (64 / MIRI_STEP, 1000)] {
        let gate_up = data(rows * 2 * width, 61, 8.0);
        let mut got = vec![f32::NAN; rows * width];
        pool().install(|| tamis_kernels::swiglu(&gate_up, rows, width, &mut got));
        for (r, out) in got.chunks(width).enumerate() {
            let (gate, up) = gate_up[r * 2 * width..][..2 * width].split_at(width);
            for ((o, g), u) in out.iter().zip(gate).zip(up) {
                let (g, u) = (*g as f64, *u as f64);
                let want = g / (1.0 + (-g).exp()) * u;
                assert!((*o as f64 - want).abs() < 1e-5 * (1.0 + want.abs()), "{g} {u}: {o}");
            }
        }
    }
}
