//! Sizes and strides whose bounds overflow `usize` (or whose strides do not fit the
//! `isize` that gemm takes) are refused with the kernel's own message.
//!
//! Unchecked arithmetic used to wrap in release builds, where a wrapped bound passed
//! the check and gemm read and wrote out of bounds; run these with `--release` too.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tamis_kernels::{Linear, Segment, attention};

/// 2⁶³: the first `usize` that does not fit in `isize`.
const PAST_ISIZE: usize = isize::MAX as usize + 1;

/// A named call and the panic message it must contain.
type Case = (&'static str, &'static str, Box<dyn FnOnce()>);

/// Runs every case and checks that each panics with its expected message, naming the
/// cases that did not (a wrapped check would return, or crash in gemm).
fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (name, expected, case) in cases {
        match catch_unwind(AssertUnwindSafe(case)) {
            Ok(()) => failures.push(format!("{name}: returned instead of refusing")),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                if !message.contains(expected) {
                    failures.push(format!("{name}: panicked with {message:?}, not {expected:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn linear_refuses_sizes_and_strides_whose_bounds_overflow() {
    // A 2→2 layer: `rows · 2` wraps to 2 when rows = 2⁶³ + 1.
    let layer = || Linear::from_torch(&[1.0; 4], None, 2, 2);
    check(vec![
        (
            "weight size overflows",
            "Linear: weight size",
            // 2 · (2⁶³ + 1) wraps to 2, the weight's length.
            Box::new(|| drop(Linear::from_torch(&[1.0; 2], None, 2, PAST_ISIZE + 1))),
        ),
        (
            "weight size of usize::MAX²",
            "Linear: weight size",
            // (2⁶⁴ - 1)² wraps to 1.
            Box::new(|| drop(Linear::from_torch(&[1.0], None, usize::MAX, usize::MAX))),
        ),
        (
            "rows · out overflows",
            "Linear: output is not [rows, out]",
            Box::new(move || layer().forward(&[1.0; 2], PAST_ISIZE + 1, None, &mut [0.0; 2], 1)),
        ),
        (
            "rows · in overflows",
            "Linear: input is not [rows, in]",
            Box::new(move || {
                layer().forward_strided(&[1.0; 2], PAST_ISIZE + 1, None, &mut [0.0; 2], 2, 1)
            }),
        ),
        (
            "usize::MAX rows",
            "Linear: output is not [rows, out]",
            Box::new(move || layer().forward(&[1.0; 2], usize::MAX, None, &mut [0.0; 2], 1)),
        ),
        (
            "stride overflows only times the row count",
            "Linear: output too short",
            // (3 - 1) · 2⁶³ wraps to 0, so the last row seemed to end at 2; gemm got a
            // row stride of isize::MIN.
            Box::new(move || {
                layer().forward_strided(&[1.0; 6], 3, None, &mut [0.0; 2], PAST_ISIZE, 1)
            }),
        ),
        (
            "usize::MAX stride",
            "Linear: output too short",
            // (2 - 1) · (2⁶⁴ - 1) + 2 wraps to 1.
            Box::new(move || {
                layer().forward_strided(&[1.0; 4], 2, None, &mut [0.0; 4], usize::MAX, 1)
            }),
        ),
        (
            "one row, stride past isize::MAX",
            "matmul: a stride does not fit in isize",
            Box::new(move || {
                layer().forward_strided(&[1.0; 2], 1, None, &mut [0.0; 2], PAST_ISIZE, 1)
            }),
        ),
    ]);
}

#[test]
fn attention_refuses_segments_and_widths_whose_bounds_overflow() {
    // Two rows of hidden width 2 (one head), so `x · 2` wraps for x = 2⁶³ + 1.
    let qkv = [0.5; 12];
    let run = move |segments: Vec<Segment>, heads: usize, hidden: usize| {
        let mut out = vec![0.0; 4];
        attention(&qkv, &segments, heads, hidden, &mut out);
    };
    let segment = |start, rows| Segment { start, rows, keys: 1, queries: 1 };
    check(vec![
        (
            "zero width",
            "attention: 0 is not 1 heads wide",
            Box::new(move || attention(&[], &[], 1, 0, &mut [])),
        ),
        (
            "fused QKV width overflows",
            "attention: buffer sizes",
            Box::new(move || attention(&[], &[], 1, usize::MAX / 3 + 1, &mut [])),
        ),
        (
            "segment rows · width overflows",
            "attention: a segment exceeds the buffers",
            // (2⁶³ + 1) · 2 wraps to 2: the segment seemed to be one row long.
            Box::new(move || run(vec![segment(0, PAST_ISIZE + 1)], 1, 2)),
        ),
        (
            "segment start · width overflows",
            "attention: a segment exceeds the buffers",
            // Row 2⁶³ + 1 wrapped to row 1, and was computed there.
            Box::new(move || run(vec![segment(PAST_ISIZE + 1, 1)], 1, 2)),
        ),
        (
            "segment start + rows overflows",
            "attention: a segment exceeds the buffers",
            Box::new(move || run(vec![segment(1, 1), segment(usize::MAX, 1)], 1, 2)),
        ),
        (
            "more queries than rows",
            "attention: bad key or query count",
            Box::new(move || {
                run(vec![Segment { start: 0, rows: 1, keys: 1, queries: usize::MAX }], 1, 2)
            }),
        ),
    ]);
}
