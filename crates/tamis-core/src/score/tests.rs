use super::{ScoreActivation, ScoreContract};

fn check(activation: ScoreActivation, input: &[f32], expect: &[f32]) {
    let mut values = input.to_vec();
    activation.apply(&mut values);
    for (got, want) in values.iter().zip(expect) {
        assert!(
            (got - want).abs() < 1e-6,
            "{activation:?}({input:?}) = {values:?}, want {expect:?}"
        );
    }
}

#[test]
fn activations_match_their_definitions() {
    check(ScoreActivation::Identity, &[-3.5, 0.0, 7.25], &[-3.5, 0.0, 7.25]);
    check(ScoreActivation::Sigmoid, &[0.0, 2.0, -2.0], &[0.5, 0.880_797_1, 0.119_202_92]);
    check(ScoreActivation::Tanh, &[0.0, 1.0], &[0.0, 0.761_594_2]);
    check(ScoreActivation::Softmax, &[1.0, 1.0], &[0.5, 0.5]);
    check(ScoreActivation::Softmax, &[0.0, 2.0], &[0.119_202_92, 0.880_797_1]);
    // Large logits must not overflow.
    check(ScoreActivation::Softmax, &[1000.0, 0.0], &[1.0, 0.0]);
}

#[test]
fn bounded_activations_declare_their_range() {
    assert_eq!(ScoreActivation::Identity.range(), None);
    assert_eq!(ScoreActivation::Sigmoid.range(), Some((0.0, 1.0)));
}

#[test]
fn relevance_is_in_zero_to_one_whatever_the_activation() {
    let contract = |activation| ScoreContract { activation };
    // Raw-logit models: the sigmoid of the logit.
    assert!((contract(ScoreActivation::Identity).relevance(2.0, 2.0) - 0.880_797_1).abs() < 1e-6);
    assert!((contract(ScoreActivation::Tanh).relevance(0.0, 0.0) - 0.5).abs() < 1e-6);
    // Models that already score in 0..1: their score.
    assert_eq!(contract(ScoreActivation::Sigmoid).relevance(2.0, 0.8), 0.8);
    assert_eq!(contract(ScoreActivation::Softmax).relevance(5.0, 0.3), 0.3);
}

#[test]
fn best_first_orders_by_score_and_keeps_ties_in_input_order() {
    assert_eq!(crate::best_first(&[0.1, 0.9, 0.5, 0.9], None), vec![1, 3, 2, 0]);
    assert_eq!(crate::best_first(&[0.1, 0.9, 0.5, 0.9], Some(2)), vec![1, 3]);
    assert_eq!(crate::best_first(&[], Some(3)), Vec::<usize>::new());
}
