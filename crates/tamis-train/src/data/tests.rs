//! Groups: one per positive, negatives from the window only and never judged relevant,
//! reproducible per (seed, epoch), different across epochs.

use super::*;

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("d{i}")).collect()
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
    let window = NegativeWindow { negatives: 7, skip: 3, depth: 20 };
    let epoch = epoch_groups(&examples(), window, 42, 0);
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
    let window = NegativeWindow { negatives: 4, skip: 0, depth: 50 };
    let a = epoch_groups(&examples(), window, 42, 1);
    assert_eq!(a, epoch_groups(&examples(), window, 42, 1));
    assert_ne!(a, epoch_groups(&examples(), window, 42, 2));
    assert_ne!(a, epoch_groups(&examples(), window, 43, 1));
}

#[test]
fn a_query_whose_window_is_too_small_is_left_out_and_counted() {
    // q1's window of ranks 3..20 holds 7 documents (d1, its positive, is above it).
    let window = NegativeWindow { negatives: 8, skip: 3, depth: 20 };
    let epoch = epoch_groups(&examples(), window, 42, 0);
    assert_eq!(epoch.short_windows, 1);
    assert!(epoch.groups.iter().all(|group| group.query == 0));
    assert_eq!(epoch.groups.len(), 2);
}
