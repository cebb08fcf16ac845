//! ColBERT models against PyLate: token vectors and MaxSim scores of tiny random models
//! in both layouts (`scripts/parity/generate_colbert.py`).

use serde::Deserialize;
use tamis_core::TokenMatrix;
use tamis_models::{
    BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig, EncoderKind, Error,
    LateInteractionConfig, LateInteractionModel, LateRole, RuntimeConfig, max_sim,
};

use crate::{assert_embedding_close, fixtures_dir, local, read_json};

#[derive(Deserialize)]
struct Expected {
    query_length: usize,
    document_length: usize,
    dim: usize,
    queries: Vec<Text>,
    documents: Vec<Text>,
    scores: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
struct Text {
    text: String,
    input_ids: Vec<u32>,
    attention_mask: Option<Vec<u32>>,
    kept: Option<Vec<u8>>,
    embeddings: Vec<Vec<f32>>,
}

const LAYOUTS: [&str; 3] = ["colbert-pylate", "colbert-ai", "colbert-modernbert"];

/// The encoders that run a fixture: candle has no ModernBERT.
fn encoders(name: &str) -> &'static [EncoderKind] {
    match name {
        "colbert-modernbert" => &[EncoderKind::Native],
        _ => &[EncoderKind::Native, EncoderKind::Candle],
    }
}

fn texts(texts: &[Text]) -> Vec<&str> {
    texts.iter().map(|t| t.text.as_str()).collect()
}

fn load(name: &str, encoder: EncoderKind) -> LateInteractionModel {
    // Small batches, so that one call spans several.
    let runtime = RuntimeConfig { encoder, threads: Some(2), batch_size: 3, ..Default::default() };
    let config = LateInteractionConfig { runtime, ..Default::default() };
    LateInteractionModel::load(&local(fixtures_dir().join(name)), &config).unwrap()
}

fn check_texts(model: &LateInteractionModel, texts: &[Text], role: LateRole, what: &str) {
    let inputs = model.prepare(&self::texts(texts), role).unwrap();
    let vectors = model.encode(&self::texts(texts), role).unwrap();
    for ((text, input), got) in texts.iter().zip(&inputs).zip(&vectors) {
        let what = format!("{what} {role:?} {:?}", text.text);
        assert_eq!(input.ids, text.input_ids, "{what}: ids");
        if let Some(mask) = &text.attention_mask {
            assert_eq!(&input.attention_mask, mask, "{what}: attention mask");
        }
        if let Some(kept) = &text.kept {
            let kept: Vec<bool> = kept.iter().map(|k| *k == 1).collect();
            assert_eq!(input.kept, kept, "{what}: kept rows");
        }
        assert_eq!(got.rows(), text.embeddings.len(), "{what}: rows");
        for (row, want) in text.embeddings.iter().enumerate() {
            assert_embedding_close(got.row(row), want, &format!("{what} row {row}"));
        }
    }
}

#[test]
fn token_vectors_and_max_sim_match_pylate_in_both_layouts_and_on_modernbert() {
    for name in LAYOUTS {
        let expected: Expected = read_json(&fixtures_dir().join(name).join("expected.json"));
        for &encoder in encoders(name) {
            let model = load(name, encoder);
            let what = format!("{name} {encoder:?}");
            assert_eq!(model.dimension(), expected.dim, "{what}");
            assert_eq!(model.query_length(), expected.query_length, "{what}");
            assert_eq!(model.document_length(), expected.document_length, "{what}");
            check_texts(&model, &expected.queries, LateRole::Query, &what);
            check_texts(&model, &expected.documents, LateRole::Document, &what);
            let q = model.encode(&texts(&expected.queries), LateRole::Query).unwrap();
            let d = model.encode(&texts(&expected.documents), LateRole::Document).unwrap();
            for (i, row) in expected.scores.iter().enumerate() {
                for (j, want) in row.iter().enumerate() {
                    let got = max_sim(&q[i], &d[j]);
                    assert!((got - want).abs() <= 1e-4, "{what}: score q{i} d{j} {got} vs {want}");
                }
            }
        }
    }
}

