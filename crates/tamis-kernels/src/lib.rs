//! CPU kernels for tamis' transformer encoders.
//!
//! The encoder in `tamis-models` is a handful of operations repeated per layer, and
//! this crate holds them, each behind a safe API and tested against a scalar reference:
//!
//! - [`Linear`]: a dense layer `x · Wᵀ + b (+ residual)`, with `W` transposed once at
//!   load time and the product computed by the `gemm` crate (AVX2/FMA micro-kernels,
//!   split over the caller's rayon pool), or with int8 weights
//!   ([`Linear::quantized_int8`]) whose products run on the [`Int8Kernel`] the CPU has
//!   (AVX512-VNNI, AVX-VNNI, AVX2 or portable, all computing the same integers), or
//!   with bfloat16 products ([`Linear::quantized_bf16`]) on the [`Bf16Kernel`] the CPU
//!   has (Intel AMX tiles, AVX512-BF16, or a portable reference).
//! - [`attention()`]: multi-head self-attention over **packed** sequences (no padding
//!   rows): each sequence attends only to its own keys, read in place from the fused
//!   QKV buffer, so no per-head copies are made.
//! - [`causal_attention()`]: causal grouped-query attention for decoder models, where
//!   packed sequences can share a prefix's keys and values (a reranker's prompt),
//!   and [`RopeTable`], the rotary positions it is used with.
//! - [`layer_norm`], [`rms_norm`], [`gelu_erf`], [`swiglu`] and the other activations:
//!   row and element kernels compiled for AVX2+FMA and picked at run time, with a
//!   portable fallback.
//! - [`max_sim()`]: ColBERT's late-interaction score of one query against many
//!   documents, one small GEMM per document.
//! - [`peak`]: the machine's peak FMA throughput, the yardstick for GEMM efficiency.
//!
//! ```
//! use tamis_kernels::{Linear, layer_norm};
//!
//! // A 2→3 layer in PyTorch's `[out, in]` layout, applied to two rows.
//! let layer = Linear::from_torch(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], Some(&[0.0, 0.0, 0.5]), 3, 2);
//! let mut out = vec![0.0; 6];
//! layer.forward(&[1.0, 2.0, 3.0, 4.0], 2, None, &mut out, 1);
//! assert_eq!(out, [1.0, 2.0, 3.5, 3.0, 4.0, 7.5]);
//!
//! let mut rows = out.clone();
//! layer_norm(&mut rows, 3, &[1.0; 3], &[0.0; 3], 1e-12);
//! assert!(rows[..3].iter().sum::<f32>().abs() < 1e-5);
//! ```
#![deny(missing_docs)]

mod activation;
pub mod amx;
mod attention;
mod bf16;
mod causal_attention;
mod int8;
mod linear;
mod max_sim;
mod norm;
pub mod peak;
mod relative_attention;
mod rope;
mod simd;
mod tiles;

pub use activation::{
    Activation, gated, gelu_erf, gelu_erf_backward, gelu_tanh, relu, silu, softmax_rows, swiglu,
    tanh,
};
pub use attention::{
    AttentionProducts, Reach, Segment, attention, attention_reaching, attention_with,
};
pub use bf16::Bf16Kernel;
pub use causal_attention::{CausalSegment, HeadShape, causal_attention, causal_attention_with};
pub use int8::Int8Kernel;
pub use linear::{Linear, Strided, WeightFormat, matmul, matmul_flops};
pub use max_sim::{max_sim, max_sim_with};
pub use norm::{layer_norm, rms_norm, rms_norm_heads};
pub use relative_attention::{RelativeBias, disentangled_attention};
pub use rope::RopeTable;

/// Below this many elements a kernel runs on the calling thread: splitting costs more.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

#[cfg(test)]
mod test_support {
    /// Deterministic values in [-1, 1) (a small LCG: the tests need no statistics).
    pub(crate) fn data(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Checks a packed product's epilogue for every [`Base`](crate::tiles::Base):
    /// `run(base, out)` computes the product onto `out` (`rows` rows of `n` columns,
    /// `stride` apart), whose products alone are `products`. Each result must be, bit
    /// for bit, what a fill pass then an accumulation gives, whatever the output held
    /// before, and the gap between rows must keep its old values.
    pub(crate) fn check_bases(
        what: &str,
        (rows, n, stride): (usize, usize, usize),
        products: &[f32],
        run: impl Fn(crate::tiles::Base, &mut [f32]),
    ) {
        use crate::tiles::Base;
        let bias = data(n, 101);
        let residual = data(rows * n, 102);
        let old = data(rows * stride, 103);
        let bases = [
            ("zero", Base::Zero),
            ("the bias", Base::Bias { bias: &bias, residual: None }),
            ("the bias and residual", Base::Bias { bias: &bias, residual: Some(&residual) }),
        ];
        for (name, base) in bases {
            let mut got = old.clone();
            run(base, &mut got);
            for r in 0..rows {
                for c in 0..stride {
                    let at = r * stride + c;
                    let want = if c >= n {
                        old[at]
                    } else {
                        let start = match base {
                            Base::Zero => 0.0,
                            Base::Bias { residual: None, .. } => bias[c],
                            Base::Bias { residual: Some(res), .. } => res[r * n + c] + bias[c],
                        };
                        start + products[at]
                    };
                    assert_eq!(got[at], want, "{what}, onto {name}, at ({r}, {c})");
                }
            }
        }
    }

    /// Whether a test may run the build `name`, which the CPU runs when `supported`.
    /// A build the CPU lacks is named on stderr rather than skipped in silence, and
    /// fails the test when `TAMIS_REQUIRE_KERNELS` (comma-separated build names, or
    /// `all`) lists it: a machine whose CPU is known sets it, so that a detection bug
    /// cannot pass the tests by running only the portable builds.
    pub(crate) fn runs(name: &str, supported: bool) -> bool {
        if supported {
            return true;
        }
        let required = std::env::var("TAMIS_REQUIRE_KERNELS").unwrap_or_default();
        let wanted = required.split(',').any(|n| n.trim() == name || n.trim() == "all");
        assert!(!wanted, "TAMIS_REQUIRE_KERNELS names {name}, which this CPU cannot run");
        eprintln!("kernel build {name} not tested: this CPU lacks its instructions");
        false
    }
}
