use super::{Int8Kernel, Int8Rows, Int8Weight, accumulate};
use crate::Linear;

/// Deterministic values in [-1, 1) (a small LCG: the tests need no statistics).
fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The builds this CPU runs (the others named, or failing under
/// `TAMIS_REQUIRE_KERNELS`: see [`crate::test_support::runs`]).
fn runnable() -> Vec<Int8Kernel> {
    Int8Kernel::ALL
        .into_iter()
        .filter(|k| crate::test_support::runs(k.name(), k.is_supported()))
        .collect()
}

/// `Σ qx·qw` in `i64` for row `r`, column `c`, straight from the quantized operands.
fn exact(x: &Int8Rows, w: &Int8Weight, r: usize, c: usize) -> i64 {
    (0..w.in_features)
        .map(|i| (i64::from(x.data[r * w.k_pad + i]) - 128) * i64::from(w.get(c, i)))
        .sum()
}

fn product(
    kernel: Int8Kernel,
    x: &Int8Rows,
    w: &Int8Weight,
    stride: usize,
    threads: usize,
) -> Vec<f32> {
    let rows = x.scales.len();
    let mut out = vec![0.0; rows * stride];
    accumulate(kernel, x, w, &mut out, stride, threads);
    out
}

#[test]
fn every_build_computes_the_exact_integer_products() {
    let kernels = runnable();
    // Shapes across every edge: one row, partial row tiles, more rows than a row block,
    // inputs not a multiple of 4, outputs not a multiple of 16 or 32.
    for (i, &(rows, k, n)) in [
        (1, 1, 1),
        (1, 4, 16),
        (3, 7, 5),
        (5, 64, 33),
        (8, 129, 32),
        (9, 100, 47),
        (17, 33, 100),
        (130, 40, 70),
    ]
    .iter()
    .enumerate()
    {
        let weight = data(n * k, 2 * i as u64);
        let w = Int8Weight::quantize(n, k, |o, row| row.copy_from_slice(&weight[o * k..][..k]));
        let mut x = Int8Rows::default();
        x.fill(&data(rows * k, 2 * i as u64 + 1), rows, k, w.k_pad);
        let stride = n + 3; // rows apart, the gap left alone
        let reference = product(Int8Kernel::Portable, &x, &w, stride, 1);
        for r in 0..rows {
            for c in 0..n {
                let want = exact(&x, &w, r, c) as f32 * (x.scales[r] * w.scales[c]);
                assert_eq!(
                    reference[r * stride + c],
                    want,
                    "portable, {rows}×{k}×{n} at ({r}, {c})"
                );
            }
            assert!(reference[r * stride + n..][..3].iter().all(|&v| v == 0.0), "gap written");
        }
        for &kernel in &kernels {
            for threads in [1, 2, 3] {
                let got = product(kernel, &x, &w, stride, threads);
                assert_eq!(got, reference, "{}, {threads} threads, {rows}×{k}×{n}", kernel.name());
            }
        }
    }
}

#[test]
fn no_build_saturates_at_the_extremes() {
    // Every product is ±127 · ±127 with the same sign: the largest pair sums there are,
    // which a saturating 16-bit step would clip.
    let (rows, k, n) = (5, 256, 48);
    let x: Vec<f32> = (0..rows * k).map(|i| if i % k % 3 == 0 { -1.0 } else { 1.0 }).collect();
    let w = Int8Weight::quantize(n, k, |o, row| {
        for (i, v) in row.iter_mut().enumerate() {
            let same = if i % 3 == 0 { -1.0 } else { 1.0 };
            *v = if o % 2 == 0 { same } else { -same };
        }
    });
    let mut q = Int8Rows::default();
    q.fill(&x, rows, k, w.k_pad);
    for kernel in runnable() {
        let got = product(kernel, &q, &w, n, 1);
        for (j, v) in got.iter().enumerate() {
            let sign = if j % n % 2 == 0 { 1.0 } else { -1.0 };
            // 127 · 127 · k times the scales (1/127 each): exactly k.
            assert!((v - sign * k as f32).abs() < 1e-3, "{}: element {j} is {v}", kernel.name());
        }
    }
}

#[test]
fn the_int8_layer_is_within_the_quantization_bound_of_f32() {
    let (rows, k, n) = (7, 96, 40);
    let weight = data(n * k, 11);
    let bias = data(n, 12);
    let x = data(rows * k, 13);
    let f32_layer = Linear::from_torch(&weight, Some(&bias), n, k);
    let int8_layer = f32_layer.quantized_int8();
    let (mut want, mut got) = (vec![0.0; rows * n], vec![0.0; rows * n]);
    f32_layer.forward(&x, rows, None, &mut want, 1);
    int8_layer.forward(&x, rows, None, &mut got, 1);
    let mut worst = 0.0f32;
    for r in 0..rows {
        let xr = &x[r * k..][..k];
        let sx = xr.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        for c in 0..n {
            let wc = &weight[c * k..][..k];
            let sw = wc.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            // |Σxw − Σx̂ŵ| ≤ Σ|x|·|w−ŵ| + |x−x̂|·|ŵ| ≤ Σ|x|·sw/2 + sx/2·(|w| + sw/2).
            let bound: f32 = xr
                .iter()
                .zip(wc)
                .map(|(x, w)| x.abs() * sw / 2.0 + sx / 2.0 * (w.abs() + sw / 2.0))
                .sum();
            let err = (got[r * n + c] - want[r * n + c]).abs();
            assert!(err <= bound * 1.001 + 1e-6, "({r}, {c}): error {err} above the bound {bound}");
            worst = worst.max(err / bound);
        }
    }
    // The bound is reached only when every rounding error points the same way.
    assert!(worst < 0.5, "errors suspiciously close to the worst case: {worst}");
}

#[test]
fn int8_layers_keep_formats_outputs_and_weights_consistent() {
    let (rows, k, n) = (4, 21, 37);
    let weight = data(n * k, 21);
    let x = data(rows * k, 22);
    let layer = Linear::from_torch(&weight, None, n, k).quantized_int8();
    assert_eq!(layer.format(), crate::WeightFormat::Int8);
    assert_eq!(layer.quantized_int8().format(), crate::WeightFormat::Int8);
    // bf16 and f32 sources of the same values quantize identically.
    let bits: Vec<u16> = weight.iter().map(|w| (w.to_bits() >> 16) as u16).collect();
    let widened: Vec<f32> = bits.iter().map(|&b| f32::from_bits(u32::from(b) << 16)).collect();
    let from_bf16 = Linear::from_torch_bf16(bits, None, n, k).quantized_int8();
    let from_f32 = Linear::from_torch(&widened, None, n, k).quantized_int8();
    for o in 0..n {
        for i in 0..k {
            assert_eq!(from_bf16.weight_at(o, i), from_f32.weight_at(o, i));
        }
    }
    // A range of outputs is the same columns of the whole product.
    let mut full = vec![0.0; rows * n];
    layer.forward(&x, rows, None, &mut full, 1);
    let part = layer.outputs(5..30);
    let mut got = vec![0.0; rows * 25];
    part.forward(&x, rows, None, &mut got, 1);
    for r in 0..rows {
        assert_eq!(&got[r * 25..][..25], &full[r * n + 5..][..25], "row {r}");
    }
}

#[test]
fn zero_rows_give_the_bias_and_non_finite_rows_give_nan() {
    let (k, n) = (8, 3);
    let layer = Linear::from_torch(&data(n * k, 31), Some(&[1.0, 2.0, 3.0]), n, k).quantized_int8();
    let mut x = vec![0.0; 3 * k];
    x[k] = f32::NAN;
    x[2 * k + 1] = f32::INFINITY;
    let mut out = vec![0.0; 3 * n];
    layer.forward(&x, 3, None, &mut out, 1);
    assert_eq!(&out[..n], &[1.0, 2.0, 3.0]);
    assert!(out[n..].iter().all(|v| v.is_nan()), "{out:?}");
}

#[test]
fn activations_round_to_the_nearest_level_ties_to_even_in_every_build() {
    use crate::simd::{Level, quantize_row_u8};
    // Peak 127: the scale is 1, so each value is its own level, ties included.
    let mut x: Vec<f32> = (-254..=254).map(|i| i as f32 / 2.0).collect();
    x.extend(data(1000, 41).iter().map(|v| v * 127.0));
    x.push(127.0);
    for level in [Level::Portable, Level::Avx2, Level::Avx512] {
        let mut q = vec![0u8; x.len()];
        let scale = quantize_row_u8::at(level, &x, &mut q);
        assert_eq!(scale, 1.0, "{level:?}");
        for (v, q) in x.iter().zip(&q) {
            let want = v.round_ties_even() as i32 + 128;
            assert_eq!(i32::from(*q), want, "{level:?}: {v}");
        }
    }
    let mut q = [7u8; 3];
    assert_eq!(quantize_row_u8(&[0.0, -0.0, 0.0], &mut q), 0.0);
    assert_eq!(q, [128; 3]);
}
