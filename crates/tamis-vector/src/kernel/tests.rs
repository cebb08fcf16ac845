//! The dot kernel against a scalar reference.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{LANES, dot};

/// The obvious sequential loop, accumulated in `f64` so it is the more accurate side.
fn dot_reference(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
}

/// Checks `dot` on seeded random vectors of length `len` against the reference.
fn check(len: usize) {
    let mut rng = StdRng::seed_from_u64(len as u64);
    let a: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    let b: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    let got = f64::from(dot(&a, &b));
    let expect = dot_reference(&a, &b);
    // Each product is at most 1 in magnitude; f32 summation error grows at most
    // linearly with the length, and the pairwise reduction keeps it far below that.
    let tolerance = 1e-6 * (len as f64 + 1.0);
    assert!((got - expect).abs() <= tolerance, "len {len}: dot {got}, reference {expect}");
}

#[test]
fn matches_reference_at_awkward_lengths() {
    let lengths =
        [0, 1, 2, 3, 7, LANES - 1, LANES, LANES + 1, 2 * LANES + 5, 100, 383, 384, 385, 1023];
    for len in lengths {
        check(len);
    }
}

#[test]
fn exact_on_small_integers() {
    let cases: &[(&[f32], &[f32], f32)] = &[
        (&[], &[], 0.0),
        (&[2.0], &[3.0], 6.0),
        (&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 32.0),
        (&[1.0; 17], &[2.0; 17], 34.0),
        (&[1.0; 33], &[-1.0; 33], -33.0),
    ];
    for &(a, b, expect) in cases {
        assert_eq!(dot(a, b), expect, "dot({a:?}, {b:?})");
    }
}
