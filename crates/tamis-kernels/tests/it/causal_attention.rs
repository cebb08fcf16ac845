use tamis_kernels::{
    AttentionProducts, Bf16Kernel, CausalSegment, HeadShape, causal_attention,
    causal_attention_with,
};

use crate::{MIRI_STEP, data, max_diff, pool, round_bf16};

/// Causal grouped-query attention of one sequence's rows (listed in order: its
/// context's, then its own), written from the definition in f64.
fn reference(qkv: &[f32], shape: HeadShape, rows: &[usize]) -> Vec<Vec<f32>> {
    let HeadShape { heads, kv_heads, head_dim: d } = shape;
    let width = shape.qkv_width();
    let at = |row: usize, col: usize| qkv[row * width + col] as f64;
    rows.iter()
        .enumerate()
        .map(|(i, &row)| {
            let mut out = vec![0.0f32; heads * d];
            for h in 0..heads {
                let kv = h / (heads / kv_heads);
                let (k_col, v_col) = ((heads + kv) * d, (heads + kv_heads + kv) * d);
                let scores: Vec<f64> = rows[..=i]
                    .iter()
                    .map(|&j| {
                        (0..d).map(|c| at(row, h * d + c) * at(j, k_col + c)).sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for c in 0..d {
                    let v: f64 = exps
                        .iter()
                        .zip(&rows[..=i])
                        .map(|(e, &j)| e / total * at(j, v_col + c))
                        .sum();
                    out[h * d + c] = v as f32;
                }
            }
            out
        })
        .collect()
}

#[test]
fn documents_behind_a_shared_prefix_see_it_as_if_it_preceded_each() {
    let shape = HeadShape { heads: 4, kv_heads: 2, head_dim: 8 };
    let (prefix, docs): (usize, &[usize]) =
        if MIRI_STEP > 1 { (3, &[2, 1]) } else { (7, &[1, 5, 12, 3]) };
    let mut segments = vec![CausalSegment::alone(0, prefix)];
    let mut start = prefix;
    for &len in docs {
        segments.push(CausalSegment {
            start,
            rows: len,
            context_start: 0,
            context_rows: prefix,
            queries: len,
        });
        start += len;
    }
    let rows = start;
    let qkv = data(rows * shape.qkv_width(), 41, 2.0);
    let mut got = vec![f32::NAN; rows * shape.q_width()];
    pool().install(|| causal_attention(&qkv, shape, &segments, &mut got));
    let q = shape.q_width();
    let prefix_rows: Vec<usize> = (0..prefix).collect();
    for (i, want) in reference(&qkv, shape, &prefix_rows).iter().enumerate() {
        assert!(max_diff(&got[i * q..][..q], want) < 1e-5, "prefix row {i}");
    }
    for s in &segments[1..] {
        let sequence: Vec<usize> = (0..prefix).chain(s.start..s.start + s.rows).collect();
        let want = reference(&qkv, shape, &sequence);
        for r in 0..s.rows {
            let diff = max_diff(&got[(s.start + r) * q..][..q], &want[prefix + r]);
            assert!(diff < 1e-5, "segment at {} row {r}: {diff}", s.start);
        }
    }
}

#[test]
fn only_the_trailing_query_rows_are_written() {
    let shape = HeadShape { heads: 2, kv_heads: 1, head_dim: 4 };
    let qkv = data(9 * shape.qkv_width(), 43, 1.0);
    let segments = [
        CausalSegment { start: 0, rows: 3, context_start: 0, context_rows: 0, queries: 0 },
        CausalSegment { start: 3, rows: 6, context_start: 0, context_rows: 3, queries: 1 },
    ];
    let mut got = vec![f32::NAN; 9 * shape.q_width()];
    causal_attention(&qkv, shape, &segments, &mut got);
    let q = shape.q_width();
    assert!(got[..8 * q].iter().all(|v| v.is_nan()), "rows before the last were written");
    let want = reference(&qkv, shape, &(0..9).collect::<Vec<_>>());
    assert!(max_diff(&got[8 * q..], &want[8]) < 1e-5);
}

#[test]
#[should_panic(expected = "context")]
fn a_context_after_its_segment_is_refused() {
    let shape = HeadShape { heads: 1, kv_heads: 1, head_dim: 2 };
    let qkv = vec![0.0; 4 * shape.qkv_width()];
    let mut out = vec![0.0; 4 * shape.q_width()];
    let segment =
        CausalSegment { start: 0, rows: 2, context_start: 2, context_rows: 2, queries: 2 };
    causal_attention(&qkv, shape, &[segment], &mut out);
}

#[test]
fn bf16_products_match_the_definition_on_rounded_operands() {
    let kernel = Bf16Kernel::detected();
    eprintln!("bf16 causal attention on the {} build", kernel.name());
    // Head widths on the tiles' path (32, 64: whole tile rows) and off it (6); key counts
    // below and past a 32-key block; trailing-query segments as a last layer has them.
    let shapes = [
        HeadShape { heads: 4, kv_heads: 2, head_dim: 32 },
        HeadShape { heads: 2, kv_heads: 1, head_dim: 64 },
        HeadShape { heads: 3, kv_heads: 3, head_dim: 6 },
    ];
    for shape in shapes {
        let (prefix, docs): (usize, &[usize]) =
            if MIRI_STEP > 1 { (3, &[2, 1]) } else { (9, &[1, 5, 30, 40]) };
        let mut segments = vec![CausalSegment::alone(0, prefix)];
        let mut start = prefix;
        for &len in docs {
            let context = CausalSegment {
                start,
                rows: len,
                context_start: 0,
                context_rows: prefix,
                queries: len,
            };
            segments.push(context);
            start += len;
        }
        let rows = start;
        let qkv = data(rows * shape.qkv_width(), 47, 2.0);
        let q = shape.q_width();
        let mut got = vec![f32::NAN; rows * q];
        pool().install(|| {
            causal_attention_with(AttentionProducts::Bf16, &qkv, shape, &segments, &mut got)
        });
        let rounded: Vec<f32> = qkv.iter().map(|&v| round_bf16(v)).collect();
        // The numerators are rounded too, by at most 2⁻⁹ of each weight (and the f32 and
        // f64 exponentials may round them apart by one step): 2⁻⁸ of the largest value.
        let bound = 2.0 * 2f32.powi(-8) + 1e-4;
        let mut exact = 0.0f32;
        for s in &segments {
            let sequence: Vec<usize> =
                (0..s.context_rows).chain(s.start..s.start + s.rows).collect();
            let want = reference(&rounded, shape, &sequence);
            let unrounded = reference(&qkv, shape, &sequence);
            for r in 0..s.rows {
                let row = &got[(s.start + r) * q..][..q];
                let diff = max_diff(row, &want[s.context_rows + r]);
                assert!(diff < bound, "{shape:?}, segment at {} row {r}: {diff}", s.start);
                exact = exact.max(max_diff(row, &unrounded[s.context_rows + r]));
            }
        }
        assert!(exact > 1e-4, "{shape:?}: bf16 agrees with f32 to {exact}: was it rounded?");
        // Only the last rows asked for: the same values, the other rows untouched.
        let lasts: Vec<CausalSegment> =
            segments.iter().map(|s| CausalSegment { queries: 1, ..*s }).collect();
        let mut last = vec![f32::NAN; rows * q];
        causal_attention_with(AttentionProducts::Bf16, &qkv, shape, &lasts, &mut last);
        for s in &segments {
            let end = s.start + s.rows;
            assert!(last[s.start * q..(end - 1) * q].iter().all(|v| v.is_nan()));
            assert_eq!(max_diff(&last[(end - 1) * q..end * q], &got[(end - 1) * q..end * q]), 0.0);
        }
    }
}
