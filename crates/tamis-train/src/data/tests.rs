//! Groups: one per positive, negatives from the window only and never judged relevant,
//! reproducible per (seed, epoch), different across epochs; random negatives from the
//! corpus; positives limited to those stage 1 ranks.

use super::*;

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("d{i}")).collect()
}

fn corpus() -> Vec<String> {
    ids(0..200)
}

fn examples() -> Vec<QueryExample> {
    vec![
        // Two positives, one of them ranked inside the window.
        QueryExample {
            text: "q0".into(),
            positives: vec!["d5".into(), "d99".into()],
            ranking: ids(0..50),
        },
        // One positive; its window (ranks 3..20 of 10 documents) holds 7 documents.
        QueryExample { text: "q1".into(), positives: vec!["d1".into()], ranking: ids(0..10) },
    ]
}

#[test]
fn every_positive_gets_a_group_of_window_negatives() {
    let window = NegativeWindow::new(7, 3, 20);
    let epoch = epoch_groups(&examples(), &corpus(), window, 42, 0);
    assert_eq!(epoch.short_windows, 0);
    assert_eq!(epoch.groups.len(), 3);
    for group in &epoch.groups {
        assert_eq!(group.documents.len(), 8);
        let positive = &group.documents[0];
        let example = &examples()[group.query];
        assert!(example.positives.contains(positive));
        let negatives: HashSet<&String> = group.documents[1..].iter().collect();
        assert_eq!(negatives.len(), 7, "drawn without replacement: {group:?}");
        for negative in &negatives {
            let rank = example.ranking.iter().position(|d| d == *negative).unwrap();
            assert!((3..20).contains(&rank), "{negative} at rank {rank}");
            assert!(!example.positives.contains(negative), "a positive drawn as a negative");
        }
    }
}

#[test]
fn groups_are_reproducible_per_epoch_and_differ_across_epochs() {
    let window = NegativeWindow::new(4, 0, 50);
    let a = epoch_groups(&examples(), &corpus(), window, 42, 1);
    assert_eq!(a, epoch_groups(&examples(), &corpus(), window, 42, 1));
    assert_ne!(a, epoch_groups(&examples(), &corpus(), window, 42, 2));
    assert_ne!(a, epoch_groups(&examples(), &corpus(), window, 43, 1));
}

#[test]
fn a_query_whose_window_is_too_small_is_left_out_and_counted() {
    // q1's window of ranks 3..20 holds 7 documents (d1, its positive, is above it).
    let window = NegativeWindow::new(8, 3, 20);
    let epoch = epoch_groups(&examples(), &corpus(), window, 42, 0);
    assert_eq!(epoch.short_windows, 1);
    assert!(epoch.groups.iter().all(|group| group.query == 0));
    assert_eq!(epoch.groups.len(), 2);
}

#[test]
fn random_negatives_come_from_the_corpus_and_are_never_judged_or_repeated() {
    let window = NegativeWindow { random: 3, ..NegativeWindow::new(7, 3, 20) };
    let mut beyond_window = 0;
    for epoch in 0..20 {
        for group in epoch_groups(&examples(), &corpus(), window, 42, epoch).groups {
            let example = &examples()[group.query];
            assert_eq!(group.documents.len(), 8);
            let distinct: HashSet<&String> = group.documents.iter().collect();
            assert_eq!(distinct.len(), 8, "a document twice: {group:?}");
            let in_window = |doc: &String| {
                example.ranking.iter().position(|d| d == doc).is_some_and(|r| (3..20).contains(&r))
            };
            // The first 4 negatives are hard ones, the last 3 random.
            assert!(group.documents[1..5].iter().all(in_window), "{group:?}");
            for negative in &group.documents[5..] {
                assert!(!example.positives.contains(negative), "a positive drawn: {group:?}");
                assert!(corpus().contains(negative));
                beyond_window += usize::from(!in_window(negative));
            }
        }
    }
    assert!(beyond_window > 0, "random negatives never left the window");
}

#[test]
fn positives_within_keeps_only_positives_stage_1_ranks_and_counts_the_queries_left() {
    // q0's positives: d5 (rank 5) and d99 (unranked); q1's: d1 (rank 1).
    let window = NegativeWindow { positives_within: Some(10), ..NegativeWindow::new(4, 3, 20) };
    let epoch = epoch_groups(&examples(), &corpus(), window, 42, 0);
    let mut positives: Vec<&str> =
        epoch.groups.iter().map(|group| group.documents[0].as_str()).collect();
    positives.sort_unstable();
    assert_eq!(positives, ["d1", "d5"]);
    assert_eq!(epoch.unranked_positives, 0);

    // Within the top 2, only q1's d1 is ranked: q0 is left out and counted.
    let window = NegativeWindow { positives_within: Some(2), ..window };
    let epoch = epoch_groups(&examples(), &corpus(), window, 42, 0);
    assert_eq!(epoch.unranked_positives, 1);
    assert_eq!(epoch.groups.len(), 1);
    assert_eq!(epoch.groups[0].documents[0], "d1");
}

#[test]
fn a_corpus_too_small_for_the_random_negatives_leaves_the_query_out() {
    let window = NegativeWindow { random: 3, ..NegativeWindow::new(7, 3, 20) };
    let epoch = epoch_groups(&examples(), &ids(0..5), window, 42, 0);
    assert_eq!(epoch.short_windows, 2);
    assert!(epoch.groups.is_empty());
}

#[test]
fn sample_draws_distinct_items_reproducibly() {
    let items = ids(0..50);
    let a = sample(&items, 10, 7);
    assert_eq!(a.len(), 10);
    assert_eq!(a.iter().collect::<HashSet<_>>().len(), 10);
    assert_eq!(a, sample(&items, 10, 7));
    assert_ne!(a, sample(&items, 10, 8));
    assert_eq!(sample(&items, 500, 7).len(), 50, "capped at what there is");
}
