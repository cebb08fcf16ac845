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
