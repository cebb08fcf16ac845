use super::{Int8Kernel, Int8Rows, Int8Weight, SCALE_GROUP, weight_product};
use crate::Linear;
use crate::test_support::{check_bases, data};
use crate::tiles::Base;

/// The builds this CPU runs (the others named, or failing under
/// `TAMIS_REQUIRE_KERNELS`: see [`crate::test_support::runs`]).
fn runnable() -> Vec<Int8Kernel> {
    Int8Kernel::ALL
        .into_iter()
        .filter(|k| crate::test_support::runs(k.name(), k.is_supported()))
        .collect()
}

/// What every build must compute for row `r`, column `c`, straight from the quantized
/// operands: each group's exact integer sum, with the unsigned weights' shift, scaled
/// and summed in `f32` in the order the builds use, then the correction taken out.
fn expected(x: &Int8Rows, w: &Int8Weight, r: usize, c: usize) -> f32 {
    let mut sum = 0.0f32;
    for g in 0..x.groups {
        let raw: i64 = (g * SCALE_GROUP..(g + 1) * SCALE_GROUP)
            .map(|i| {
                let qw = if i < w.in_features { i64::from(w.get(c, i)) } else { 0 };
                i64::from(x.data[r * w.k_pad + i]) * (qw + 128)
            })
            .sum();
        // The shift is exactly what the weights' +128 adds.
        let shift: i64 = (g * SCALE_GROUP..(g + 1) * SCALE_GROUP)
            .map(|i| 128 * i64::from(x.data[r * w.k_pad + i]))
            .sum();
        assert_eq!(shift, i64::from(x.shifts[r * x.groups + g]));
        sum = (raw as f32).mul_add(x.scales[r * x.groups + g], sum);
    }
    (sum - x.corrections[r]) * w.scales[c]
}

fn product(
    kernel: Int8Kernel,
    x: &Int8Rows,
    w: &Int8Weight,
    stride: usize,
    threads: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; x.rows * stride];
    weight_product(kernel, x, w, Base::Zero, &mut out, stride, threads);
    out
}

#[test]
fn every_build_adds_the_bias_and_residual_as_a_fill_pass_would() {
    for (i, &(rows, k, n)) in
        [(1, 4, 16), (3, 7, 5), (8, 129, 32), (13, 100, 47), (130, 40, 70)].iter().enumerate()
    {
        let weight = data(n * k, 2 * i as u64);
        let w = Int8Weight::quantize(n, k, |o, row| row.copy_from_slice(&weight[o * k..][..k]));
        let mut x = Int8Rows::default();
        x.fill(&data(rows * k, 2 * i as u64 + 1), rows, k, w.k_pad);
        let stride = n + 3;
        let products = product(Int8Kernel::Portable, &x, &w, stride, 1);
        for kernel in runnable() {
            for threads in [1, 2] {
                let what = format!("{}, {threads} threads, {rows}×{k}×{n}", kernel.name());
                check_bases(&what, (rows, n, stride), &products, |base, out| {
                    weight_product(kernel, &x, &w, base, out, stride, threads)
                });
            }
        }
    }
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
        (7, 64, 40),
        (13, 100, 47),
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
                let want = expected(&x, &w, r, c);
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
        // Each input's activation scale: its group's peak over 127.
        let sx: Vec<f32> = xr
            .chunks(SCALE_GROUP)
            .flat_map(|g| {
                let s = g.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
                std::iter::repeat_n(s, g.len())
            })
            .collect();
        for c in 0..n {
            let wc = &weight[c * k..][..k];
            let sw = wc.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            // |Σxw − Σx̂ŵ| ≤ Σ|x|·|w−ŵ| + |x−x̂|·|ŵ| ≤ Σ|x|·sw/2 + sx/2·(|w| + sw/2).
            let bound: f32 = xr
                .iter()
                .zip(wc)
                .zip(&sx)
                .map(|((x, w), sx)| x.abs() * sw / 2.0 + sx / 2.0 * (w.abs() + sw / 2.0))
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
    use crate::simd::{Level, quantize_groups_i8};
    // Every group holds ±127, so its scale is 1 and each value is its own level, ties
    // included; the last group is partial and padded with zeros.
    let values: Vec<f32> = (-254..=254)
        .map(|i| i as f32 / 2.0)
        .chain(data(1000, 41).iter().map(|v| v * 127.0))
        .collect();
    let mut x = Vec::new();
    for (i, chunk) in values.chunks(SCALE_GROUP - 1).enumerate() {
        x.push(if i % 2 == 0 { 127.0 } else { -127.0 });
        x.extend_from_slice(chunk);
    }
    let k_pad = x.len().next_multiple_of(SCALE_GROUP);
    let groups = k_pad / SCALE_GROUP;
    for level in Level::runnable() {
        let mut q = vec![7i8; k_pad];
        let (mut scales, mut shifts) = (vec![0.0; groups], vec![0; groups]);
        let correction = quantize_groups_i8::at(level, &x, &mut q, &mut scales, &mut shifts);
        assert!(scales.iter().all(|&s| s == 1.0), "{level:?}: {scales:?}");
        for (v, q) in x.iter().zip(&q) {
            assert_eq!(f32::from(*q), v.round_ties_even(), "{level:?}: {v}");
        }
        assert!(q[x.len()..].iter().all(|&q| q == 0), "{level:?}: padding");
        for (g, chunk) in q.chunks(SCALE_GROUP).enumerate() {
            assert_eq!(shifts[g], 128 * chunk.iter().map(|&q| i32::from(q)).sum::<i32>());
        }
        let want: f64 = shifts.iter().map(|&s| f64::from(s)).sum();
        assert_eq!(correction, want as f32, "{level:?}");
    }
    // A zero group has scale 0; a group with a NaN or an infinity has scale NaN, and
    // only that group.
    let mut x = vec![0.0f32; 3 * SCALE_GROUP];
    x[SCALE_GROUP + 3] = f32::NAN;
    x[2 * SCALE_GROUP] = f32::INFINITY;
    x[2 * SCALE_GROUP + 1] = 1.0;
    for level in Level::runnable() {
        let mut q = vec![7i8; x.len()];
        let (mut scales, mut shifts) = (vec![1.0; 3], vec![1; 3]);
        let correction = quantize_groups_i8::at(level, &x, &mut q, &mut scales, &mut shifts);
        assert_eq!(scales[0], 0.0, "{level:?}");
        assert!(scales[1].is_nan() && scales[2].is_nan(), "{level:?}: {scales:?}");
        assert!(q.iter().all(|&q| q == 0) && shifts == [0, 0, 0], "{level:?}");
        assert!(correction.is_nan(), "{level:?}");
    }
}

#[test]
fn every_build_quantizes_activations_to_the_same_bits() {
    use crate::simd::{Level, quantize_groups_i8};
    // Rows of every length around the group width, values spread over many magnitudes
    // (so the groups' scales differ), with a partial last group.
    let values = data(4000, 43);
    for len in [1, 31, 32, 33, 95, 384, 1000, 1536] {
        let x: Vec<f32> = values[..len]
            .iter()
            .enumerate()
            .map(|(i, v)| v * 10f32.powi(i as i32 % 7 - 3))
            .collect();
        let k_pad = len.next_multiple_of(SCALE_GROUP);
        let groups = k_pad / SCALE_GROUP;
        let run = |level| {
            let mut q = vec![7i8; k_pad];
            let (mut scales, mut shifts) = (vec![0.0; groups], vec![0; groups]);
            let c = quantize_groups_i8::at(level, &x, &mut q, &mut scales, &mut shifts);
            (q, scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), shifts, c.to_bits())
        };
        let want = run(Level::Portable);
        for level in Level::runnable() {
            assert!(run(level) == want, "{level:?} differs from portable at length {len}");
        }
    }
}

