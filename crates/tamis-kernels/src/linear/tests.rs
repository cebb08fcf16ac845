use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{Strided, extent, matmul};

/// 2⁶³: the first `usize` that does not fit in `isize`.
const PAST_ISIZE: usize = isize::MAX as usize + 1;

#[test]
fn extent_is_one_past_the_last_element_or_none_on_overflow() {
    let check = |(rows, cols, row_stride, col_stride): (usize, usize, usize, usize),
                 expect: Option<usize>| {
        assert_eq!(
            extent(rows, cols, row_stride, col_stride),
            expect,
            "{rows}×{cols}, strides {row_stride}, {col_stride}"
        );
    };
    check((0, 5, usize::MAX, usize::MAX), Some(0));
    check((5, 0, usize::MAX, usize::MAX), Some(0));
    check((1, 1, usize::MAX, usize::MAX), Some(1));
    check((2, 3, 4, 1), Some(7));
    check((3, 2, 1, 3), Some(6));
    check((usize::MAX, 1, 1, usize::MAX), Some(usize::MAX));
    // The last index fits, one past it does not.
    check((usize::MAX, 2, 1, 1), None);
    // A stride that overflows only times the row count.
    check((3, 2, PAST_ISIZE, 1), None);
    check((2, 1, usize::MAX, 0), None);
    // Each term fits, their sum does not.
    check((2, 2, PAST_ISIZE, PAST_ISIZE), None);
    check((PAST_ISIZE + 1, 1, 2, 0), None);
    check((1, usize::MAX, 0, 2), None);
}

/// A named call and the panic message it must contain.
type Case<'a> = (&'static str, &'static str, Box<dyn FnOnce() + 'a>);

/// The panic message of `f`, or `None` when it returns.
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
}

#[test]
fn matmul_refuses_views_whose_bounds_overflow() {
    let data = [1.0f32; 4];
    let view = |row_stride, col_stride| Strided { data: &data, row_stride, col_stride };
    let contiguous = view(2, 1);
    let cases: [Case<'_>; 6] = [
        (
            "lhs rows · stride wraps to inside",
            "matmul: an operand is out of bounds",
            // (2⁶³ + 1 - 1) · 2 + 1 wraps to 1.
            Box::new(|| {
                matmul(
                    PAST_ISIZE + 1,
                    1,
                    2,
                    contiguous,
                    contiguous,
                    &mut [0.0; 4],
                    1,
                    false,
                    1.0,
                    1,
                )
            }),
        ),
        (
            "rhs column stride wraps to 0",
            "matmul: an operand is out of bounds",
            // Kᵀ-like view: (3 - 1) · 2⁶³ wraps to 0.
            Box::new(|| {
                matmul(1, 3, 1, contiguous, view(1, PAST_ISIZE), &mut [0.0; 4], 3, false, 1.0, 1)
            }),
        ),
        (
            "dst stride overflows times the row count",
            "matmul: dst too short",
            Box::new(|| {
                matmul(3, 1, 1, view(1, 1), contiguous, &mut [0.0; 4], PAST_ISIZE, false, 1.0, 1)
            }),
        ),
        (
            "dst stride of usize::MAX",
            "matmul: dst too short",
            // As an `isize` this stride was -1: gemm wrote before the buffer.
            Box::new(|| {
                matmul(2, 1, 1, contiguous, contiguous, &mut [0.0; 4], usize::MAX, false, 1.0, 1)
            }),
        ),
        (
            "one row, dst stride past isize::MAX",
            "matmul: a stride does not fit in isize",
            Box::new(|| {
                matmul(1, 2, 1, contiguous, contiguous, &mut [0.0; 4], PAST_ISIZE, false, 1.0, 1)
            }),
        ),
        (
            "one row, lhs stride past isize::MAX",
            "matmul: a stride does not fit in isize",
            Box::new(|| {
                matmul(1, 2, 2, view(usize::MAX, 1), contiguous, &mut [0.0; 4], 2, false, 1.0, 1)
            }),
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, expected, case)| match panic_message(case) {
            Some(message) if message.contains(expected) => None,
            Some(message) => Some(format!("{name}: panicked with {message:?}")),
            None => Some(format!("{name}: returned instead of refusing")),
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn matmul_with_no_inner_dimension_zeroes_or_keeps_strided_rows() {
    let empty = Strided { data: &[], row_stride: 0, col_stride: 0 };
    let mut dst = [5.0; 7];
    // Two rows of two, three apart: elements 2 and 5.. stay.
    matmul(2, 2, 0, empty, empty, &mut dst, 3, true, 1.0, 1);
    assert_eq!(dst, [5.0; 7]);
    matmul(2, 2, 0, empty, empty, &mut dst, 3, false, 1.0, 1);
    assert_eq!(dst, [0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 5.0]);
    // One row with a row stride of 0, which `chunks_mut` would refuse.
    let mut one = [5.0; 2];
    matmul(1, 2, 0, empty, empty, &mut one, 0, false, 1.0, 1);
    assert_eq!(one, [0.0; 2]);
}

/// Callers that share one pool (Python threads scoring with one model): a pool thread
/// waiting for its product's jobs steals another caller's layer, which must not find
/// that thread's scratch buffer borrowed (a panic, before). Every answer equals the one
/// computed alone, for each kind of weight that uses a scratch buffer.
#[test]
fn callers_sharing_a_pool_get_the_answer_computed_alone() {
    use super::Linear;
    let (k, n, rows) = (384, 1536, 128);
    let value = |i: usize, m: usize| (i * 7919 % m) as f32 / m as f32 - 0.5;
    let weight: Vec<f32> = (0..n * k).map(|i| value(i, 1009)).collect();
    let x: Vec<f32> = (0..rows * k).map(|i| value(i, 997)).collect();
    let fp32 = Linear::from_torch(&weight, None, n, k);
    let bits = weight.iter().map(|w| (w.to_bits() >> 16) as u16).collect();
    let layers = [
        ("int8", fp32.quantized_int8()),
        ("bf16x3", fp32.quantized_bf16x3()),
        ("bf16 weights widened", Linear::from_torch_bf16(bits, None, n, k)),
    ];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for (name, layer) in &layers {
        let mut alone = vec![0.0; rows * n];
        pool.install(|| layer.forward(&x, rows, None, &mut alone, 2));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        let mut out = vec![0.0; rows * n];
                        pool.install(|| layer.forward(&x, rows, None, &mut out, 2));
                        assert!(out == alone, "{name}: a concurrent answer differs");
                    }
                });
            }
        });
    }
}

