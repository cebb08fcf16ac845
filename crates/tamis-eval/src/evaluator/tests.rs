use super::*;

/// Evaluates `run` against `qrels` with MRR@10 and P@1 under `config`'s other settings and
/// checks every per-query (MRR@10, P@1) and the means.
fn check(qrels: &Qrels, run: &Run, config: EvalConfig, expect: &[(&str, f64, f64)]) -> Report {
    let config = EvalConfig { metrics: vec![Metric::Mrr(10), Metric::Precision(1)], ..config };
    let report = Evaluator::new(qrels, config).unwrap().evaluate(run);
    let got: Vec<(&str, f64, f64)> = report
        .per_query
        .iter()
        .map(|(query_id, metrics)| {
            (
                query_id.as_str(),
                metrics.get(Metric::Mrr(10)).unwrap(),
                metrics.get(Metric::Precision(1)).unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expect);
    assert_eq!(report.n_queries, expect.len());
    let n = expect.len().max(1) as f64;
    let mean_mrr = expect.iter().map(|row| row.1).sum::<f64>() / n;
    let mean_p1 = expect.iter().map(|row| row.2).sum::<f64>() / n;
    assert_eq!(report.mean.get(Metric::Mrr(10)), Some(mean_mrr));
    assert_eq!(report.mean.get(Metric::Precision(1)), Some(mean_p1));
    report
}

fn scope(scope: QueryScope) -> EvalConfig {
    EvalConfig { scope, ..EvalConfig::default() }
}

#[test]
fn a_judged_query_without_answer_scores_zero_unless_the_scope_is_answered() {
    let qrels: Qrels = [("q1", "a", 1), ("q2", "b", 1)].into_iter().collect();
    let run: Run = [("q1", "x", 2.0), ("q1", "a", 1.0), ("q9", "b", 1.0)].into_iter().collect();
    let report =
        check(&qrels, &run, scope(QueryScope::Judged), &[("q1", 0.5, 0.0), ("q2", 0.0, 0.0)]);
    assert_eq!(report.unanswered, ["q2"]);
    assert_eq!(report.unjudged, ["q9"]);
    let report = check(&qrels, &run, scope(QueryScope::Answered), &[("q1", 0.5, 0.0)]);
    assert_eq!(report.unanswered, ["q2"]);
    // An empty answer is an answer.
    let mut run = run;
    run.insert_query("q2", Vec::<(String, f64)>::new());
    check(&qrels, &run, scope(QueryScope::Answered), &[("q1", 0.5, 0.0), ("q2", 0.0, 0.0)]);
}

#[test]
fn a_query_without_relevant_documents_scores_zero_or_is_left_out() {
    let qrels: Qrels = [("q1", "a", 1), ("q2", "b", 0), ("q2", "c", -1)].into_iter().collect();
    let run: Run = [("q1", "a", 1.0), ("q2", "b", 1.0), ("q2", "c", 0.5)].into_iter().collect();
    check(&qrels, &run, scope(QueryScope::Judged), &[("q1", 1.0, 1.0), ("q2", 0.0, 0.0)]);
    check(&qrels, &run, scope(QueryScope::Answered), &[("q1", 1.0, 1.0), ("q2", 0.0, 0.0)]);
    check(&qrels, &run, scope(QueryScope::WithRelevant), &[("q1", 1.0, 1.0)]);
}

#[test]
fn ignore_identical_ids_drops_the_query_itself_from_its_ranking() {
    // As in ArguAna: the query is also a document, retrieved first, and relevant to itself.
    let qrels: Qrels = [("q1", "q1", 1), ("q1", "d", 1), ("q2", "d", 1)].into_iter().collect();
    let run: Run = [
        ("q1", "q1", 2.0),
        ("q1", "x", 1.5),
        ("q1", "d", 1.0),
        ("q2", "q1", 2.0),
        ("q2", "d", 1.0),
    ]
    .into_iter()
    .collect();
    check(&qrels, &run, EvalConfig::default(), &[("q1", 1.0, 1.0), ("q2", 0.5, 0.0)]);
    let ignore = EvalConfig { ignore_identical_ids: true, ..EvalConfig::default() };
    check(&qrels, &run, ignore, &[("q1", 0.5, 0.0), ("q2", 0.5, 0.0)]);
}

#[test]
fn the_run_order_is_ignored_for_trec_order() {
    let qrels: Qrels = [("q", "10", 1)].into_iter().collect();
    // The system ranked "10" first among the ties; trec_eval ranks "9" before "10".
    let mut run = Run::new();
    run.insert_query("q", [("10", 1.0), ("9", 1.0), ("1", 1.0)]);
    check(&qrels, &run, EvalConfig::default(), &[("q", 0.5, 0.0)]);
}

#[test]
fn the_default_config_measures_the_five_metrics_in_order() {
    let qrels: Qrels = [("q", "a", 2), ("q", "b", 1)].into_iter().collect();
    let run: Run = [("q", "a", 1.0), ("q", "b", 0.5)].into_iter().collect();
    let report = Evaluator::new(&qrels, EvalConfig::default()).unwrap().evaluate(&run);
    let mean: Vec<(Metric, f64)> = report.mean.iter().collect();
    let expect = Metric::DEFAULTS
        .iter()
        .zip([1.0, 1.0, 0.4, 1.0, 1.0])
        .map(|(&metric, value)| (metric, value));
    assert_eq!(mean, expect.collect::<Vec<_>>());
    assert_eq!(report.mean.get(Metric::Ndcg(5)), None);
}

#[test]
fn configs_are_validated_and_repeats_removed() {
    let qrels = Qrels::new();
    let config =
        EvalConfig { metrics: vec![Metric::Recall(10), Metric::Map(0)], ..EvalConfig::default() };
    let err = Evaluator::new(&qrels, config).unwrap_err();
    assert!(matches!(err, Error::ZeroCutoff { metric: Metric::Map(0) }), "{err}");
    let config = EvalConfig {
        metrics: vec![Metric::Mrr(10), Metric::Ndcg(10), Metric::Mrr(10)],
        ..EvalConfig::default()
    };
    let evaluator = Evaluator::new(&qrels, config).unwrap();
    assert_eq!(evaluator.config().metrics, [Metric::Mrr(10), Metric::Ndcg(10)]);
    // No judged query: nothing to average, and the means are 0.
    let report = evaluator.evaluate(&Run::new());
    assert_eq!(report.n_queries, 0);
    assert_eq!(
        report.mean.iter().collect::<Vec<_>>(),
        [(Metric::Mrr(10), 0.0), (Metric::Ndcg(10), 0.0)]
    );
}
