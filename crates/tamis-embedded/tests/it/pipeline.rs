//! The engine's two-stage pipeline over an embedded index: BM25 and a word-overlap
//! reranker disagree on purpose, so every test sees which one ordered the hits.

use std::time::Duration;

use tamis_core::{PairScore, Reranker, ScoreActivation, ScoreContract};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, OverlapReranker};

use tamis_engine::fusion::Fusion;
use tamis_engine::pipeline::{
    AdaptiveDepth, ChunkAggregation, EarlyStop, FinalScoreKind, PipelineHit, PipelineRequest,
    PipelineResponse, RerankStage,
};
use tamis_engine::{Document, Index, IndexSettings, IngestModels, SearchMode, SearchRequest};

const MODELS: IngestModels<'static> = IngestModels::new(&HashEmbedder, &HashEmbedder);

fn doc(id: &str, text: &str) -> Document {
    Document { id: id.into(), title: String::new(), text: text.into(), metadata: None }
}

/// `n` documents that all share "alpha"; document i also holds `i % 4` of three common
/// query words and, every sixth, the rare "echo": BM25 weighs the rare word above two
/// common ones, the overlap reranker counts words, so they disagree on the order.
fn index(dir: &std::path::Path, n: usize) -> Index {
    let extra = ["bravo", "charlie", "delta"];
    let docs: Vec<Document> = (0..n)
        .map(|i| {
            let rare = if i % 6 == 0 { "echo" } else { "" };
            let words = format!("{} {rare}", extra[..i % 4].join(" "));
            // Padding words lower BM25 for longer documents without touching the overlap.
            let padding = "filler ".repeat(i % 7);
            doc(&format!("d{i:02}"), &format!("alpha {words} {padding}"))
        })
        .collect();
    let mut index =
        tamis_embedded::create(dir, IndexSettings::new("hash", HASH_DIMENSION)).unwrap();
    index.ingest_batch(&docs, MODELS).unwrap();
    index
}

const QUERY: &str = "alpha bravo charlie delta echo";

fn request<'a>(stages: Vec<RerankStage<'a>>, candidates: usize) -> PipelineRequest<'a> {
    let mut request = PipelineRequest::new(SearchRequest::new(QUERY, SearchMode::Bm25), stages);
    request.search.k = candidates;
    request.k = candidates;
    request
}

fn stage<'a>(reranker: &'a dyn Reranker, candidates: usize) -> RerankStage<'a> {
    RerankStage::new("overlap", reranker, candidates)
}

fn ids(response: &PipelineResponse) -> Vec<&str> {
    response.hits.iter().map(|h| h.doc_id.as_str()).collect()
}

#[test]
fn reranking_orders_candidates_by_the_model_and_keeps_stage_one_places() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 20);
    let reranker = OverlapReranker::default();
    let stage1 = index.search_and_rerank(&request(vec![], 20), None).unwrap();
    let response = index.search_and_rerank(&request(vec![stage(&reranker, 20)], 20), None).unwrap();
    assert_eq!(reranker.pairs_scored(), 20);

    // The expected order: stage 1's candidates sorted by the model's own scores, ties in
    // stage-1 order.
    let texts: Vec<String> = stage1.hits.iter().map(|h| h.text.clone()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let scores = OverlapReranker::default().score(QUERY, &refs).unwrap();
    let mut expected: Vec<(usize, f32)> = scores.iter().map(|s| s.score).enumerate().collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let expected: Vec<&str> =
        expected.iter().map(|(i, _)| stage1.hits[*i].doc_id.as_str()).collect();
    assert_eq!(ids(&response), expected);
    assert_ne!(ids(&response), ids(&stage1), "the reranker changed nothing: weak test data");

    for (rank_idx, hit) in response.hits.iter().enumerate() {
        let place = hit.reranks[0].unwrap();
        assert_eq!((place.rank, place.score), (rank_idx + 1, hit.score));
        let stage1_hit = &stage1.hits[hit.stage1.rank - 1];
        assert_eq!(
            (stage1_hit.doc_id.as_str(), stage1_hit.score),
            (hit.doc_id.as_str(), hit.stage1.score)
        );
        assert_eq!(
            hit.score_kind,
            FinalScoreKind::Reranker { activation: ScoreActivation::Identity }
        );
    }
    let names: Vec<&str> = response.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["stage1", "overlap"]);
    assert_eq!((response.stages[1].documents, response.stages[1].pairs), (20, 20));
    assert!(!response.deadline_exceeded);
}

