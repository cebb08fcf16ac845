//! Rotary position embeddings in the half-split ("NeoX") layout of Llama, Qwen2 and
//! Qwen3: component `j` of a head rotates with component `j + head_dim/2`.

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;

/// The cosines and sines of every position up to a length, for one head width and base.
#[derive(Debug, Clone)]
pub struct RopeTable {
    head_dim: usize,
    theta: f32,
    inv_freq: Vec<f32>,
    /// `[positions, head_dim/2]` each.
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTable {
    /// A table for heads `head_dim` wide rotating with base `theta`, covering positions
    /// `0..positions` (grown later by [`RopeTable::ensure`]).
    ///
    /// The frequencies and angles are computed in `f32` as transformers computes them
    /// (`1 / theta^(2i/d)`, then `position · inv_freq`), so the rotation matches its
    /// to the last bit of the angle, which matters at long positions.
    ///
    /// # Panics
    /// If `head_dim` is 0 or odd.
    pub fn new(head_dim: usize, theta: f32, positions: usize) -> RopeTable {
        assert!(head_dim > 0 && head_dim.is_multiple_of(2), "RopeTable: odd head_dim {head_dim}");
        let half = head_dim / 2;
        let inv_freq =
            (0..half).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect();
        let mut table = RopeTable { head_dim, theta, inv_freq, cos: Vec::new(), sin: Vec::new() };
        table.ensure(positions);
        table
    }

    /// The head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// The base.
    pub fn theta(&self) -> f32 {
        self.theta
    }

    /// The angle per position of each rotated pair: `1 / theta^(2i/head_dim)`.
    pub fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// How many positions the table covers.
    pub fn positions(&self) -> usize {
        self.cos.len() / (self.head_dim / 2)
    }

    /// Extends the table to cover positions `0..positions`.
    pub fn ensure(&mut self, positions: usize) {
        for position in self.positions()..positions {
            for &f in &self.inv_freq {
                let angle = position as f32 * f;
                self.cos.push(angle.cos());
                self.sin.push(angle.sin());
            }
        }
    }

    /// Rotates, in place, the `heads` consecutive head slices that start at column
    /// `first_col` of each `row_stride`-wide row of `x`, row `r` by `positions[r]`
    /// (queries and keys in a fused QKV buffer).
    ///
    /// # Panics
    /// If the slices do not fit in a row, `x` does not hold exactly `positions.len()`
    /// rows, or a position is beyond the table.
    pub fn apply(
        &self,
        x: &mut [f32],
        row_stride: usize,
        first_col: usize,
        heads: usize,
        positions: &[usize],
    ) {
        let end = heads.checked_mul(self.head_dim).and_then(|w| w.checked_add(first_col));
        assert!(
            end.is_some_and(|end| end <= row_stride),
            "RopeTable::apply: {heads} heads of {} from column {first_col} exceed rows of {row_stride}",
            self.head_dim
        );
        assert_eq!(
            positions.len().checked_mul(row_stride),
            Some(x.len()),
            "RopeTable::apply: not one position per row"
        );
        let limit = self.positions();
        assert!(
            positions.iter().all(|&p| p < limit),
            "RopeTable::apply: a position beyond the table"
        );
        let half = self.head_dim / 2;
        let width = heads * self.head_dim;
        let rotate = |(row, &position): (&mut [f32], &usize)| {
            let cos = &self.cos[position * half..][..half];
            let sin = &self.sin[position * half..][..half];
            for head in row[first_col..first_col + width].chunks_exact_mut(self.head_dim) {
                let (a, b) = head.split_at_mut(half);
                for (((a, b), c), s) in a.iter_mut().zip(b.iter_mut()).zip(cos).zip(sin) {
                    // `x·cos + rotate_half(x)·sin`, as transformers rounds it (no FMA).
                    let (x0, x1) = (*a, *b);
                    *a = x0 * c - x1 * s;
                    *b = x1 * c + x0 * s;
                }
            }
        };
        if x.len() < PARALLEL_MIN_ELEMENTS {
            x.chunks_exact_mut(row_stride).zip(positions).for_each(rotate);
        } else {
            x.par_chunks_exact_mut(row_stride).zip(positions).for_each(rotate);
        }
    }
}