/// A batch longer than the rows a low-precision product converts at once is computed in
/// groups: every row, its residual and its strided output place still meet, as when the
/// row is computed alone.
#[test]
fn a_long_batch_gives_each_row_what_it_gives_alone() {
    use super::{Linear, SCRATCH_ROWS};
    let (k, n, rows, stride) = (64, 48, 2 * SCRATCH_ROWS + 37, 53);
    let value = |i: usize, m: usize| (i * 7919 % m) as f32 / m as f32 - 0.5;
    let weight: Vec<f32> = (0..n * k).map(|i| value(i, 1009)).collect();
    let bias: Vec<f32> = (0..n).map(|i| value(i, 31)).collect();
    let x: Vec<f32> = (0..rows * k).map(|i| value(i, 997)).collect();
    let residual: Vec<f32> = (0..rows * n).map(|i| value(i, 101)).collect();
    let fp32 = Linear::from_torch(&weight, Some(&bias), n, k);
    for (name, layer) in [("int8", fp32.quantized_int8()), ("bf16x3", fp32.quantized_bf16x3())] {
        let mut out = vec![f32::NAN; (rows - 1) * stride + n];
        layer.forward_strided(&x, rows, Some(&residual), &mut out, stride, 2);
        for r in
            [0, 1, SCRATCH_ROWS - 1, SCRATCH_ROWS, SCRATCH_ROWS + 1, 2 * SCRATCH_ROWS, rows - 1]
        {
            let mut alone = vec![0.0; n];
            let row_residual = &residual[r * n..][..n];
            layer.forward(&x[r * k..][..k], 1, Some(row_residual), &mut alone, 1);
            let got = &out[r * stride..][..n];
            for (c, (g, a)) in got.iter().zip(&alone).enumerate() {
                assert!(
                    (g - a).abs() <= 1e-5 * (1.0 + a.abs()),
                    "{name} row {r} column {c}: {g} against {a}"
                );
            }
        }
        // The gaps between strided rows are never written.
        assert!(out[n..stride].iter().all(|v| v.is_nan()), "{name} wrote between rows");
    }
}
