//! Late-interaction token vectors in an embedded index: written with their chunks, gone
//! with them, and scored by a late-interaction stage without encoding the documents again.

use tamis_core::{TextRole, TokenEmbedder, TokenStorage};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, HashTokenEmbedder, OverlapReranker};

use tamis_engine::pipeline::{PipelineRequest, PipelineResponse, RerankStage};
use tamis_engine::{
    Document, Error, Index, IndexSettings, IngestModels, LateInteractionSettings, SearchMode,
    SearchRequest,
};

const QUERY: &str = "alpha bravo charlie delta echo";

fn doc(id: &str, text: &str) -> Document {
    Document { id: id.into(), title: String::new(), text: text.into(), metadata: None }
}

/// Documents that all share "alpha" and hold some of the other query words, so that BM25
/// and MaxSim (which counts query words) disagree on the order.
fn docs(n: usize) -> Vec<Document> {
    let extra = ["bravo", "charlie", "delta", "echo"];
    (0..n)
        .map(|i| {
            let words = extra[..i % 5].join(" ");
            let padding = "filler ".repeat(i % 7);
            doc(&format!("d{i:02}"), &format!("alpha {words} {padding}"))
        })
        .collect()
}

fn settings(storage: Option<TokenStorage>, model_id: &str) -> IndexSettings {
    let mut settings = IndexSettings::new("hash", HASH_DIMENSION);
    settings.late_interaction = storage.map(|storage| LateInteractionSettings {
        model_id: model_id.into(),
        dimension: HASH_DIMENSION,
        storage,
    });
    settings
}

fn index(dir: &std::path::Path, storage: Option<TokenStorage>, late: &HashTokenEmbedder) -> Index {
    let mut index = tamis_embedded::create(dir, settings(storage, "hash-colbert")).unwrap();
    let models =
        IngestModels { late: Some(late), ..IngestModels::new(&HashEmbedder, &HashEmbedder) };
    index.ingest_batch(&docs(40), models).unwrap();
    index.flush().unwrap();
    index
}

fn request<'a>(stages: Vec<RerankStage<'a>>) -> PipelineRequest<'a> {
    let mut request = PipelineRequest::new(SearchRequest::new(QUERY, SearchMode::Bm25), stages);
    request.search.k = 40;
    request.k = 40;
    request
}

fn ranked(response: &PipelineResponse) -> Vec<(String, f32)> {
    response.hits.iter().map(|h| (h.doc_id.clone(), h.score)).collect()
}

