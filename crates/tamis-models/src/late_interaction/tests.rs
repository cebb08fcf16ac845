use super::*;

#[test]
fn python_strip_removes_what_str_strip_removes() {
    assert_eq!(python_strip("\u{1f} \t a b \u{3000}\n\u{1c}"), "a b");
    assert_eq!(python_strip("\u{200b}x"), "\u{200b}x", "a zero-width space is not whitespace");
}

#[test]
fn max_sim_sums_each_query_rows_best_match() {
    let query = TokenMatrix { dim: 2, data: vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0] };
    let document = TokenMatrix { dim: 2, data: vec![0.6, 0.8, 0.8, -0.6] };
    // Rows: best of (0.6, 0.8), of (0.8, −0.6), of (−0.6, −0.8).
    assert!((max_sim(&query, &document) - (0.8 + 0.8 - 0.6)).abs() < 1e-6);
    let empty = TokenMatrix { dim: 2, data: Vec::new() };
    assert_eq!(max_sim(&query, &empty), 0.0);
    assert_eq!(max_sim(&empty, &document), 0.0);
}
