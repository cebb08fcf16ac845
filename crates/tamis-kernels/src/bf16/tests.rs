use super::{Bf16Kernel, Bf16Rows, Bf16Weight, from_bf16, to_bf16, weight_product};
use crate::Linear;
use crate::test_support::{check_bases, data};
use crate::tiles::Base;

/// The builds this CPU runs (the others named, or failing under
/// `TAMIS_REQUIRE_KERNELS`: see [`crate::test_support::runs`]).
fn runnable() -> Vec<Bf16Kernel> {
    Bf16Kernel::ALL
        .into_iter()
        .filter(|k| crate::test_support::runs(k.name(), k.is_supported()))
        .collect()
}

#[test]
fn rounding_is_to_nearest_ties_to_even() {
    let cases = [
        (1.0, 1.0),
        (1.0 + 2f32.powi(-8), 1.0), // a tie, down to the even 1.0
        (1.0 + 3.0 * 2f32.powi(-8), 1.0 + 2f32.powi(-6)), // a tie, up to the even neighbour
        (1.0 + 2f32.powi(-8) + 2f32.powi(-20), 1.0 + 2f32.powi(-7)), // above the tie
        (-1.0 - 2f32.powi(-8), -1.0),
        (f32::INFINITY, f32::INFINITY),
        (f32::MAX, f32::INFINITY), // overflows, as rounding to nearest does
        (1e-40, from_bf16(to_bf16(1e-40))), // denormals are kept, not flushed
    ];
    for (v, want) in cases {
        assert_eq!(from_bf16(to_bf16(v)), want, "{v:e}");
    }
    assert!(from_bf16(to_bf16(1e-40)) != 0.0);
    for nan in [f32::NAN, f32::from_bits(0x7f80_0001), f32::from_bits(0xff80_0001)] {
        assert!(from_bf16(to_bf16(nan)).is_nan(), "{:#x}", nan.to_bits());
    }
    // Every build of the row kernel rounds the same way.
    use crate::simd::{Level, round_bf16_row};
    let x = data(1000, 3);
    let want: Vec<u16> = x.iter().map(|&v| to_bf16(v)).collect();
    for level in [Level::Portable, Level::Avx2, Level::Avx512] {
        let mut got = vec![0u16; x.len()];
        round_bf16_row::at(level, &x, &mut got);
        assert_eq!(got, want, "{level:?}");
    }
}

#[test]
fn every_build_sums_the_rounded_products_within_the_f32_bound() {
    let kernels = runnable();
    // Inputs in multiples of 32 run the AMX build's tiles (16 or fewer rows, a second
    // row half, a partial last tile, row blocks of 128); the others its fallback.
    let shapes = [
        (1, 1, 1),
        (1, 2, 16),
        (3, 7, 5),
        (9, 64, 33),
        (8, 129, 32),
        (17, 100, 47),
        (130, 40, 70),
        (17, 64, 16),
        (45, 96, 70),
        (150, 32, 33),
    ];
    for (i, &(rows, k, n)) in shapes.iter().enumerate() {
        let weight = data(n * k, 2 * i as u64);
        let w = Bf16Weight::round(n, k, |o, row| row.copy_from_slice(&weight[o * k..][..k]));
        let xs = data(rows * k, 2 * i as u64 + 1);
        let mut x = Bf16Rows::default();
        x.fill(&xs, rows, k, w.k_pad);
        let stride = n + 3; // rows apart, the gap left alone
        for &kernel in &kernels {
            for threads in [1, 2, 3] {
                let mut got = vec![0.0; rows * stride];
                weight_product(kernel, &x, &w, Base::Zero, &mut got, stride, threads);
                for r in 0..rows {
                    for c in 0..n {
                        // The exact sum of the rounded operands' products, and the bound
                        // on an f32 sum of k exact products in any order.
                        let (mut exact, mut magnitude) = (0.0f64, 0.0f64);
                        for i in 0..k {
                            let p = f64::from(from_bf16(to_bf16(xs[r * k + i])) * w.get(c, i));
                            exact += p;
                            magnitude += p.abs();
                        }
                        let bound = k as f64 * f64::from(f32::EPSILON) * magnitude + 1e-30;
                        let g = f64::from(got[r * stride + c]);
                        assert!(
                            (g - exact).abs() <= bound,
                            "{}, {threads} threads, {rows}×{k}×{n} at ({r}, {c}): {g} vs {exact}",
                            kernel.name()
                        );
                    }
                    assert!(got[r * stride + n..][..3].iter().all(|&v| v == 0.0), "gap written");
                }
            }
        }
    }
}

