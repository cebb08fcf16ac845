use super::*;

/// The definition, in f64.
fn reference(query: &[f32], document: &[f32], dim: usize) -> f64 {
    if document.is_empty() {
        return 0.0;
    }
    query
        .chunks_exact(dim)
        .map(|q| {
            document
                .chunks_exact(dim)
                .map(|d| q.iter().zip(d).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>())
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .sum()
}

#[test]
fn scores_equal_the_definition_for_every_shape() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut value = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2001) as f32 / 1000.0 - 1.0
    };
    for (dim, query_rows) in [(1, 1), (7, 3), (24, 16), (96, 32), (128, 32)] {
        let query: Vec<f32> = (0..query_rows * dim).map(|_| value()).collect();
        // Enough rows for several blocks, with documents of no rows among them.
        let documents: Vec<Vec<f32>> = [0, 1, 2, 5, 40, 300, 0, 2100, 7, 1500, 3000, 0]
            .iter()
            .map(|rows| (0..rows * dim).map(|_| value()).collect())
            .collect();
        let rows: Vec<usize> = documents.iter().map(|d| d.len() / dim).collect();
        let mut out = vec![f32::NAN; rows.len()];
        max_sim(&query, dim, &documents.concat(), &rows, &mut out);
        // Filled block by block, the same bits.
        let mut filled = vec![f32::NAN; rows.len()];
        max_sim_with(&query, dim, &rows, &mut filled, |d, buf| buf.extend(&documents[d]));
        assert_eq!(filled, out, "dim {dim}");
        for (document, got) in documents.iter().zip(&out) {
            let want = reference(&query, document, dim);
            let bound = 1e-5 * (query_rows * dim) as f64;
            assert!((f64::from(*got) - want).abs() <= bound, "dim {dim}: {got} vs {want}");
        }
        assert_eq!(out[0], 0.0, "a document without rows scores 0");
    }
}

#[test]
#[should_panic(expected = "one score per document")]
fn a_wrong_output_length_is_refused() {
    max_sim(&[1.0], 1, &[1.0], &[1], &mut []);
}

#[test]
#[should_panic(expected = "do not hold the rows counted")]
fn rows_that_do_not_add_up_are_refused() {
    max_sim(&[1.0], 1, &[1.0, 2.0], &[1, usize::MAX], &mut [0.0, 0.0]);
}

#[test]
#[should_panic(expected = "document 1's rows")]
fn a_fill_of_the_wrong_length_is_refused() {
    max_sim_with(&[1.0], 1, &[1, 2], &mut [0.0, 0.0], |d, buf| buf.push(d as f32));
}