#[test]
fn one_large_channel_costs_only_its_own_group() {
    // A LayerNorm output's shape: one channel 100× the rest. With one scale per row it
    // would take the whole row's levels (a step of 0.79 for values within ±1); with
    // groups, the other groups keep theirs. The outlier's own group holds nothing else,
    // so only the other groups' rounding remains.
    let (rows, k, n) = (3, 4 * SCALE_GROUP, 8);
    let mut x = data(rows * k, 51);
    for r in 0..rows {
        x[r * k..][..SCALE_GROUP].fill(0.0);
        x[r * k + 5] = 100.0;
    }
    // The outlier's weights are each channel's peak, so they quantize exactly too.
    let mut weight = data(n * k, 52);
    for c in 0..n {
        weight[c * k + 5] = if c % 2 == 0 { 1.0 } else { -1.0 };
    }
    let f32_layer = Linear::from_torch(&weight, None, n, k);
    let (mut want, mut got) = (vec![0.0; rows * n], vec![0.0; rows * n]);
    f32_layer.forward(&x, rows, None, &mut want, 1);
    f32_layer.quantized_int8().forward(&x, rows, None, &mut got, 1);
    // Per row, the 96 other inputs would each be off by up to 0.39 (about 2 in all);
    // per group, by at most 1/254 each.
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 0.1, "{g} vs {w}");
    }
}

/// As bf16's: the quantization buffer is reused without clearing, and the padding
/// groups of a smaller call still quantize to zero, with zero scales and shifts.
#[test]
fn a_reused_activation_buffer_pads_with_zeros() {
    let mut x = Int8Rows::default();
    let k_pad = 3 * SCALE_GROUP;
    x.fill(&vec![f32::NAN; 5 * k_pad], 5, k_pad, k_pad);
    let k = SCALE_GROUP + 3;
    let small = data(2 * k, 7);
    x.fill(&small, 2, k, k_pad);
    let mut fresh = Int8Rows::default();
    fresh.fill(&small, 2, k, k_pad);
    assert_eq!((x.data.len(), x.scales.len(), x.shifts.len()), (2 * k_pad, 6, 6));
    assert_eq!(x.data, fresh.data);
    assert_eq!(x.shifts, fresh.shifts);
    assert_eq!(
        x.scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
        fresh.scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(
        x.corrections.iter().map(|c| c.to_bits()).collect::<Vec<_>>(),
        fresh.corrections.iter().map(|c| c.to_bits()).collect::<Vec<_>>()
    );
    for row in x.data.chunks_exact(k_pad) {
        assert!(row[k..].iter().all(|&q| q == 0), "padding not zero");
    }
    assert!(x.scales.chunks_exact(3).all(|s| s[2] == 0.0), "an empty group has a scale");
}