#[test]
fn every_build_adds_the_bias_and_residual_as_a_fill_pass_would() {
    let shapes = [(1, 2, 16), (3, 7, 5), (9, 64, 33), (130, 40, 70), (45, 96, 70)];
    for (i, &(rows, k, n)) in shapes.iter().enumerate() {
        let weight = data(n * k, 2 * i as u64);
        let w = Bf16Weight::round(n, k, |o, row| row.copy_from_slice(&weight[o * k..][..k]));
        let mut x = Bf16Rows::default();
        x.fill(&data(rows * k, 2 * i as u64 + 1), rows, k, w.k_pad);
        let stride = n + 3;
        for kernel in runnable() {
            // The builds sum in different orders, so each is checked against its own
            // products.
            let mut products = vec![0.0; rows * stride];
            weight_product(kernel, &x, &w, Base::Zero, &mut products, stride, 2);
            let what = format!("{}, {rows}×{k}×{n}", kernel.name());
            check_bases(&what, (rows, n, stride), &products, |base, out| {
                weight_product(kernel, &x, &w, base, out, stride, 2)
            });
        }
    }
}

#[test]
fn the_bf16_layer_is_within_the_rounding_bound_of_f32() {
    let (rows, k, n) = (7, 96, 40);
    let weight = data(n * k, 11);
    let bias = data(n, 12);
    let x = data(rows * k, 13);
    let f32_layer = Linear::from_torch(&weight, Some(&bias), n, k);
    let bf16_layer = f32_layer.quantized_bf16();
    assert_eq!(bf16_layer.format(), crate::WeightFormat::Bf16Dot);
    let (mut want, mut got) = (vec![0.0; rows * n], vec![0.0; rows * n]);
    f32_layer.forward(&x, rows, None, &mut want, 1);
    bf16_layer.forward(&x, rows, None, &mut got, 1);
    for r in 0..rows {
        for c in 0..n {
            // Each operand is off by at most 2⁻⁹ of itself, so each product by about 2⁻⁸.
            let magnitude: f32 = (0..k).map(|i| (x[r * k + i] * weight[c * k + i]).abs()).sum();
            let err = (got[r * n + c] - want[r * n + c]).abs();
            assert!(err <= magnitude * 2f32.powi(-8) * 1.01 + 1e-6, "({r}, {c}): {err}");
        }
    }
}

