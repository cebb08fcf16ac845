//! Parity with pytrec_eval: every per-query value and every mean of the fixture.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tamis_eval::{EvalConfig, Evaluator, Metric, Qrels, Report, Run};

/// How far tamis may be from pytrec_eval.
const TOLERANCE: f64 = 1e-6;

#[derive(Debug, Deserialize)]
struct Fixture {
    versions: BTreeMap<String, String>,
    metrics: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    ignore_identical_ids: bool,
    /// Embedded judgments (the synthetic cases).
    qrels: Option<BTreeMap<String, BTreeMap<String, i64>>>,
    /// Judgments read from the shared directory (the NFCorpus case).
    qrels_file: Option<QrelsFile>,
    run: BTreeMap<String, BTreeMap<String, f64>>,
    expected: Expected,
}

#[derive(Debug, Deserialize)]
struct QrelsFile {
    /// Relative to the shared directory.
    path: String,
    sha256: String,
}

#[derive(Debug, Deserialize)]
struct Expected {
    n_queries: usize,
    mean: BTreeMap<String, f64>,
    per_query: BTreeMap<String, BTreeMap<String, f64>>,
}

fn fixture() -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytrec_parity.json");
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

impl Case {
    fn qrels(&self) -> Qrels {
        if let Some(embedded) = &self.qrels {
            return embedded
                .iter()
                .flat_map(|(query_id, grades)| {
                    grades.iter().map(move |(doc_id, &grade)| (query_id, doc_id, grade))
                })
                .map(|(query_id, doc_id, grade)| (query_id.clone(), doc_id.clone(), grade))
                .collect();
        }
        let file = self.qrels_file.as_ref().expect("a case has qrels or a qrels file");
        let path = tamis_testkit::shared_dir().join(&file.path);
        let sha256 = format!("{:x}", Sha256::digest(fs_err::read(&path).unwrap()));
        assert_eq!(
            sha256,
            file.sha256,
            "{} differs from the file the fixture was made from",
            path.display()
        );
        Qrels::read_beir_tsv(&path).unwrap()
    }

    fn run(&self) -> Run {
        let mut run = Run::new();
        for (query_id, scores) in &self.run {
            run.insert_query(
                query_id.clone(),
                scores.iter().map(|(doc_id, &score)| (doc_id.clone(), score)),
            );
        }
        run
    }

    fn config(&self, metrics: &[Metric]) -> EvalConfig {
        EvalConfig {
            metrics: metrics.to_vec(),
            ignore_identical_ids: self.ignore_identical_ids,
            ..EvalConfig::default()
        }
    }

    /// Every difference from pytrec_eval beyond the tolerance, and the largest difference.
    fn compare(&self, report: &Report, metrics: &[Metric]) -> (Vec<String>, f64) {
        let mut problems = Vec::new();
        let mut max_diff = 0.0f64;
        let name = &self.name;
        if report.n_queries != self.expected.n_queries {
            problems.push(format!(
                "{name}: {} queries evaluated, pytrec_eval {}",
                report.n_queries, self.expected.n_queries
            ));
        }
        let mut compare = |what: &str, metric: Metric, got: Option<f64>, expect: f64| {
            let Some(got) = got else {
                problems.push(format!("{name}: {what}: {} missing", metric.trec_name()));
                return;
            };
            let diff = (got - expect).abs();
            max_diff = max_diff.max(diff);
            if diff > TOLERANCE {
                problems
                    .push(format!("{name}: {what}: {metric} is {got}, pytrec_eval says {expect}"));
            }
        };
        for (query_id, expect) in &self.expected.per_query {
            let got = report.per_query.get(query_id);
            for &metric in metrics {
                let value = got.and_then(|metrics| metrics.get(metric));
                compare(&format!("query {query_id}"), metric, value, expect[&metric.trec_name()]);
            }
        }
        for &metric in metrics {
            compare(
                "mean",
                metric,
                report.mean.get(metric),
                self.expected.mean[&metric.trec_name()],
            );
        }
        for query_id in
            report.per_query.keys().filter(|id| !self.expected.per_query.contains_key(*id))
        {
            problems
                .push(format!("{name}: query {query_id} evaluated, but pytrec_eval left it out"));
        }
        (problems, max_diff)
    }
}

#[test]
fn every_value_matches_pytrec_eval() {
    let fixture = fixture();
    assert!(fixture.versions.contains_key("pytrec_eval-terrier"), "{:?}", fixture.versions);
    let metrics: Vec<Metric> = fixture.metrics.iter().map(|name| name.parse().unwrap()).collect();
    assert_eq!(metrics, Metric::DEFAULTS);
    let names: Vec<&str> = fixture.cases.iter().map(|case| case.name.as_str()).collect();
    assert_eq!(names, ["synthetic", "synthetic-ignore-identical", "nfcorpus-test"]);

    let mut problems = Vec::new();
    for case in &fixture.cases {
        let qrels = case.qrels();
        let report = Evaluator::new(&qrels, case.config(&metrics)).unwrap().evaluate(&case.run());
        let (case_problems, max_diff) = case.compare(&report, &metrics);
        eprintln!(
            "{}: {} queries, largest difference from pytrec_eval {max_diff:e}",
            case.name, report.n_queries
        );
        problems.extend(case_problems);
        // pytrec_eval drops queries it was not asked about; the fixture's runs answer every one.
        assert!(report.unanswered.is_empty(), "{}: {:?}", case.name, report.unanswered);
    }
    assert!(
        problems.is_empty(),
        "{} differences from pytrec_eval:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_synthetic_case_covers_the_corners() {
    let fixture = fixture();
    let case = &fixture.cases[0];
    let qrels = case.qrels();
    let run = case.run();
    let report = Evaluator::new(&qrels, EvalConfig::default()).unwrap().evaluate(&run);
    assert_eq!(report.unjudged, ["unjudged-1", "unjudged-2"]);
    let no_relevant = qrels.iter().filter(|(_, judgments)| judgments.n_relevant() == 0).count();
    let sizes: Vec<usize> = qrels.query_ids().map(|query_id| run.ranked(query_id).len()).collect();
    assert!(no_relevant >= 3, "{no_relevant} queries without relevant documents");
    assert!(
        sizes.contains(&0) && sizes.iter().any(|&n| n < 5) && sizes.iter().any(|&n| n > 100),
        "{sizes:?}"
    );
    assert_eq!(report.per_query["q-numeric"].get(Metric::Mrr(10)), Some(1.0 / 3.0));
}

#[test]
fn runs_written_as_trec_files_evaluate_the_same() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    for case in &fixture.cases {
        let qrels = case.qrels();
        let run = case.run();
        let path = dir.path().join(format!("{}.trec", case.name));
        run.write_trec(&path, "tamis").unwrap();
        let read_back = Run::read_trec(&path).unwrap();
        let evaluator = Evaluator::new(&qrels, case.config(&Metric::DEFAULTS)).unwrap();
        // A query answered with nothing has no line in a run file, so it reads back unanswered:
        // with every judged query counted, it scores 0 either way.
        assert_eq!(
            evaluator.evaluate(&read_back).mean,
            evaluator.evaluate(&run).mean,
            "{}",
            case.name
        );
    }
}
