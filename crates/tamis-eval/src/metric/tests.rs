use super::*;
use crate::Qrels;

/// The judgments of one query from (document id, grade) pairs.
fn judgments(grades: &[(&str, i64)]) -> Judgments {
    let qrels: Qrels = grades.iter().map(|&(doc_id, grade)| ("q", doc_id, grade)).collect();
    qrels.get("q").cloned().unwrap_or_default()
}

/// Measures `metric` (parsed from its label) on `ranking`, already in trec order.
fn check(metric: &str, ranking: &[&str], grades: &[(&str, i64)], expect: f64) {
    let metric: Metric = metric.parse().unwrap();
    let got = metric.measure(ranking, &judgments(grades));
    assert!(
        (got - expect).abs() < 1e-12,
        "{metric} of {ranking:?} against {grades:?}: got {got}, expected {expect}"
    );
}

const GRADED: &[(&str, i64)] = &[("a", 3), ("b", 2), ("c", 1), ("z", 0), ("n", -1)];

#[test]
fn ndcg_uses_graded_gains_and_cuts_run_and_ideal_alike() {
    let log2 = |x: f64| x.log2();
    let ideal_10 = 3.0 + 2.0 / log2(3.0) + 1.0 / log2(4.0);
    // z (grade 0) and n (grade -1) gain nothing.
    let dcg = 2.0 / log2(3.0) + 3.0 / log2(4.0) + 1.0 / log2(6.0);
    check("ndcg@10", &["z", "b", "a", "n", "c"], GRADED, dcg / ideal_10);
    check("ndcg@10", &["a", "b", "c"], GRADED, 1.0);
    check(
        "ndcg@10",
        &["a", "c", "b"],
        GRADED,
        (3.0 + 1.0 / log2(3.0) + 2.0 / log2(4.0)) / ideal_10,
    );
    check("ndcg@2", &["b", "a", "c"], GRADED, (2.0 + 3.0 / log2(3.0)) / (3.0 + 2.0 / log2(3.0)));
    check("ndcg@1", &["c", "a"], GRADED, 1.0 / 3.0);
    check("ndcg@10", &[], GRADED, 0.0);
    check("ndcg@10", &["z", "n"], &[("z", 0), ("n", -1)], 0.0);
}

#[test]
fn precision_divides_by_k_even_when_fewer_were_retrieved() {
    check("p@5", &["a", "b"], GRADED, 0.4);
    check("p@5", &["z", "n", "x", "a", "b", "c"], GRADED, 0.4);
    check("p@1", &["c"], GRADED, 1.0);
    check("p@5", &[], GRADED, 0.0);
}

#[test]
fn recall_counts_relevant_in_top_k_and_is_zero_without_relevant() {
    check("recall@100", &["a", "x", "b"], GRADED, 2.0 / 3.0);
    check("recall@1", &["x", "a"], GRADED, 0.0);
    check("recall@2", &["x", "a"], GRADED, 1.0 / 3.0);
    check("recall@100", &["z", "n"], &[("z", 0), ("n", -1)], 0.0);
}

#[test]
fn mrr_only_sees_the_top_k() {
    let ten_misses = ["x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"];
    let mut at_ten = ten_misses.to_vec();
    at_ten.push("c");
    check("mrr@10", &at_ten, GRADED, 0.1);
    let mut at_eleven = at_ten.clone();
    at_eleven.insert(0, "y");
    check("mrr@10", &at_eleven, GRADED, 0.0);
    check("mrr@10", &["z", "n", "b", "a"], GRADED, 1.0 / 3.0);
    check("mrr@2", &["z", "n", "b"], GRADED, 0.0);
    check("mrr@10", &[], GRADED, 0.0);
}

#[test]
fn map_sums_precision_at_relevant_ranks_over_all_relevant() {
    let four = &[("a", 1), ("b", 1), ("c", 1), ("d", 2)];
    check("map@5", &["a", "x", "b", "y", "c"], four, (1.0 + 2.0 / 3.0 + 3.0 / 5.0) / 4.0);
    check("map@3", &["a", "x", "b", "y", "c"], four, (1.0 + 2.0 / 3.0) / 4.0);
    check("map@100", &["d", "c", "b", "a"], four, 1.0);
    check("map@100", &["z"], &[("z", 0)], 0.0);
}

/// Parses `spec` and checks the metric, its label and its pytrec_eval name.
fn check_parse(spec: &str, expect: Metric, label: &str, trec_name: &str) {
    let metric: Metric = spec.parse().unwrap();
    assert_eq!(metric, expect, "{spec}");
    assert_eq!(metric.label(), label, "{spec}");
    assert_eq!(metric.trec_name(), trec_name, "{spec}");
}

#[test]
fn metrics_parse_from_labels_and_pytrec_eval_names() {
    check_parse("ndcg@10", Metric::Ndcg(10), "nDCG@10", "ndcg_cut_10");
    check_parse("nDCG@20", Metric::Ndcg(20), "nDCG@20", "ndcg_cut_20");
    check_parse("ndcg_cut_10", Metric::Ndcg(10), "nDCG@10", "ndcg_cut_10");
    check_parse("ndcg_cut.3", Metric::Ndcg(3), "nDCG@3", "ndcg_cut_3");
    check_parse("Recall@100", Metric::Recall(100), "Recall@100", "recall_100");
    check_parse("recall_1000", Metric::Recall(1000), "Recall@1000", "recall_1000");
    check_parse("p@5", Metric::Precision(5), "P@5", "P_5");
    check_parse("precision@10", Metric::Precision(10), "P@10", "P_10");
    check_parse("P_5", Metric::Precision(5), "P@5", "P_5");
    check_parse("mrr@10", Metric::Mrr(10), "MRR@10", "recip_rank");
    check_parse("recip_rank", Metric::Mrr(10), "MRR@10", "recip_rank");
    check_parse("map@100", Metric::Map(100), "MAP@100", "map_cut_100");
    check_parse(" map_cut.1000 ", Metric::Map(1000), "MAP@1000", "map_cut_1000");
}

#[test]
fn bad_metric_names_are_errors() {
    for spec in ["ndcg", "recall", "foo@10", "ndcg@x", "ndcg@", "p5", "map_cut_", "mrr"] {
        let err = spec.parse::<Metric>().unwrap_err();
        assert!(
            matches!(&err, Error::UnknownMetric { spec: given } if given == spec),
            "{spec}: {err}"
        );
        assert_eq!(err.kind(), crate::ErrorKind::User);
    }
    let err = "ndcg@0".parse::<Metric>().unwrap_err();
    assert!(matches!(err, Error::ZeroCutoff { metric: Metric::Ndcg(0) }), "{err}");
    assert_eq!(err.to_string(), "metric nDCG@0 has cut-off 0: cut-offs start at 1");
}

#[test]
fn defaults_are_the_five_reported_metrics() {
    let labels: Vec<String> = Metric::DEFAULTS.iter().map(|metric| metric.label()).collect();
    assert_eq!(labels, ["nDCG@10", "Recall@100", "P@5", "MRR@10", "MAP@100"]);
    let names: Vec<String> = Metric::DEFAULTS.iter().map(|metric| metric.trec_name()).collect();
    assert_eq!(names, ["ndcg_cut_10", "recall_100", "P_5", "recip_rank", "map_cut_100"]);
}