/// Prefers short passages: disagrees with the overlap reranker.
struct ShortFirst;

impl Reranker for ShortFirst {
    fn score_contract(&self) -> ScoreContract {
        ScoreContract { activation: ScoreActivation::Identity }
    }

    fn score(&self, _query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        Ok(passages
            .iter()
            .map(|p| {
                let score = -(p.len() as f32);
                PairScore { score, logit: score, truncated: false, dropped_tokens: 0 }
            })
            .collect())
    }
}

#[test]
fn a_cascade_scores_each_stage_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 20);
    let first = OverlapReranker::default();
    let request = request(
        vec![RerankStage::new("overlap", &first, 12), RerankStage::new("short", &ShortFirst, 4)],
        20,
    );
    let cascade = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(first.pairs_scored(), 12);
    assert_eq!(cascade.stages[2].pairs, 4);
    let only_first =
        index.search_and_rerank(&self::request(vec![stage(&first, 12)], 20), None).unwrap();
    // The second stage reorders the first stage's top 4 by length, and leaves the rest.
    let mut head: Vec<&str> = ids(&only_first)[..4].to_vec();
    head.sort_by_key(|id| {
        let hit = only_first.hits.iter().find(|h| h.doc_id == *id).unwrap();
        (hit.text.len(), only_first.hits.iter().position(|h| h.doc_id == *id))
    });
    assert_eq!(ids(&cascade)[..4], head[..]);
    assert_eq!(ids(&cascade)[4..], ids(&only_first)[4..]);
    assert!(cascade.hits[..4].iter().all(|h| h.reranks[1].is_some()));
    assert!(cascade.hits[4..].iter().all(|h| h.reranks[1].is_none()));
    assert!(cascade.hits[4..12].iter().all(|h| h.reranks[0].is_some()));
    // Below the second window, documents carry the first reranker's score.
    for hit in &cascade.hits[4..12] {
        assert_eq!(hit.score, hit.reranks[0].unwrap().score);
        assert!(matches!(hit.score_kind, FinalScoreKind::Reranker { .. }));
    }
    assert!(matches!(cascade.hits[12].score_kind, FinalScoreKind::Stage1 { .. }));
}

#[test]
fn long_documents_are_scored_by_their_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = IndexSettings::new("hash", HASH_DIMENSION);
    settings.chunking.max_tokens = Some(8);
    settings.chunking.overlap_tokens = 0;
    let mut index = tamis_embedded::create(dir.path(), settings).unwrap();
    let long = format!("{} alpha bravo charlie delta echo", "filler ".repeat(16));
    index
        .ingest_batch(&[doc("long", &long), doc("short", "alpha bravo unrelated words")], MODELS)
        .unwrap();
    let reranker = OverlapReranker::default();
    let mut request = request(vec![stage(&reranker, 10)], 10);
    let max = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(ids(&max), ["long", "short"]);
    assert_eq!(max.hits[0].text, "alpha bravo charlie delta echo");
    assert_eq!(max.hits[0].score, 1.0);
    assert_eq!(max.stages[1].pairs, 4, "three chunks of the long document, one short");
    request.aggregation = ChunkAggregation::First;
    let first = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(ids(&first), ["short", "long"]);
    request.aggregation = ChunkAggregation::MeanTop2;
    let mean = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(mean.hits.iter().find(|h| h.doc_id == "long").unwrap().score, 0.5);
}

#[test]
fn stage_fusion_weights_move_between_stage_one_and_the_reranker() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 20);
    let reranker = OverlapReranker::default();
    let plain = index.search_and_rerank(&request(vec![stage(&reranker, 20)], 20), None).unwrap();
    let stage1 = index.search_and_rerank(&request(vec![], 20), None).unwrap();
    let fused_with = |weights: Vec<f32>| {
        let mut request = request(vec![stage(&reranker, 20)], 20);
        request.stage_fusion = Some(Fusion::Rrf { k: 60.0, weights });
        index.search_and_rerank(&request, None).unwrap()
    };
    let only_stage1 = fused_with(vec![1.0, 0.0]);
    assert_eq!(ids(&only_stage1), ids(&stage1));
    assert_eq!(only_stage1.hits[0].score_kind, FinalScoreKind::Fused);
    assert!((only_stage1.hits[0].score - 1.0 / 61.0).abs() < 1e-6);
    assert_eq!(ids(&fused_with(vec![0.0, 1.0])), ids(&plain));
    // Equal weights: the RRF sum of both ranks orders the list.
    let both = fused_with(vec![1.0, 1.0]);
    let rrf = |h: &PipelineHit| {
        1.0 / (60.0 + h.stage1.rank as f32) + 1.0 / (60.0 + h.reranks[0].unwrap().rank as f32)
    };
    for pair in both.hits.windows(2) {
        assert!(rrf(&pair[0]) >= rrf(&pair[1]) - 1e-7);
        assert!((pair[0].score - rrf(&pair[0])).abs() < 1e-6);
    }
}