#[test]
fn the_reference_vectors_score_the_reference_max_sim() {
    // The scoring alone, from PyLate's own vectors: no encoder involved.
    for name in LAYOUTS {
        let expected: Expected = read_json(&fixtures_dir().join(name).join("expected.json"));
        let vectors = |text: &Text| TokenMatrix {
            dim: expected.dim,
            data: text.embeddings.iter().flatten().copied().collect(),
        };
        for (query, row) in expected.queries.iter().zip(&expected.scores) {
            for (document, want) in expected.documents.iter().zip(row) {
                let got = max_sim(&vectors(query), &vectors(document));
                assert!((got - want).abs() <= 1e-4, "{name}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn a_colbert_model_is_refused_where_another_kind_is_expected_and_the_reverse() {
    let colbert = local(fixtures_dir().join("colbert-pylate"));
    let err = BiEncoder::load(&colbert, &BiEncoderConfig::default()).unwrap_err();
    assert!(matches!(err, Error::WrongModelKind { .. }), "{err}");
    assert!(err.to_string().contains("late-interaction"), "{err}");
    let err = CrossEncoder::load(&colbert, &CrossEncoderConfig::default()).unwrap_err();
    assert!(matches!(err, Error::WrongModelKind { .. }), "{err}");
    assert!(err.to_string().contains("late-interaction"), "{err}");
    let colbert_ai = local(fixtures_dir().join("colbert-ai"));
    let err = BiEncoder::load(&colbert_ai, &BiEncoderConfig::default()).unwrap_err();
    assert!(matches!(err, Error::WrongModelKind { .. }), "{err}");
    for other in ["bert-embed-cls", "bert-ce-1label"] {
        let dir = local(fixtures_dir().join(other));
        let err = LateInteractionModel::load(&dir, &LateInteractionConfig::default()).unwrap_err();
        assert!(matches!(err, Error::WrongModelKind { .. }), "{other}: {err}");
        assert!(err.to_string().contains("ColBERT"), "{other}: {err}");
    }
}

#[test]
fn as_a_token_embedder_it_scores_stored_rows_and_refuses_rows_that_do_not_fit() {
    use tamis_core::{TextRole, TokenEmbedder};
    let name = "colbert-pylate";
    let expected: Expected = read_json(&fixtures_dir().join(name).join("expected.json"));
    let model = load(name, EncoderKind::Native);
    let queries = model.embed_tokens(&texts(&expected.queries), TextRole::Query).unwrap();
    let documents = model.embed_tokens(&texts(&expected.documents), TextRole::Document).unwrap();
    // The documents' rows end to end, as an index would hand them over.
    let rows: Vec<usize> = documents.iter().map(TokenMatrix::rows).collect();
    let all: Vec<f32> = documents.iter().flat_map(|d| d.data.iter().copied()).collect();
    for (query, want) in queries.iter().zip(&expected.scores) {
        let got = TokenEmbedder::max_sim(&model, query, &all, &rows).unwrap();
        for (got, want) in got.iter().zip(want) {
            assert!((got - want).abs() <= 1e-4, "{got} vs {want}");
        }
    }
    let query = &queries[0];
    assert!(TokenEmbedder::max_sim(&model, query, &all[1..], &rows).is_err(), "a row cut short");
    assert!(TokenEmbedder::max_sim(&model, query, &all, &[usize::MAX, 2]).is_err(), "overflow");
    let narrow = TokenMatrix { dim: 3, data: vec![0.0; 6] };
    assert!(TokenEmbedder::max_sim(&model, &narrow, &all, &rows).is_err(), "another width");
    let key = TokenEmbedder::query_key(&model, &expected.queries[0].text).unwrap();
    assert_eq!(key, Some(expected.queries[0].input_ids.clone()));
}

#[test]
fn a_modernbert_query_length_past_the_local_window_is_refused() {
    // Reach 16, and an empty query is [CLS], the marker, [SEP]: at query length 19 the
    // last row (18) still reaches [SEP] at 2; at 20, row 19 reaches only masked keys.
    let dir = local(fixtures_dir().join("colbert-modernbert"));
    let config =
        |length| LateInteractionConfig { query_length: Some(length), ..Default::default() };
    let model = LateInteractionModel::load(&dir, &config(19)).unwrap();
    assert_eq!(model.query_length(), 19);
    let err = LateInteractionModel::load(&dir, &config(20)).unwrap_err();
    assert!(matches!(err, Error::InvalidOption { name: "query_length", .. }), "{err}");
    assert!(err.to_string().contains("use at most 19"), "{err}");
}
