//! Token vectors of late-interaction (ColBERT) models, and their stored form.
//!
//! A text's token vectors are a row-major `[rows, dim]` matrix of unit-length rows.
//! Stored, each row is `dim` little-endian fp16 values (half the bytes of fp32; a unit
//! vector's components lose at most 2⁻¹¹ of their size), or a little-endian `f32` scale
//! and `dim` int8 values, `x ≈ scale · q` with `scale = max|x| / 127` per row (a quarter
//! of the bytes, plus four per row). The bytes carry no header: the index records the
//! storage and the dimension once.

/// A text's token vectors, row-major `[rows, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenMatrix {
    /// Width of one row.
    pub dim: usize,
    /// The rows, end to end.
    pub data: Vec<f32>,
}

impl TokenMatrix {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `row`.
    ///
    /// # Panics
    /// If there is no such row.
    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..][..self.dim]
    }
}

/// How token vectors are stored.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenStorage {
    /// IEEE half precision, 2 bytes per value.
    #[default]
    F16,
    /// int8 with an `f32` scale per row: 1 byte per value, 4 per row.
    Int8,
}

/// Stored token vectors whose length is not a whole number of rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes of {storage:?} token vectors are not whole rows of {dim} values")]
pub struct BadTokenBytes {
    /// The length found.
    pub len: usize,
    /// The storage read.
    pub storage: TokenStorage,
    /// The dimension read.
    pub dim: usize,
}

impl TokenStorage {
    /// Bytes one stored row of `dim` values takes.
    pub fn row_bytes(self, dim: usize) -> usize {
        match self {
            TokenStorage::F16 => 2 * dim,
            TokenStorage::Int8 => 4 + dim,
        }
    }

    /// The stored form of `matrix`.
    pub fn encode(self, matrix: &TokenMatrix) -> Vec<u8> {
        let dim = matrix.dim.max(1);
        let mut out = Vec::with_capacity(matrix.rows() * self.row_bytes(dim));
        match self {
            TokenStorage::F16 => {
                for &x in &matrix.data {
                    out.extend_from_slice(&half::f16::from_f32(x).to_le_bytes());
                }
            }
            TokenStorage::Int8 => {
                for row in matrix.data.chunks_exact(dim) {
                    let largest = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
                    out.extend_from_slice(&scale.to_le_bytes());
                    // Within ±127 by the scale's choice; `as` saturates NaN to 0.
                    out.extend(
                        row.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8),
                    );
                }
            }
        }
        out
    }

    /// Appends the rows stored in `bytes` to `out` as `f32` and returns how many there
    /// were.
    pub fn decode_into(
        self,
        bytes: &[u8],
        dim: usize,
        out: &mut Vec<f32>,
    ) -> Result<usize, BadTokenBytes> {
        let row_bytes = self.row_bytes(dim);
        if dim == 0 || !bytes.len().is_multiple_of(row_bytes) {
            return Err(BadTokenBytes { len: bytes.len(), storage: self, dim });
        }
        let rows = bytes.len() / row_bytes;
        let start = out.len();
        out.resize(start + rows * dim, 0.0);
        let out = &mut out[start..];
        match self {
            TokenStorage::F16 => match bytemuck::try_cast_slice::<u8, u16>(bytes) {
                // In place and vectorized (F16C where the CPU has it): a stage decodes
                // thousands of rows per query.
                Ok(bits) if cfg!(target_endian = "little") => {
                    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
                    bits.reinterpret_cast::<half::f16>().convert_to_f32_slice(out);
                }
                _ => {
                    for (x, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                        *x = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                    }
                }
            },
            TokenStorage::Int8 => {
                for (row, values) in bytes.chunks_exact(row_bytes).zip(out.chunks_exact_mut(dim)) {
                    let (scale, quantized) = row.split_at(4);
                    let scale = f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]);
                    for (x, &q) in values.iter_mut().zip(quantized) {
                        *x = scale * f32::from(q as i8);
                    }
                }
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests;