#[test]
fn a_deadline_keeps_the_unscored_tail_in_stage_one_order_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 40);
    let slow = OverlapReranker::slow(Duration::from_millis(5));
    let mut request = request(vec![stage(&slow, 40)], 40);
    request.batch_docs = 4;
    request.deadline = Some(Duration::from_millis(50));
    let response = index.search_and_rerank(&request, None).unwrap();
    assert!(response.deadline_exceeded);
    assert_eq!(response.stages[1].stopped, Some(EarlyStop::Deadline));
    let scored = response.stages[1].documents;
    assert!(scored > 0 && scored < 40, "{scored} scored");
    assert_eq!(slow.pairs_scored(), scored);
    assert_eq!(response.hits.len(), 40, "nothing is dropped");
    let (head, tail) = response.hits.split_at(scored);
    assert!(head.iter().all(|h| h.reranks[0].is_some()));
    assert!(tail.iter().all(|h| h.reranks[0].is_none()));
    assert!(tail.windows(2).all(|w| w[0].stage1.rank < w[1].stage1.rank));
    assert!(tail.iter().all(|h| matches!(h.score_kind, FinalScoreKind::Stage1 { .. })));

    request.deadline = None;
    let full = index.search_and_rerank(&request, None).unwrap();
    assert!(!full.deadline_exceeded);
    assert_eq!(full.stages[1].documents, 40);
}

#[test]
fn adaptive_depth_stops_when_candidates_stop_entering_the_top_k() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = index(dir.path(), 0);
    // Three documents match the query fully and come first in stage 1; 60 others match
    // only "alpha".
    let mut docs: Vec<Document> = (0..3)
        .map(|i| doc(&format!("top{i}"), &format!("alpha bravo charlie delta echo {i}")))
        .collect();
    docs.extend((0..60).map(|i| doc(&format!("other{i:02}"), &format!("alpha other {i}"))));
    index.ingest_batch(&docs, MODELS).unwrap();
    let reranker = OverlapReranker::default();
    let mut request = request(vec![stage(&reranker, 63)], 63);
    request.k = 3;
    request.batch_docs = 4;
    let full = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(reranker.pairs_scored(), 63);
    request.adaptive = Some(AdaptiveDepth { patience: 8, k: 3 });
    let adaptive = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(adaptive.stages[1].stopped, Some(EarlyStop::Adaptive));
    assert!(adaptive.stages[1].pairs < 20, "{} pairs", adaptive.stages[1].pairs);
    assert_eq!(ids(&adaptive), ids(&full));
    assert!(!adaptive.deadline_exceeded);
}

#[test]
fn a_threshold_keeps_only_documents_scored_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 20);
    let reranker = OverlapReranker::default();
    let mut request = request(vec![stage(&reranker, 10)], 20);
    request.min_score = Some(0.5);
    let response = index.search_and_rerank(&request, None).unwrap();
    assert!(!response.hits.is_empty());
    assert!(response.hits.iter().all(|h| h.score >= 0.5 && h.reranks[0].is_some()));
    request.min_score = None;
    let all = index.search_and_rerank(&request, None).unwrap();
    assert!(all.hits.len() > response.hits.len());
}

/// The overlap score through a sigmoid, declared as such.
struct SigmoidOverlap(OverlapReranker);

impl Reranker for SigmoidOverlap {
    fn score_contract(&self) -> ScoreContract {
        ScoreContract { activation: ScoreActivation::Sigmoid }
    }

    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        let mut scores = self.0.score(query, passages)?;
        for s in &mut scores {
            s.score = 1.0 / (1.0 + (-s.logit).exp());
        }
        Ok(scores)
    }
}