#[test]
fn token_vectors_are_written_with_their_chunks_and_go_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let late = HashTokenEmbedder::default();
    let mut index = index(dir.path(), Some(TokenStorage::F16), &late);
    let stats = index.stats().unwrap();
    let tokens = stats.token_vectors.unwrap();
    assert_eq!(tokens.chunks, stats.chunks);
    assert_eq!(late.documents_encoded() as u64, stats.chunks);
    // One row per word, 2 bytes per value.
    let words: usize = docs(40).iter().map(|d| d.text.split_whitespace().count()).sum();
    assert_eq!(tokens.vectors, words as u64);
    assert_eq!(tokens.bytes, (words * HASH_DIMENSION * 2) as u64);

    // What is stored decodes to what the model gave.
    let keys = index.backend().chunks_of_document("d03").unwrap();
    let stored = index.backend().chunk_tokens(&keys).unwrap();
    assert_eq!(stored.len(), 1);
    let text = &index.backend().chunks(&keys).unwrap()[0].text;
    let expected = late.embed_tokens(&[text], TextRole::Document).unwrap().remove(0);
    let mut decoded = Vec::new();
    TokenStorage::F16.decode_into(&stored[0].1, HASH_DIMENSION, &mut decoded).unwrap();
    assert_eq!(decoded, expected.data);

    // Replacing and deleting documents takes their vectors away.
    let models =
        IngestModels { late: Some(&late), ..IngestModels::new(&HashEmbedder, &HashEmbedder) };
    index.ingest_batch(&[doc("d03", "alpha alpha")], models).unwrap();
    assert!(index.backend().chunk_tokens(&keys).unwrap().is_empty());
    let replaced = index.backend().chunks_of_document("d03").unwrap();
    let bytes = &index.backend().chunk_tokens(&replaced).unwrap()[0].1;
    assert_eq!(bytes.len(), 2 * HASH_DIMENSION * 2);
    index.delete(&["d03", "d04"]).unwrap();
    let after = index.stats().unwrap();
    assert_eq!(after.token_vectors.unwrap().chunks, after.chunks);
    assert_eq!(after.chunks, stats.chunks - 2);

    // Without the model, nothing is written at all.
    let err = index
        .ingest_batch(&[doc("new", "alpha")], IngestModels::new(&HashEmbedder, &HashEmbedder))
        .unwrap_err();
    assert!(matches!(&err, Error::LateModelRequired { model_id } if model_id == "hash-colbert"));
    assert!(err.to_string().contains("needs that model"), "{err}");
    assert!(index.backend().chunks_of_document("new").unwrap().is_empty());

    // The vectors survive reopening.
    drop(index);
    let index = tamis_embedded::open(dir.path()).unwrap();
    assert_eq!(index.stats().unwrap().token_vectors, after.token_vectors);
    assert_eq!(
        index.settings().late_interaction,
        settings(Some(TokenStorage::F16), "hash-colbert").late_interaction
    );
}

