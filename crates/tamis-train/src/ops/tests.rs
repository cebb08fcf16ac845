//! Every backward pass against central finite differences of a double-precision
//! reference forward: for a loss `L = Σ y·r` with random `r`, the backward given
//! `dy = r` must equal `∂L/∂input` computed numerically, to a relative error of 1e-4.

use tamis_kernels::Segment;

use super::*;

/// Deterministic values in `[-scale, scale)`.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut state =
        seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|v| *v as f32).collect()
}

/// Rounds through `f32`, so the reference sees exactly the inputs the kernels see.
fn rounded(x: Vec<f64>) -> Vec<f64> {
    x.iter().map(|v| f64::from(*v as f32)).collect()
}

/// `∂f/∂x` by central differences.
fn numeric_gradient(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = 1e-6 * x[i].abs().max(1.0);
            let original = x[i];
            x[i] = original + h;
            let up = f(&x);
            x[i] = original - h;
            let down = f(&x);
            x[i] = original;
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// `‖got − want‖∞ ≤ 1e-4 · ‖want‖∞`.
fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let norm = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(norm > 0.0, "{what}: the reference gradient is zero, which tests nothing");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((f64::from(*g) - w).abs() <= 1e-4 * norm, "{what}[{i}]: {g} vs {w} (norm {norm})");
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn linear_reference(x: &[f64], w: &[f64], b: &[f64], inputs: usize) -> Vec<f64> {
    let outputs = b.len();
    x.chunks_exact(inputs)
        .flat_map(|row| (0..outputs).map(move |o| b[o] + dot(row, &w[o * inputs..][..inputs])))
        .collect()
}

#[test]
fn linear_backward_is_the_gradient_of_linear_forward() {
    let (rows, inputs, outputs) = (5, 7, 4);
    let x = rounded(values(rows * inputs, 1, 1.0));
    let w = rounded(values(outputs * inputs, 2, 0.5));
    let b = rounded(values(outputs, 3, 0.5));
    let r = rounded(values(rows * outputs, 4, 1.0));

    let mut y = vec![0.0; rows * outputs];
    linear_forward(&to_f32(&x), &to_f32(&w), &to_f32(&b), rows, &mut y, 1);
    assert_close("y", &y, &linear_reference(&x, &w, &b, inputs));

    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; b.len()];
    let (x32, w32, r32) = (to_f32(&x), to_f32(&w), to_f32(&r));
    linear_backward(&x32, &w32, &r32, rows, Some((&mut dx, false)), &mut dw, &mut db, 1);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| dot(&linear_reference(x, w, b, inputs), &r);
    assert_close("dx", &dx, &numeric_gradient(&x, |x| loss(x, &w, &b)));
    assert_close("dw", &dw, &numeric_gradient(&w, |w| loss(&x, w, &b)));
    assert_close("db", &db, &numeric_gradient(&b, |b| loss(&x, &w, b)));

    // A second backward accumulates into every gradient when asked to.
    let (dx1, dw1, db1) = (dx.clone(), dw.clone(), db.clone());
    linear_backward(&x32, &w32, &r32, rows, Some((&mut dx, true)), &mut dw, &mut db, 2);
    for (twice, once) in [(&dx, &dx1), (&dw, &dw1), (&db, &db1)] {
        twice
            .iter()
            .zip(once)
            .for_each(|(t, o)| assert!((t - 2.0 * o).abs() <= 1e-5 * o.abs().max(1.0)));
    }
}

