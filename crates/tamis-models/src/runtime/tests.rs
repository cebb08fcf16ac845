use super::{RuntimeConfig, for_each_sorted_batch};
use crate::tokenizer::Tokens;

fn input(len: usize) -> Tokens {
    Tokens { ids: vec![7; len], type_ids: vec![0; len], truncated: false, dropped_tokens: 0 }
}

/// Returns, per batch, (positions, padded length).
fn batches(
    lengths: &[usize],
    batch_size: usize,
    max_batch_tokens: usize,
) -> Vec<(Vec<usize>, usize)> {
    let inputs: Vec<Tokens> = lengths.iter().map(|&n| input(n)).collect();
    let runtime =
        RuntimeConfig { threads: Some(1), batch_size, max_batch_tokens, ..Default::default() };
    let mut seen = Vec::new();
    for_each_sorted_batch(&inputs, &runtime, 0, |positions, batch| {
        assert_eq!(batch.batch_size, positions.len());
        for (row, &p) in positions.iter().enumerate() {
            let real: u32 = batch.mask_row(row).iter().sum();
            assert_eq!(real as usize, lengths[p], "the mask covers exactly the real tokens");
        }
        seen.push((positions.to_vec(), batch.seq_len));
        Ok(())
    })
    .unwrap();
    seen
}

#[test]
fn batches_are_sorted_longest_first_and_bounded() {
    let got = batches(&[3, 10, 5, 10, 1], 2, 1000);
    assert_eq!(got, vec![(vec![1, 3], 10), (vec![2, 0], 5), (vec![4], 1)]);
}

#[test]
fn token_budget_shrinks_batches_of_long_inputs() {
    // 20 tokens each within a 50-token budget: two per batch, though 8 would be allowed.
    let got = batches(&[20, 20, 20, 4, 4], 8, 50);
    assert_eq!(got, vec![(vec![0, 1], 20), (vec![2, 3], 20), (vec![4], 4)]);
    // A sequence longer than the budget still runs, alone.
    let got = batches(&[100, 2], 8, 50);
    assert_eq!(got, vec![(vec![0], 100), (vec![1], 2)]);
}

#[test]
fn every_input_lands_in_exactly_one_batch() {
    let lengths: Vec<usize> = (0..97).map(|i| 1 + (i * 37) % 64).collect();
    let mut positions: Vec<usize> =
        batches(&lengths, 16, 300).into_iter().flat_map(|(p, _)| p).collect();
    positions.sort_unstable();
    assert_eq!(positions, (0..97).collect::<Vec<_>>());
}
