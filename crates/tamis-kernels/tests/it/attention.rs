use tamis_kernels::{
    AttentionProducts, Bf16Kernel, Reach, Segment, attention, attention_reaching, attention_with,
};

use crate::{MIRI_STEP, data, max_diff, pool, round_bf16};

/// Attention of one segment written from the definition: softmax(q·kᵀ/√d over the
/// segment's keys) · v, per head.
fn reference(
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    rows: usize,
) -> Vec<f32> {
    reference_rounded(qkv, segments, heads, hidden, rows, |v| v, None)
}

/// [`reference`] with the products' operands (queries, keys, values and the softmax
/// numerators) passed through `round`.
fn reference_rounded(
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    rows: usize,
    round: impl Fn(f32) -> f32,
    window: Option<usize>,
) -> Vec<f32> {
    let d = hidden / heads;
    let mut out = vec![0.0f32; rows * hidden];
    let at = |row: usize, part: usize, head: usize, c: usize| {
        f64::from(round(qkv[row * 3 * hidden + part * hidden + head * d + c]))
    };
    for s in segments {
        for h in 0..heads {
            for i in s.start..s.start + s.rows {
                // Out of the window: -inf, whose exponential is exactly 0.
                let scores: Vec<f64> = (s.start..s.start + s.keys)
                    .map(|j| match window {
                        Some(w) if i.abs_diff(j) > w => f64::NEG_INFINITY,
                        _ => {
                            (0..d).map(|c| at(i, 0, h, c) * at(j, 1, h, c)).sum::<f64>()
                                / (d as f64).sqrt()
                        }
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for c in 0..d {
                    let value: f64 = exps
                        .iter()
                        .enumerate()
                        .map(|(j, &e)| {
                            f64::from(round(e as f32)) / total * at(s.start + j, 2, h, c)
                        })
                        .sum();
                    out[i * hidden + h * d + c] = value as f32;
                }
            }
        }
    }
    out
}

#[test]
fn packed_sequences_attend_only_to_their_own_keys() {
    // Under Miri, each GEMM call costs about as much as a whole test natively.
    let (heads, hidden) = if MIRI_STEP > 1 { (2, 16) } else { (4, 32) };
    let lengths: &[usize] = if MIRI_STEP > 1 { &[1, 3, 5, 4, 2] } else { &[1, 5, 17, 40, 3] };
    let mut segments = Vec::new();
    let mut start = 0;
    for &len in lengths {
        segments.push(Segment::packed(start, len));
        start += len;
    }
    let rows = start;
    let qkv = data(rows * 3 * hidden, 31, 2.0);
    let mut got = vec![f32::NAN; rows * hidden];
    pool().install(|| attention(&qkv, &segments, heads, hidden, &mut got));
    let want = reference(&qkv, &segments, heads, hidden, rows);
    assert!(max_diff(&got, &want) < 1e-5, "{}", max_diff(&got, &want));

    // Changing one sequence's tokens leaves every other sequence's output unchanged.
    let mut other = qkv.clone();
    for row in segments[3].start..segments[3].start + segments[3].rows {
        other[row * 3 * hidden..(row + 1) * 3 * hidden].iter_mut().for_each(|v| *v = -*v * 0.5);
    }
    let mut changed = vec![0.0; rows * hidden];
    attention(&other, &segments, heads, hidden, &mut changed);
    for (i, s) in segments.iter().enumerate() {
        let range = s.start * hidden..(s.start + s.rows) * hidden;
        let same = max_diff(&changed[range.clone()], &got[range]) == 0.0;
        assert_eq!(same, i != 3, "segment {i}");
    }
}

#[test]
fn local_reach_attends_within_the_window_only() {
    // Sequences shorter and longer than the window, and longer than a block of queries.
    let (heads, hidden) = if MIRI_STEP > 1 { (2, 16) } else { (4, 32) };
    let lengths: &[usize] = if MIRI_STEP > 1 { &[1, 6, 9] } else { &[1, 6, 9, 40, 150] };
    for w in [1, 4, 40] {
        let mut segments = Vec::new();
        let mut start = 0;
        for &len in lengths {
            segments.push(Segment::packed(start, len));
            start += len;
        }
        let rows = start;
        let qkv = data(rows * 3 * hidden, 71 + w as u64, 2.0);
        for products in [AttentionProducts::F32, AttentionProducts::Bf16] {
            let mut got = vec![f32::NAN; rows * hidden];
            pool().install(|| {
                attention_reaching(
                    products,
                    Reach::Local(w),
                    &qkv,
                    &segments,
                    heads,
                    hidden,
                    &mut got,
                )
            });
            let want = reference_rounded(&qkv, &segments, heads, hidden, rows, |v| v, Some(w));
            let diff = max_diff(&got, &want);
            assert!(diff < 1e-5, "window {w}, {products:?}: {diff}");
        }
    }
}

#[test]
fn long_sequences_take_their_queries_in_blocks_with_the_same_result() {
    // 1100 keys: the score budget takes 953 queries at a time, so two blocks.
    if MIRI_STEP > 1 {
        return;
    }
    let (heads, hidden, rows) = (1, 8, 1100);
    let qkv = data(rows * 3 * hidden, 81, 1.0);
    let segments = [Segment::packed(0, rows)];
    let mut got = vec![f32::NAN; rows * hidden];
    pool().install(|| attention(&qkv, &segments, heads, hidden, &mut got));
    let want = reference(&qkv, &segments, heads, hidden, rows);
    assert!(max_diff(&got, &want) < 1e-5, "{}", max_diff(&got, &want));
}

#[test]
fn padding_rows_are_never_keys() {
    // A padded segment (8 rows, 5 real) gives its real rows the output of the packed one.
    let (heads, hidden) = (2, 16);
    let qkv = data(8 * 3 * hidden, 41, 1.0);
    let mut padded = vec![0.0; 8 * hidden];
    attention(
        &qkv,
        &[Segment { start: 0, rows: 8, keys: 5, queries: 8 }],
        heads,
        hidden,
        &mut padded,
    );
    let mut packed = vec![0.0; 5 * hidden];
    attention(
        &qkv[..5 * 3 * hidden],
        &[Segment { start: 0, rows: 5, keys: 5, queries: 5 }],
        heads,
        hidden,
        &mut packed,
    );
    assert_eq!(max_diff(&padded[..5 * hidden], &packed), 0.0);
    let want =
        reference(&qkv, &[Segment { start: 0, rows: 8, keys: 5, queries: 8 }], heads, hidden, 8);
    assert!(max_diff(&padded, &want) < 1e-5);
}

#[test]
fn gaps_between_segments_are_left_alone() {
    let (heads, hidden) = (1, 8);
    let qkv = data(6 * 3 * hidden, 51, 1.0);
    let mut out = vec![7.0; 6 * hidden];
    let segments = [
        Segment { start: 0, rows: 2, keys: 2, queries: 2 },
        Segment { start: 4, rows: 2, keys: 1, queries: 2 },
    ];
    attention(&qkv, &segments, heads, hidden, &mut out);
    assert!(out[2 * hidden..4 * hidden].iter().all(|v| *v == 7.0));
}

#[test]
#[should_panic(expected = "overlap or are out of order")]
fn overlapping_segments_are_refused() {
    let segments = [
        Segment { start: 0, rows: 3, keys: 3, queries: 3 },
        Segment { start: 2, rows: 2, keys: 2, queries: 2 },
    ];
    attention(&[0.0; 5 * 24], &segments, 1, 8, &mut [0.0; 5 * 8]);
}

#[test]
fn first_query_only_computes_the_first_row_exactly() {
    // A classifier's last layer: only row 0 of each sequence is read. (Not bit-equal:
    // the GEMM picks another micro-kernel for one row.)
    let (heads, hidden) = if MIRI_STEP > 1 { (2, 16) } else { (4, 32) };
    let (first_len, second_len) = if MIRI_STEP > 1 { (4, 7) } else { (9, 30) };
    let rows = first_len + second_len;
    let segments = [Segment::packed(0, first_len), Segment::packed(first_len, second_len)];
    let qkv = data(rows * 3 * hidden, 61, 2.0);
    let mut full = vec![0.0; rows * hidden];
    attention(&qkv, &segments, heads, hidden, &mut full);
    let firsts = segments.map(|s| Segment { queries: 1, ..s });
    let mut first = vec![f32::NAN; rows * hidden];
    attention(&qkv, &firsts, heads, hidden, &mut first);
    for s in segments {
        let row = s.start * hidden..(s.start + 1) * hidden;
        assert!(max_diff(&first[row.clone()], &full[row]) < 1e-6);
        assert!(
            first[(s.start + 1) * hidden..(s.start + s.rows) * hidden].iter().all(|v| v.is_nan())
        );
    }
}

#[test]
fn bf16_products_match_the_definition_on_rounded_operands() {
    let kernel = Bf16Kernel::detected();
    eprintln!("bf16 attention on the {} build", kernel.name());
    // Head widths of 8, 40 (past one 32-column block) and 5 (odd); key counts odd and
    // even, past one 32-key block; a padded segment and first-query ones.
    for (heads, hidden) in [(4, 32), (2, 80), (3, 15)] {
        let lengths: &[usize] = if MIRI_STEP > 1 { &[1, 3, 4] } else { &[1, 5, 17, 40, 33] };
        let mut segments = Vec::new();
        let mut start = 0;
        for &len in lengths {
            segments.push(Segment::packed(start, len));
            start += len;
        }
        segments.push(Segment { start, rows: 9, keys: 6, queries: 9 });
        let rows = start + 9;
        let qkv = data(rows * 3 * hidden, 71, 2.0);
        let mut got = vec![f32::NAN; rows * hidden];
        pool().install(|| {
            attention_with(AttentionProducts::Bf16, &qkv, &segments, heads, hidden, &mut got)
        });
        let want = reference_rounded(&qkv, &segments, heads, hidden, rows, round_bf16, None);
        // The numerators are rounded from `f32` scores and exponentials, the reference's
        // from `f64` ones: one may round the other way, by at most one bfloat16 step
        // (2⁻⁸ relative) of each weight, so by 2⁻⁸ of the largest value at most.
        let bound = 2.0 * 2f32.powi(-8) + 1e-4;
        let diff = max_diff(&got, &want);
        assert!(diff < bound, "{heads} heads of {hidden}: off by {diff}, bound {bound}");
        // And it did round: the unrounded definition is further off than f32 error.
        let exact = max_diff(&got, &reference(&qkv, &segments, heads, hidden, rows));
        eprintln!(
            "{heads} heads of {hidden}: {diff} from the rounded definition, {exact} from f32"
        );
        assert!(exact > 1e-4, "bf16 attention agrees with f32 to {exact}: was it rounded?");

        let firsts: Vec<Segment> = segments.iter().map(|s| Segment { queries: 1, ..*s }).collect();
        let mut first = vec![f32::NAN; rows * hidden];
        attention_with(AttentionProducts::Bf16, &qkv, &firsts, heads, hidden, &mut first);
        for s in &segments {
            let row = s.start * hidden..(s.start + 1) * hidden;
            assert_eq!(max_diff(&first[row.clone()], &got[row]), 0.0);
        }
    }
}
