//! Dense layers on the `gemm` crate, the one place this crate calls `unsafe` GEMM code.
#![allow(unsafe_code)]

/// A dense layer `y = x · Wᵀ + b`, with `W` stored transposed (`[in, out]`, row-major)
/// so the product streams it row by row.
#[derive(Debug, Clone)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    weight_t: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    /// Builds the layer from PyTorch's layout: `weight` is `[out_features, in_features]`.
    /// A missing bias is zero.
    ///
    /// # Panics
    /// If the slices' lengths do not match the sizes.
    pub fn from_torch(
        weight: &[f32],
        bias: Option<&[f32]>,
        out_features: usize,
        in_features: usize,
    ) -> Linear {
        assert_eq!(weight.len(), out_features * in_features, "Linear: weight size");
        let mut weight_t = vec![0.0; weight.len()];
        for (o, row) in weight.chunks_exact(in_features).enumerate() {
            for (i, w) in row.iter().enumerate() {
                weight_t[i * out_features + o] = *w;
            }
        }
        let bias = match bias {
            Some(b) => {
                assert_eq!(b.len(), out_features, "Linear: bias size");
                b.to_vec()
            }
            None => vec![0.0; out_features],
        };
        Linear { in_features, out_features, weight_t, bias }
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `out = x · Wᵀ + b (+ residual)` for `rows` rows; `x` is `[rows, in]`, `out` and
    /// `residual` are `[rows, out]`. The bias and residual are written first and the
    /// product accumulated onto them, so the sum costs no extra pass. `threads` > 1
    /// splits the product over the current rayon pool.
    ///
    /// # Panics
    /// If a buffer's length does not match `rows`.
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        residual: Option<&[f32]>,
        out: &mut [f32],
        threads: usize,
    ) {
        let n = self.out_features;
        assert_eq!(out.len(), rows * n, "Linear: output is not [rows, out]");
        if let Some(res) = residual {
            assert_eq!(res.len(), rows * n, "Linear: residual is not [rows, out]");
        }
        self.forward_strided(x, rows, residual, out, n, threads);
    }

    /// [`Linear::forward`] into rows `out_stride` apart: row `r` is
    /// `out[r * out_stride..][..out_features]`, and whatever lies between rows is left
    /// alone (e.g. writing K and V beside Q in a fused `[rows, 3h]` buffer).
    ///
    /// # Panics
    /// If `out_stride < out_features` or a buffer is too short for `rows`.
    pub fn forward_strided(
        &self,
        x: &[f32],
        rows: usize,
        residual: Option<&[f32]>,
        out: &mut [f32],
        out_stride: usize,
        threads: usize,
    ) {
        let (k, n) = (self.in_features, self.out_features);
        assert_eq!(x.len(), rows * k, "Linear: input is not [rows, in]");
        assert!(out_stride >= n, "Linear: output rows overlap");
        assert!(rows == 0 || (rows - 1) * out_stride + n <= out.len(), "Linear: output too short");
        let out_rows = out.chunks_mut(out_stride).take(rows);
        match residual {
            Some(res) => {
                assert!(res.len() >= rows * n, "Linear: residual is not [rows, out]");
                for (o, r) in out_rows.zip(res.chunks_exact(n)) {
                    for ((o, r), b) in o[..n].iter_mut().zip(r).zip(&self.bias) {
                        *o = r + b;
                    }
                }
            }
            None => out_rows.for_each(|o| o[..n].copy_from_slice(&self.bias)),
        }
        let lhs = Strided { data: x, row_stride: k, col_stride: 1 };
        let rhs = Strided { data: &self.weight_t, row_stride: n, col_stride: 1 };
        matmul(rows, n, k, lhs, rhs, out, out_stride, true, 1.0, threads);
    }

    /// The layer restricted to output features `range` (e.g. the Q, or the K and V,
    /// part of a fused QKV projection).
    ///
    /// # Panics
    /// If the range exceeds the outputs.
    pub fn outputs(&self, range: std::ops::Range<usize>) -> Linear {
        assert!(range.end <= self.out_features && range.start <= range.end, "Linear: bad range");
        let n = range.len();
        let mut weight_t = Vec::with_capacity(self.in_features * n);
        for row in self.weight_t.chunks_exact(self.out_features) {
            weight_t.extend_from_slice(&row[range.clone()]);
        }
        Linear {
            in_features: self.in_features,
            out_features: n,
            weight_t,
            bias: self.bias[range].to_vec(),
        }
    }
}

/// FLOPs of an `[m, k] · [k, n]` product (one multiply and one add per term).
pub fn matmul_flops(m: usize, k: usize, n: usize) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64
}

/// A read-only matrix view with element `(r, c)` at `data[r * row_stride + c * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Strided<'_> {
    /// Whether every element of a `rows × cols` matrix lies inside `data`.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// `dst = (accumulate ? dst : 0) + scale · lhs · rhs`, with `lhs` `[m, k]`, `rhs`
/// `[k, n]` and `dst` `[m, n]` row-major with row stride `dst_row_stride`.
///
/// # Panics
/// If a view does not cover its matrix or `dst`'s rows would overlap.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    lhs: Strided<'_>,
    rhs: Strided<'_>,
    dst: &mut [f32],
    dst_row_stride: usize,
    accumulate: bool,
    scale: f32,
    threads: usize,
) {
    assert!(lhs.covers(m, k) && rhs.covers(k, n), "matmul: an operand is out of bounds");
    assert!(
        m == 0 || n == 0 || ((m - 1) * dst_row_stride + n <= dst.len()),
        "matmul: dst too short"
    );
    assert!(m <= 1 || dst_row_stride >= n, "matmul: dst rows overlap");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.chunks_mut(dst_row_stride).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    let parallelism =
        if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the asserts above bound every element gemm reads (`lhs`, `rhs`) or writes
    // (`dst`, through an exclusive borrow) within its slice; strides are non-negative
    // and fit in `isize` because they index existing slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}