#[test]
fn bf16_layers_keep_outputs_and_weights_consistent() {
    let (rows, k, n) = (4, 21, 37);
    let weight = data(n * k, 21);
    let x = data(rows * k, 22);
    let layer = Linear::from_torch(&weight, None, n, k).quantized_bf16();
    assert_eq!(layer.quantized_bf16().format(), crate::WeightFormat::Bf16Dot);
    // bfloat16 weights are kept exactly.
    let bits: Vec<u16> = weight.iter().map(|&w| to_bf16(w)).collect();
    let exact = Linear::from_torch_bf16(bits.clone(), None, n, k).quantized_bf16();
    for o in 0..n {
        for i in 0..k {
            assert_eq!(exact.weight_at(o, i), from_bf16(bits[o * k + i]));
            assert_eq!(layer.weight_at(o, i), from_bf16(bits[o * k + i]));
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
    // Non-finite inputs reach the outputs they touch.
    let mut bad = x.clone();
    bad[k + 3] = f32::NAN;
    layer.forward(&bad, rows, None, &mut full, 1);
    assert!(full[n..2 * n].iter().all(|v| v.is_nan()));
    assert!(full[..n].iter().chain(&full[2 * n..]).all(|v| v.is_finite()));
}

/// The rounding buffer is reused from call to call without clearing: what an earlier,
/// larger call left (NaN here, which a zero weight would not cancel) never shows through
/// the padding.
#[test]
fn a_reused_activation_buffer_pads_with_zeros() {
    let mut x = Bf16Rows::default();
    x.fill(&[f32::NAN; 4 * 9], 4, 9, 10);
    x.fill(&[1.5; 3 * 7], 3, 7, 8);
    assert_eq!(x.data.len(), 3 * 8);
    for row in x.data.chunks_exact(8) {
        assert_eq!(
            row,
            [
                to_bf16(1.5),
                to_bf16(1.5),
                to_bf16(1.5),
                to_bf16(1.5),
                to_bf16(1.5),
                to_bf16(1.5),
                to_bf16(1.5),
                0
            ]
        );
    }
}

/// The largest error of `layer` against `f32_layer` on `x`, as a fraction of each
/// output's magnitude `Σ |xᵢ·wᵢ|` (the scale of every summation bound).
fn worst_relative_error(f32_layer: &Linear, layer: &Linear, x: &[f32], rows: usize) -> f32 {
    let (k, n) = (f32_layer.in_features(), f32_layer.out_features());
    let (mut want, mut got) = (vec![0.0; rows * n], vec![0.0; rows * n]);
    f32_layer.forward(x, rows, None, &mut want, 1);
    layer.forward(x, rows, None, &mut got, 1);
    let mut worst = 0.0f32;
    for r in 0..rows {
        for c in 0..n {
            let magnitude: f32 =
                (0..k).map(|i| (x[r * k + i] * f32_layer.weight_at(c, i)).abs()).sum();
            worst = worst.max((got[r * n + c] - want[r * n + c]).abs() / magnitude);
        }
    }
    worst
}

#[test]
fn the_split_layer_is_within_2_to_the_minus_14_of_f32_where_bf16_is_not() {
    for (rows, k, n) in [(7, 96, 40), (33, 40, 70), (3, 1, 5)] {
        let weight = data(n * k, 31);
        let x = data(rows * k, 32);
        let f32_layer = Linear::from_torch(&weight, Some(&data(n, 33)), n, k);
        let split = f32_layer.quantized_bf16x3();
        assert_eq!(split.format(), crate::WeightFormat::Bf16x3);
        let split_error = worst_relative_error(&f32_layer, &split, &x, rows);
        // The dropped terms are each about 2⁻¹⁸ of a product; the rest is the f32 sums'.
        assert!(split_error <= 2f32.powi(-14), "{rows}×{k}×{n}: {split_error:e}");
        let bf16_error = worst_relative_error(&f32_layer, &f32_layer.quantized_bf16(), &x, rows);
        assert!(bf16_error > 64.0 * split_error, "bf16 {bf16_error:e}, split {split_error:e}");
        // Its weights are the f32 ones to within the split's rounding.
        for o in 0..n {
            for i in 0..k {
                let w = weight[o * k + i];
                assert!((split.weight_at(o, i) - w).abs() <= w.abs() * 2f32.powi(-16));
            }
        }
        // Converting back and forth gives the plain bf16 layer, and splitting a split
        // layer again keeps it.
        assert_eq!(split.quantized_bf16().format(), crate::WeightFormat::Bf16Dot);
        assert_eq!(split.quantized_bf16x3().format(), crate::WeightFormat::Bf16x3);
    }
}

#[test]
fn every_build_computes_split_products_and_bf16_weights_take_two_parts() {
    let (rows, k, n) = (37, 50, 45);
    let weight = data(n * k, 41);
    let x = data(rows * k, 42);
    let from_f32 = Bf16Weight::split(n, k, |o, row| row.copy_from_slice(&weight[o * k..][..k]));
    // Each part padded to a tile row; `wₕ` and `wₗ` stored once each.
    assert_eq!((from_f32.parts, from_f32.k_pad), (3, 64));
    assert_eq!(from_f32.packed.len(), 2 * 64 * 64);
    // bfloat16 weights are exact in one part: the third term, `wₗ`, would be all zeros,
    // and only `wₕ` is kept (as much memory as a bf16 weight).
    let bits: Vec<f32> = weight.iter().map(|&w| from_bf16(to_bf16(w))).collect();
    let from_bf16_bits = Bf16Weight::split(n, k, |o, row| row.copy_from_slice(&bits[o * k..][..k]));
    assert_eq!((from_bf16_bits.parts, from_bf16_bits.packed.len()), (2, 64 * 64));
    // Row counts that reach every path of the AMX build's split tiles: 32 rows, a
    // partial second row half (20), and 16 or fewer (5).
    for (rows, w_source, w) in [(37, &weight, &from_f32), (37, &bits, &from_bf16_bits)]
        .into_iter()
        .chain([(20, &weight, &from_f32), (5, &bits, &from_bf16_bits)])
    {
        let x = &x[..rows * k];
        let mut rounded = Bf16Rows::default();
        w.fill(&mut rounded, x, rows);
        for kernel in runnable() {
            let mut out = vec![0.0; rows * n];
            weight_product(kernel, &rounded, w, Base::Zero, &mut out, n, 2);
            // Against the three terms summed in f64: each build sums in its own order,
            // within the f32 bound.
            for (i, &got) in out.iter().enumerate() {
                let (r, c) = (i / n, i % n);
                let (mut want, mut size) = (0.0f64, 0.0f64);
                for j in 0..k {
                    let split = |v: f32| {
                        let high = from_bf16(to_bf16(v));
                        (f64::from(high), f64::from(from_bf16(to_bf16(v - high))))
                    };
                    let ((xh, xl), (wh, wl)) = (split(x[r * k + j]), split(w_source[c * k + j]));
                    let terms = [xh * wh, xl * wh, xh * wl];
                    want += terms.iter().sum::<f64>();
                    size += terms.iter().map(|t| t.abs()).sum::<f64>();
                }
                let bound = 1e-6 * (1.0 + size);
                let err = (f64::from(got) - want).abs();
                assert!(err <= bound, "{} {rows} rows: {i}: {got} vs {want}", kernel.name());
            }
        }
    }
    // A range of a split layer's outputs is the same columns of its whole product.
    let layer = Linear::from_torch(&weight, None, n, k).quantized_bf16x3();
    let mut full = vec![0.0; rows * n];
    layer.forward(&x, rows, None, &mut full, 1);
    let part = layer.outputs(5..40);
    assert_eq!(part.format(), crate::WeightFormat::Bf16x3);
    let mut got = vec![0.0; rows * 35];
    part.forward(&x, rows, None, &mut got, 1);
    for r in 0..rows {
        assert_eq!(&got[r * 35..][..35], &full[r * n + 5..][..35], "row {r}");
    }
}

/// As for rounded rows: a reused split buffer pads every part with zeros.
#[test]
fn a_reused_split_buffer_pads_every_part_with_zeros() {
    let mut x = Bf16Rows::default();
    x.fill_split(&[f32::NAN; 4 * 40], 4, 40, 64);
    let v = 1.0 + 2f32.powi(-12); // one bfloat16 part is not enough for it
    x.fill_split(&[v; 3 * 7], 3, 7, 32);
    assert_eq!(x.data.len(), 3 * 64);
    let (high, low) = (to_bf16(v), to_bf16(v - from_bf16(to_bf16(v))));
    assert_eq!(from_bf16(high) + from_bf16(low), v);
    for row in x.data.chunks_exact(64) {
        for (part, want) in row.chunks_exact(32).zip([high, low]) {
            assert_eq!(&part[..7], &[want; 7]);
            assert!(part[7..].iter().all(|&p| p == 0), "{part:?}");
        }
    }
}

#[test]
fn every_build_splits_the_same_way() {
    use crate::simd::{Level, split_bf16_row};
    let x = data(1000, 5);
    let high: Vec<u16> = x.iter().map(|&v| to_bf16(v)).collect();
    let low: Vec<u16> = x.iter().zip(&high).map(|(&v, &h)| to_bf16(v - from_bf16(h))).collect();
    for level in [Level::Portable, Level::Avx2, Level::Avx512] {
        let (mut h, mut l) = (vec![0u16; x.len()], vec![0u16; x.len()]);
        split_bf16_row::at(level, &x, &mut h, &mut l);
        assert_eq!((h, l), (high.clone(), low.clone()), "{level:?}");
    }
}
