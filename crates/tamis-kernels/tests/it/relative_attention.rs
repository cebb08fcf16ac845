use tamis_kernels::{RelativeBias, Segment, disentangled_attention};

use crate::{MIRI_STEP, data, max_diff, pool};

/// Buckets of distances within `reach`: linear within `span / 2`, then spread
/// logarithmically, like DeBERTa's (the exact curve does not matter to the kernel).
fn buckets(reach: usize, span: usize) -> Vec<i32> {
    let mid = (span / 2) as i32;
    (-(reach as i32)..=reach as i32)
        .map(|d| if d.abs() <= mid { d } else { d.signum() * (mid + (d.abs() - mid) / 3) })
        .collect()
}

/// The definition, in f64: softmax over the keys of
/// `(q_i·k_j + q_i·pk[c2p(i,j)] + k_j·pq[p2c(i,j)]) / √(d·terms)`, times v.
fn reference(
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    bias: &RelativeBias<'_>,
) -> Vec<f32> {
    let d = hidden / heads;
    let rows = qkv.len() / (3 * hidden);
    let reach = (bias.buckets.len() / 2) as isize;
    let terms =
        1 + bias.position_keys.is_some() as usize + bias.position_queries.is_some() as usize;
    let scale = ((d * terms) as f64).sqrt();
    let span = bias.span as isize;
    let row_of = |bucket: isize| (bucket + span).clamp(0, 2 * span - 1) as usize;
    let bucket = |delta: isize| bias.buckets[(delta + reach) as usize] as isize;
    let mut out = vec![0.0f32; rows * hidden];
    let at = |row: usize, part: usize, h: usize, c: usize| {
        f64::from(qkv[row * 3 * hidden + part * hidden + h * d + c])
    };
    for s in segments {
        for h in 0..heads {
            for i in 0..s.queries {
                let scores: Vec<f64> = (0..s.keys)
                    .map(|j| {
                        let (qi, kj) = (s.start + i, s.start + j);
                        let mut score: f64 =
                            (0..d).map(|c| at(qi, 0, h, c) * at(kj, 1, h, c)).sum();
                        if let Some(pk) = bias.position_keys {
                            let r = row_of(bucket(i as isize - j as isize));
                            score += (0..d)
                                .map(|c| at(qi, 0, h, c) * f64::from(pk[r * hidden + h * d + c]))
                                .sum::<f64>();
                        }
                        if let Some(pq) = bias.position_queries {
                            let r = row_of(-bucket(j as isize - i as isize));
                            score += (0..d)
                                .map(|c| at(kj, 1, h, c) * f64::from(pq[r * hidden + h * d + c]))
                                .sum::<f64>();
                        }
                        score / scale
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for c in 0..d {
                    let value: f64 = exps
                        .iter()
                        .enumerate()
                        .map(|(j, e)| e / total * at(s.start + j, 2, h, c))
                        .sum();
                    out[(s.start + i) * hidden + h * d + c] = value as f32;
                }
            }
        }
    }
    out
}

#[test]
fn disentangled_attention_matches_the_definition_with_either_term_or_both() {
    let (heads, hidden, span) = if MIRI_STEP > 1 { (2, 16, 4) } else { (4, 32, 8) };
    let lengths: &[usize] = if MIRI_STEP > 1 { &[1, 5, 3] } else { &[1, 5, 30, 2] };
    let reach = 40;
    let table = buckets(reach, span);
    let position_keys = data(2 * span * hidden, 91, 1.0);
    let position_queries = data(2 * span * hidden, 92, 1.0);
    let mut segments = Vec::new();
    let mut start = 0;
    for &len in lengths {
        // Padded rows after each segment but the first: never keys.
        let rows = if start == 0 { len } else { len + 2 };
        segments.push(Segment { start, rows, keys: len, queries: rows });
        start += rows;
    }
    let qkv = data(start * 3 * hidden, 93, 2.0);
    for (keys, queries) in [(true, true), (true, false), (false, true), (false, false)] {
        let bias = RelativeBias {
            position_keys: keys.then_some(&position_keys[..]),
            position_queries: queries.then_some(&position_queries[..]),
            span,
            buckets: &table,
        };
        let mut got = vec![f32::NAN; start * hidden];
        pool().install(|| disentangled_attention(&qkv, &segments, heads, hidden, &bias, &mut got));
        let want = reference(&qkv, &segments, heads, hidden, &bias);
        let diff = max_diff(&got, &want);
        assert!(diff < 2e-5, "c2p {keys}, p2c {queries}: {diff}");
        // Only the first query of each segment: that row is the same.
        let firsts: Vec<Segment> = segments.iter().map(|s| Segment { queries: 1, ..*s }).collect();
        let mut first = vec![f32::NAN; start * hidden];
        disentangled_attention(&qkv, &firsts, heads, hidden, &bias, &mut first);
        for s in &segments {
            let row = s.start * hidden..(s.start + 1) * hidden;
            assert!(max_diff(&first[row.clone()], &got[row]) < 1e-6);
        }
    }
}

#[test]
#[should_panic(expected = "longer than the bucket table reaches")]
fn a_segment_beyond_the_bucket_table_is_refused() {
    let table = buckets(3, 4);
    let bias =
        RelativeBias { position_keys: None, position_queries: None, span: 4, buckets: &table };
    disentangled_attention(
        &[0.0; 5 * 24],
        &[Segment::packed(0, 5)],
        1,
        8,
        &bias,
        &mut [0.0; 5 * 8],
    );
}