fn layer_norm_reference(x: &[f64], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let width = gamma.len();
    x.chunks_exact(width)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / width as f64;
            let variance = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / width as f64;
            let inverse_std = 1.0 / (variance + eps).sqrt();
            row.iter()
                .zip(gamma.iter().zip(beta))
                .map(move |(v, (g, b))| (v - mean) * inverse_std * g + b)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn layer_norm_backward_is_the_gradient_of_layer_norm_forward() {
    let (rows, width, eps) = (4, 19, 1e-12);
    let x = rounded(values(rows * width, 5, 2.0));
    let gamma = rounded(values(width, 6, 1.0));
    let beta = rounded(values(width, 7, 1.0));
    let r = rounded(values(rows * width, 8, 1.0));

    let mut y = vec![0.0; x.len()];
    let saved =
        layer_norm_forward(&to_f32(&x), &to_f32(&gamma), &to_f32(&beta), eps as f32, &mut y);
    assert_close("y", &y, &layer_norm_reference(&x, &gamma, &beta, eps));

    let mut dx = vec![f32::NAN; x.len()];
    let mut dgamma = vec![0.0; width];
    let mut dbeta = vec![0.0; width];
    layer_norm_backward(&to_f32(&r), &saved, &to_f32(&gamma), &mut dx, &mut dgamma, &mut dbeta);
    let loss = |x: &[f64], g: &[f64], b: &[f64]| dot(&layer_norm_reference(x, g, b, eps), &r);
    assert_close("dx", &dx, &numeric_gradient(&x, |x| loss(x, &gamma, &beta)));
    assert_close("dgamma", &dgamma, &numeric_gradient(&gamma, |g| loss(&x, g, &beta)));
    assert_close("dbeta", &dbeta, &numeric_gradient(&beta, |b| loss(&x, &gamma, b)));
}

/// Attention of packed segments from the definition, in `f64`, the weights of each
/// (segment, head) multiplied by `mask` (laid out as `attention_forward` lays them); rows
/// past a segment's queries stay 0.
fn attention_reference(
    qkv: &[f64],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    mask: Option<&[f32]>,
) -> Vec<f64> {
    let rows = qkv.len() / (3 * hidden);
    let head_dim = hidden / heads;
    let mut out = vec![0.0; rows * hidden];
    let at = |row: usize, column: usize| qkv[row * 3 * hidden + column];
    let mut offset = 0;
    for segment in segments {
        let (len, queries) = (segment.rows, segment.queries);
        for head in 0..heads {
            let c = head * head_dim;
            for i in segment.start..segment.start + queries {
                let scores: Vec<f64> = (segment.start..segment.start + segment.rows)
                    .map(|j| {
                        (0..head_dim).map(|d| at(i, c + d) * at(j, hidden + c + d)).sum::<f64>()
                            / (head_dim as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().fold(f64::NEG_INFINITY, |m, s| m.max(*s));
                let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                let row = offset + head * queries * len + (i - segment.start) * len;
                for d in 0..head_dim {
                    out[i * hidden + c + d] = scores
                        .iter()
                        .enumerate()
                        .map(|(n, s)| {
                            let m = mask.map_or(1.0, |mask| f64::from(mask[row + n]));
                            (s - max).exp() / total * m * at(segment.start + n, 2 * hidden + c + d)
                        })
                        .sum();
                }
            }
        }
        offset += heads * queries * len;
    }
    out
}

#[test]
fn attention_backward_is_the_gradient_of_attention_forward() {
    // Row 3 and row 9 belong to no segment: their gradient must be left alone.
    let every_row = [Segment::packed(0, 3), Segment::packed(4, 5)];
    // Leading queries only, as a classifier's last layer runs.
    let leading = [Segment { queries: 1, ..every_row[0] }, Segment { queries: 2, ..every_row[1] }];
    // Without dropout, and with half the weights dropped.
    for segments in [every_row, leading] {
        for dropout in [None, Some(Dropout { p: 0.5, key: 99 })] {
            check_attention(&segments, dropout);
        }
    }
}

fn check_attention(segments: &[Segment], dropout: Option<Dropout>) {
    let (heads, hidden, rows) = (2, 8, 10);
    let qkv = rounded(values(rows * 3 * hidden, 9, 1.5));
    let r = rounded(values(rows * hidden, 10, 1.0));
    let total: usize = segments.iter().map(|s| heads * s.queries * s.rows).sum();
    let mask = dropout.map(|d| d.mask(0, total));
    if let Some(mask) = &mask {
        let dropped = mask.iter().filter(|m| **m == 0.0).count();
        assert!(dropped > total / 4 && dropped < 3 * total / 4, "{dropped} of {total} dropped");
    }

    let mut out = vec![0.0; rows * hidden];
    let saved = attention_forward(&to_f32(&qkv), segments, heads, hidden, &mut out, dropout);
    let want = attention_reference(&qkv, segments, heads, hidden, mask.as_deref());
    assert_close("out", &out, &want);

    let mut d_qkv = vec![7.0; qkv.len()];
    attention_backward(&to_f32(&qkv), segments, heads, hidden, &saved, &to_f32(&r), &mut d_qkv);
    let reference =
        |qkv: &[f64]| dot(&attention_reference(qkv, segments, heads, hidden, mask.as_deref()), &r);
    let numeric = numeric_gradient(&qkv, reference);
    let in_segments = |row: &usize| *row != 3 && *row != 9;
    let rows_of = |x: &[f32]| -> Vec<f32> {
        (0..rows)
            .filter(in_segments)
            .flat_map(|row| x[row * 3 * hidden..][..3 * hidden].to_vec())
            .collect()
    };
    let numeric_rows: Vec<f64> = (0..rows)
        .filter(in_segments)
        .flat_map(|row| numeric[row * 3 * hidden..][..3 * hidden].to_vec())
        .collect();
    assert_close("d_qkv", &rows_of(&d_qkv), &numeric_rows);
    for row in [3, 9] {
        assert!(
            d_qkv[row * 3 * hidden..][..3 * hidden].iter().all(|v| *v == 7.0),
            "row {row} was written"
        );
    }
}

#[test]
fn dropout_masks_are_reproducible_and_drop_their_share() {
    let dropout = Dropout { p: 0.1, key: Dropout::key(7, 3, 1) };
    let mask = dropout.mask(0, 100_000);
    let dropped = mask.iter().filter(|m| **m == 0.0).count();
    assert!((9_000..11_000).contains(&dropped), "{dropped} of 100 000 dropped at p = 0.1");
    assert!(mask.iter().all(|m| *m == 0.0 || (*m - 1.0 / 0.9).abs() < 1e-7));
    // The same element under the same key, drawn alone or in a block.
    assert_eq!(dropout.mask(500, 10), mask[500..510]);
    // Drawn in parallel chunks: a block across chunk boundaries, from an offset.
    assert_eq!(dropout.mask(20_000, 40_000), mask[20_000..60_000]);
    // Another step or site draws another mask.
    let other = Dropout { p: 0.1, key: Dropout::key(7, 4, 1) }.mask(0, 1000);
    assert_ne!(other, mask[..1000]);
}

#[test]
fn tanh_and_embedding_backward_are_their_gradients() {
    let x = rounded(values(12, 11, 2.0));
    let r = rounded(values(12, 12, 1.0));
    let mut y = to_f32(&x);
    tanh_forward(&mut y);
    let mut grad = to_f32(&r);
    tanh_backward(&y, &mut grad);
    let numeric = numeric_gradient(&x, |x| x.iter().zip(&r).map(|(x, r)| x.tanh() * r).sum());
    assert_close("tanh", &grad, &numeric);

    // Rows 1 and 3 of a 4-row table of width 3, row 1 looked up twice.
    let table = rounded(values(12, 13, 1.0));
    let ids = [1u32, 3, 1];
    let mut out = vec![0.0; 9];
    embedding_forward(&to_f32(&table), 3, &ids, &mut out);
    assert_eq!(&out[..3], &out[6..]);
    let r = rounded(values(9, 14, 1.0));
    let mut d_table = vec![0.0; 12];
    embedding_backward(&to_f32(&r), 3, &ids, &mut d_table);
    let lookup = |table: &[f64]| -> f64 {
        ids.iter()
            .enumerate()
            .map(|(i, &id)| dot(&table[id as usize * 3..][..3], &r[i * 3..][..3]))
            .sum()
    };
    assert_close("d_table", &d_table, &numeric_gradient(&table, lookup));
}