#[test]
fn a_late_stage_scores_stored_vectors_as_it_scores_encoded_ones() {
    let late = HashTokenEmbedder::default();
    let (stored_dir, plain_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stored = index(stored_dir.path(), Some(TokenStorage::F16), &late);
    let plain = index(plain_dir.path(), None, &late);
    assert_eq!(plain.stats().unwrap().token_vectors, None);

    let stage = RerankStage::late_interaction("colbert", &late, "hash-colbert", 40);
    let before = late.documents_encoded();
    let from_stored = stored.search_and_rerank(&request(vec![stage]), None).unwrap();
    assert_eq!(late.documents_encoded(), before, "stored vectors were encoded again");
    assert_eq!(from_stored.stages[1].pairs, 40);

    let from_plain = plain.search_and_rerank(&request(vec![stage]), None).unwrap();
    assert_eq!(late.documents_encoded(), before + 40, "missing vectors are encoded");
    // The same model as a pair reranker, encoding everything.
    let pairs = RerankStage::new("colbert", &late, 40);
    let by_pairs = stored.search_and_rerank(&request(vec![pairs]), None).unwrap();

    assert_eq!(ranked(&from_stored), ranked(&from_plain));
    assert_eq!(ranked(&from_stored), ranked(&by_pairs));
    let stage1 = stored.search_and_rerank(&request(vec![]), None).unwrap();
    let order = |r: &PipelineResponse| r.hits.iter().map(|h| h.doc_id.clone()).collect::<Vec<_>>();
    assert_ne!(order(&from_stored), order(&stage1), "MaxSim changed nothing: weak test data");
    // Scoring chunks picked by the caller gives the stage's scores.
    let keys: Vec<_> = from_stored.hits.iter().map(|h| h.chunk_key).collect();
    let late_stage = stage.late.unwrap();
    let picked = stored.late_interaction_scores(late_stage, QUERY, &keys).unwrap();
    let stage_scores: Vec<f32> = from_stored.hits.iter().map(|h| h.score).collect();
    assert_eq!(picked, stage_scores);
    let err = stored.late_interaction_scores(late_stage, QUERY, &[u64::MAX]).unwrap_err();
    assert!(err.to_string().contains("not in the index"), "{err}");
    // MaxSim of one-hot word vectors counts the query's distinct words in the passage.
    let best = &from_stored.hits[0];
    assert_eq!(best.score, 5.0, "{best:?}");
}

#[test]
fn int8_vectors_score_within_their_quantization() {
    let late = HashTokenEmbedder::default();
    let (f16_dir, int8_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let f16 = index(f16_dir.path(), Some(TokenStorage::F16), &late);
    let int8 = index(int8_dir.path(), Some(TokenStorage::Int8), &late);
    let (f16_stats, int8_stats) =
        (f16.stats().unwrap().token_vectors.unwrap(), int8.stats().unwrap().token_vectors.unwrap());
    assert_eq!(f16_stats.vectors, int8_stats.vectors);
    assert_eq!(int8_stats.bytes, int8_stats.vectors * (4 + HASH_DIMENSION as u64));

    let stage = RerankStage::late_interaction("colbert", &late, "hash-colbert", 40);
    let a = ranked(&f16.search_and_rerank(&request(vec![stage]), None).unwrap());
    let b = ranked(&int8.search_and_rerank(&request(vec![stage]), None).unwrap());
    assert_eq!(a.len(), b.len());
    for ((id_a, score_a), (id_b, score_b)) in a.iter().zip(&b) {
        assert_eq!(id_a, id_b);
        assert!((score_a - score_b).abs() < 1e-4, "{id_a}: {score_a} against {score_b}");
    }
}

#[test]
fn a_cascade_runs_late_interaction_then_a_cross_encoder_on_its_top() {
    let dir = tempfile::tempdir().unwrap();
    let late = HashTokenEmbedder::default();
    let index = index(dir.path(), Some(TokenStorage::F16), &late);
    let cross = OverlapReranker::default();
    let mut request = request(vec![
        RerankStage::late_interaction("colbert", &late, "hash-colbert", 40),
        RerankStage::new("cross", &cross, 12),
    ]);
    request.k = 5;
    let response = index.search_and_rerank(&request, None).unwrap();
    assert_eq!(cross.pairs_scored(), 12);
    let scored: Vec<(&str, usize, usize)> =
        response.stages.iter().map(|s| (s.name.as_str(), s.documents, s.pairs)).collect();
    assert_eq!(scored, [("stage1", 40, 0), ("colbert", 40, 40), ("cross", 12, 12)]);
    assert_eq!(response.hits.len(), 5);
    for hit in &response.hits {
        let late_place = hit.reranks[0].unwrap();
        assert!(late_place.rank <= 12, "the cross-encoder scored outside the late stage's top 12");
        assert!(hit.reranks[1].is_some());
    }
}

#[test]
fn an_index_of_one_late_model_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let late = HashTokenEmbedder::default();
    let index = index(dir.path(), Some(TokenStorage::F16), &late);
    let stage = RerankStage::late_interaction("other", &late, "other-colbert", 40);
    let err = index.search_and_rerank(&request(vec![stage]), None).unwrap_err();
    assert!(
        matches!(&err, Error::LateModelMismatch { indexed_with, requested, .. }
            if indexed_with == "hash-colbert" && requested == "other-colbert"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("rerank with that model"), "{message}");
}

#[test]
fn a_writer_must_bring_the_late_model_the_index_stores_or_none() {
    let (with_dir, without_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let late = HashTokenEmbedder::default();
    let with = index(with_dir.path(), Some(TokenStorage::Int8), &late);
    let without = index(without_dir.path(), None, &late);
    with.check_late_model(Some("hash-colbert")).unwrap();
    with.check_late_model(None).unwrap();
    without.check_late_model(None).unwrap();
    let err = with.check_late_model(Some("other-colbert")).unwrap_err();
    assert!(
        matches!(&err, Error::LateModelMismatch { indexed_with, requested, .. }
            if indexed_with == "hash-colbert" && requested == "other-colbert"),
        "{err:?}"
    );
    let err = without.check_late_model(Some("hash-colbert")).unwrap_err();
    assert!(matches!(&err, Error::NoTokenVectors { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&without_dir.path().display().to_string()), "{message}");
    assert_eq!(err.kind(), tamis_engine::ErrorKind::User);
}