#[test]
fn scores_follow_the_declared_activation_unless_raw_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 10);
    let reranker = SigmoidOverlap(OverlapReranker::default());
    let mut request = request(vec![stage(&reranker, 10)], 10);
    let declared = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(
        declared.hits[0].score_kind,
        FinalScoreKind::Reranker { activation: ScoreActivation::Sigmoid }
    );
    assert!(declared.hits.iter().all(|h| h.score > 0.5 && h.score < 1.0));
    request.raw_scores = true;
    let raw = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(ids(&raw), ids(&declared));
    assert_eq!(
        raw.hits[0].score_kind,
        FinalScoreKind::Reranker { activation: ScoreActivation::Identity }
    );
    for (raw, declared) in raw.hits.iter().zip(&declared.hits) {
        assert!((1.0 / (1.0 + (-raw.score).exp()) - declared.score).abs() < 1e-6);
    }
}

#[test]
fn invalid_requests_get_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 5);
    let reranker = OverlapReranker::default();
    let mut bad = request(vec![stage(&reranker, 0)], 5);
    let message =
        |r: &PipelineRequest<'_>| index.search_and_rerank(r, None).unwrap_err().to_string();
    assert!(message(&bad).contains("scores 0 candidates"));
    bad = request(vec![], 5);
    bad.stage_fusion = Some(Fusion::rrf(2));
    assert!(message(&bad).contains("needs a reranker"));
    bad = request(vec![stage(&reranker, 5)], 5);
    bad.stage_fusion = Some(Fusion::rrf(3));
    assert!(message(&bad).contains("3 weights for 2 lists"));
    bad = request(vec![stage(&reranker, 5)], 5);
    bad.batch_docs = 0;
    assert!(message(&bad).contains("batch_docs"));
    bad = request(vec![stage(&reranker, 5)], 5);
    bad.adaptive = Some(AdaptiveDepth { patience: 0, k: 3 });
    assert!(message(&bad).contains("patience"));
    bad = request(vec![stage(&reranker, 5)], 5);
    bad.min_score = Some(f32::NAN);
    assert!(message(&bad).contains("min_score is not a number"));
    for blank in ["", " \t\n"] {
        bad = request(vec![stage(&reranker, 5)], 5);
        bad.search.query = blank;
        assert!(message(&bad).contains("the query is empty"));
        let err = index.search(&bad.search, None).unwrap_err();
        assert_eq!(err.kind(), tamis_core::ErrorKind::User, "{err}");
    }
}

#[test]
fn each_hit_says_where_each_retriever_placed_it_before_fusion() {
    let dir = tempfile::tempdir().unwrap();
    let index = index(dir.path(), 20);
    let rank_in = |mode| {
        let mut request = request(vec![], 20);
        request.search.mode = mode;
        let response = index.search_and_rerank(&request, Some(&HashEmbedder)).unwrap();
        response.hits.into_iter().map(|h| (h.doc_id, (h.stage1.rank, h.stage1.score))).collect()
    };
    let bm25: std::collections::HashMap<String, (usize, f32)> = rank_in(SearchMode::Bm25);
    let dense: std::collections::HashMap<String, (usize, f32)> = rank_in(SearchMode::Dense);
    let mut hybrid = request(vec![], 20);
    hybrid.search.mode = SearchMode::Hybrid;
    let response = index.search_and_rerank(&hybrid, Some(&HashEmbedder)).unwrap();
    let place = |p: Option<tamis_engine::pipeline::Place>| p.map(|p| (p.rank, p.score));
    // One chunk per document: each list's chunk ranks are the single-retriever ranks.
    for hit in &response.hits {
        assert_eq!(place(hit.retrievers.bm25), bm25.get(&hit.doc_id).copied(), "{}", hit.doc_id);
        assert_eq!(place(hit.retrievers.dense), dense.get(&hit.doc_id).copied(), "{}", hit.doc_id);
    }
    assert!(response.hits.iter().all(|h| h.retrievers.dense.is_some()));
    assert!(response.hits.iter().any(|h| h.retrievers.bm25.is_some()));
    // A single retriever fills only its own list.
    let mut only = request(vec![], 5);
    only.search.mode = SearchMode::Bm25;
    let response = index.search_and_rerank(&only, None).unwrap();
    assert!(
        response.hits.iter().all(|h| h.retrievers.bm25.is_some() && h.retrievers.dense.is_none())
    );
    // Serialized as every front end shows it.
    let json = serde_json::to_value(&response.hits[0]).unwrap();
    assert_eq!(json["id"], response.hits[0].doc_id.as_str());
    assert_eq!(json["retrievers"]["dense"], serde_json::Value::Null);
    assert_eq!(json["retrievers"]["bm25"]["rank"], 1);
    assert!(json.get("chunk_key").is_none() && json.get("doc_id").is_none());
}
