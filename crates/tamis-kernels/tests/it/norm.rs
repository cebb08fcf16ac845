use tamis_kernels::layer_norm;

use crate::{MIRI_STEP, data, max_diff, pool};

fn reference(x: &[f32], width: usize, gamma: &[f32], beta: &[f32], eps: f64) -> Vec<f32> {
    x.chunks(width)
        .flat_map(|row| {
            let mean = row.iter().map(|v| *v as f64).sum::<f64>() / width as f64;
            let var = row.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / width as f64;
            row.iter()
                .enumerate()
                .map(move |(i, v)| {
                    ((*v as f64 - mean) / (var + eps).sqrt() * gamma[i] as f64 + beta[i] as f64)
                        as f32
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn matches_the_definition_on_small_and_large_buffers() {
    // 200 rows of 384 take the parallel path; 3 rows of 37 the serial one with a tail.
    for (rows, width) in [(3, 37), (200 / MIRI_STEP, 384)] {
        let x = data(rows * width, 11, 3.0).iter().map(|v| v + 2.0).collect::<Vec<_>>();
        let (gamma, beta) = (data(width, 12, 1.0), data(width, 13, 1.0));
        let mut got = x.clone();
        pool().install(|| layer_norm(&mut got, width, &gamma, &beta, 1e-12));
        let want = reference(&x, width, &gamma, &beta, 1e-12);
        assert!(max_diff(&got, &want) < 2e-5, "{rows}x{width}: {}", max_diff(&got, &want));
    }
}

#[test]
fn a_constant_row_normalizes_to_beta() {
    let mut x = vec![5.0; 8];
    layer_norm(&mut x, 8, &[2.0; 8], &[0.25; 8], 1e-5);
    assert!(x.iter().all(|v| (v - 0.25).abs() < 1e-6));
}

fn rms_reference(row: &[f32], weight: &[f32], eps: f64) -> Vec<f32> {
    let mean_square = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / row.len() as f64;
    let inv = 1.0 / (mean_square + eps).sqrt();
    row.iter().zip(weight).map(|(v, w)| (*v as f64 * inv * *w as f64) as f32).collect()
}

#[test]
fn rms_norm_matches_the_definition_on_small_and_large_buffers() {
    for (rows, width) in [(3, 37), (200 / MIRI_STEP, 1024)] {
        let x = data(rows * width, 14, 3.0);
        let weight = data(width, 15, 2.0);
        let mut got = x.clone();
        pool().install(|| tamis_kernels::rms_norm(&mut got, width, &weight, 1e-6));
        let want: Vec<f32> =
            x.chunks(width).flat_map(|r| rms_reference(r, &weight, 1e-6)).collect();
        assert!(max_diff(&got, &want) < 2e-5, "{rows}x{width}: {}", max_diff(&got, &want));
    }
}

#[test]
fn rms_norm_heads_normalizes_each_head_and_nothing_else() {
    let (rows, stride, first, heads, d) = (5, 40, 4, 3, 8);
    let x = data(rows * stride, 16, 2.0);
    let weight = data(d, 17, 1.0);
    let mut got = x.clone();
    tamis_kernels::rms_norm_heads(&mut got, stride, first, heads, d, &weight, 1e-6);
    for r in 0..rows {
        let (row, out) = (&x[r * stride..][..stride], &got[r * stride..][..stride]);
        assert_eq!(out[..first], row[..first]);
        assert_eq!(out[first + heads * d..], row[first + heads * d..]);
        for h in 0..heads {
            let span = first + h * d..first + (h + 1) * d;
            assert!(max_diff(&out[span.clone()], &rms_reference(&row[span], &weight, 1e-6)) < 1e-5);
        }
    }
}
