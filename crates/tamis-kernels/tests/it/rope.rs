use tamis_kernels::RopeTable;

use crate::{data, max_diff};

#[test]
fn rotates_half_split_pairs_by_the_position_angle() {
    let (d, theta) = (8, 10_000.0f32);
    let table = RopeTable::new(d, theta, 50);
    let (heads, stride, first) = (2, 2 * d + 3, 3);
    let positions = [0, 1, 49];
    let x = data(positions.len() * stride, 51, 2.0);
    let mut got = x.clone();
    table.apply(&mut got, stride, first, heads, &positions);
    for (r, &p) in positions.iter().enumerate() {
        let row = &x[r * stride..][..stride];
        let mut want = row.to_vec();
        for h in 0..heads {
            for j in 0..d / 2 {
                let angle = p as f64 / (theta as f64).powf(2.0 * j as f64 / d as f64);
                let (a, b) = (row[first + h * d + j] as f64, row[first + h * d + j + d / 2] as f64);
                want[first + h * d + j] = (a * angle.cos() - b * angle.sin()) as f32;
                want[first + h * d + j + d / 2] = (b * angle.cos() + a * angle.sin()) as f32;
            }
        }
        // Columns outside the heads are untouched; the angle is f32 as in transformers.
        assert_eq!(got[r * stride..][..first], row[..first]);
        assert!(max_diff(&got[r * stride..][..stride], &want) < 2e-5 * (1.0 + p as f32), "row {r}");
    }
}

#[test]
fn scores_depend_only_on_the_distance_between_positions() {
    let d = 16;
    let mut table = RopeTable::new(d, 1e6, 4);
    table.ensure(300);
    assert_eq!(table.positions(), 300);
    let (q, k) = (data(d, 52, 1.0), data(d, 53, 1.0));
    let dot = |pq: usize, pk: usize| {
        let (mut q, mut k) = (q.clone(), k.clone());
        table.apply(&mut q, d, 0, 1, &[pq]);
        table.apply(&mut k, d, 0, 1, &[pk]);
        q.iter().zip(&k).map(|(a, b)| a * b).sum::<f32>()
    };
    assert!((dot(5, 2) - dot(205, 202)).abs() < 1e-4);
    assert!((dot(5, 2) - dot(5, 3)).abs() > 1e-4, "the rotation does nothing");
}
