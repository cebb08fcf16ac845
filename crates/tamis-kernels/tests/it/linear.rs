use tamis_kernels::{Linear, matmul_flops};

use crate::{MIRI_STEP, data, max_diff, pool};

/// `x · Wᵀ + b + residual` in f64, straight from PyTorch's definition.
fn reference(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: Option<&[f32]>,
    rows: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; rows * n];
    for r in 0..rows {
        for o in 0..n {
            let mut acc = b[o] as f64 + res.map_or(0.0, |res| res[r * n + o] as f64);
            for i in 0..k {
                acc += x[r * k + i] as f64 * w[o * k + i] as f64;
            }
            out[r * n + o] = acc as f32;
        }
    }
    out
}

#[test]
fn matches_the_definition_with_bias_and_residual_on_one_and_two_threads() {
    // Odd sizes exercise the micro-kernels' edges (under Miri, the scalar kernels').
    let shapes = [(1, 1, 1), (3, 7, 5), (37, 64, 19), (130, 384, 96)];
    for (rows, k, n) in shapes.into_iter().take(if MIRI_STEP > 1 { 2 } else { 4 }) {
        let (x, w, b, res) =
            (data(rows * k, 1, 1.0), data(n * k, 2, 0.2), data(n, 3, 1.0), data(rows * n, 4, 1.0));
        let layer = Linear::from_torch(&w, Some(&b), n, k);
        assert_eq!((layer.in_features(), layer.out_features()), (k, n));
        for threads in [1, 2] {
            let mut out = vec![f32::NAN; rows * n];
            pool().install(|| layer.forward(&x, rows, None, &mut out, threads));
            let want = reference(&x, &w, &b, None, rows, k, n);
            assert!(max_diff(&out, &want) < 1e-4, "{rows}x{k}x{n}: {}", max_diff(&out, &want));

            pool().install(|| layer.forward(&x, rows, Some(&res), &mut out, threads));
            let want = reference(&x, &w, &b, Some(&res), rows, k, n);
            assert!(max_diff(&out, &want) < 1e-4, "{rows}x{k}x{n} residual");
        }
    }
}

#[test]
fn a_missing_bias_is_zero_and_zero_rows_are_fine() {
    let w = data(6, 5, 1.0);
    let layer = Linear::from_torch(&w, None, 3, 2);
    let mut out = vec![0.0; 3];
    layer.forward(&[1.0, 0.0], 1, None, &mut out, 1);
    assert_eq!(out, [w[0], w[2], w[4]]);
    let mut empty: Vec<f32> = Vec::new();
    layer.forward(&[], 0, None, &mut empty, 2);
}

#[test]
#[should_panic(expected = "input is not [rows, in]")]
fn a_wrongly_sized_input_is_refused() {
    let layer = Linear::from_torch(&[1.0; 4], None, 2, 2);
    layer.forward(&[1.0; 3], 2, None, &mut [0.0; 4], 1);
}

#[test]
fn flops_count_a_multiply_and_an_add_per_term() {
    assert_eq!(matmul_flops(2, 3, 4), 48.0);
}

#[test]
fn an_output_range_and_strided_rows_match_the_whole_layer() {
    let (rows, k, n) = (5, 16, 12);
    let (x, w, b) = (data(rows * k, 71, 1.0), data(n * k, 72, 0.5), data(n, 73, 1.0));
    let layer = Linear::from_torch(&w, Some(&b), n, k);
    let mut whole = vec![0.0; rows * n];
    layer.forward(&x, rows, None, &mut whole, 1);
    // Columns 4..12 written into rows 20 apart, at offset 4: the gaps stay untouched.
    let part = layer.outputs(4..12);
    assert_eq!(part.out_features(), 8);
    let mut strided = vec![f32::NAN; rows * 20];
    part.forward_strided(&x, rows, None, &mut strided[4..], 20, 2);
    for r in 0..rows {
        assert_eq!(&strided[r * 20 + 4..r * 20 + 12], &whole[r * n + 4..r * n + 12]);
        assert!(strided[r * 20..r * 20 + 4].iter().all(|v| v.is_nan()));
    }
}

/// bfloat16 bits of `v`, truncated (any bit pattern will do: widening is what is tested).
fn bf16_bits(v: f32) -> u16 {
    (v.to_bits() >> 16) as u16
}

#[test]
fn bf16_weights_give_the_products_of_their_f32_widening_bit_for_bit() {
    let (rows, k, n) = (37, 70, 300);
    let bits: Vec<u16> = data(n * k, 71, 1.0).into_iter().map(bf16_bits).collect();
    let widened: Vec<f32> = bits.iter().map(|&b| f32::from_bits(u32::from(b) << 16)).collect();
    let bias = data(n, 72, 1.0);
    let x = data(rows * k, 73, 1.0);
    let residual = data(rows * n, 74, 1.0);
    let f32_layer = Linear::from_torch(&widened, Some(&bias), n, k);
    let bf16_layer = Linear::from_torch_bf16(bits, Some(&bias), n, k);
    assert!(bf16_layer.is_bf16() && !f32_layer.is_bf16());
    for threads in [1, 2] {
        let (mut want, mut got) = (vec![0.0; rows * n], vec![0.0; rows * n]);
        pool().install(|| {
            f32_layer.forward(&x, rows, Some(&residual), &mut want, threads);
            bf16_layer.forward(&x, rows, Some(&residual), &mut got, threads);
        });
        assert!(max_diff(&got, &want) < 1e-5, "{threads} threads");
    }
    // A slice of the outputs keeps the rows it names.
    let (part, whole) = (bf16_layer.outputs(10..20), f32_layer.outputs(10..20));
    let (mut want, mut got) = (vec![0.0; rows * 10], vec![0.0; rows * 10]);
    whole.forward(&x, rows, None, &mut want, 1);
    part.forward(&x, rows, None, &mut got, 1);
    assert!(max_diff(&got, &want) < 1e-5);
}
