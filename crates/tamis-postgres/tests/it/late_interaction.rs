//! Late-interaction token vectors in a PostgreSQL collection: stored, replaced, deleted
//! and scored exactly as the embedded index does it.

use tamis_core::{TokenEmbedder, TokenStorage};
use tamis_engine::backend::Catalog;
use tamis_engine::pipeline::{PipelineRequest, RerankStage};
use tamis_engine::{Index, IndexSettings, IngestModels, LateInteractionSettings};
use tamis_engine::{SearchMode, SearchRequest};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, HashTokenEmbedder};

use crate::{catalog, doc, raw_client, settings, unique_name};

fn late_settings(storage: TokenStorage) -> IndexSettings {
    IndexSettings {
        late_interaction: Some(LateInteractionSettings {
            model_id: "hash-colbert".into(),
            dimension: HASH_DIMENSION,
            storage,
        }),
        ..settings()
    }
}

fn documents() -> Vec<tamis_engine::Document> {
    let extra = ["bravo", "charlie", "delta", "echo"];
    (0..30)
        .map(|i| {
            let text = format!("alpha {} {}", extra[..i % 5].join(" "), "filler ".repeat(i % 7));
            doc(&format!("d{i:02}"), "", &text, None)
        })
        .collect()
}

fn ranked(index: &Index, late: &HashTokenEmbedder) -> Vec<(String, f32)> {
    let stage = RerankStage::late_interaction("colbert", late, "hash-colbert", 30);
    let mut request = PipelineRequest::new(
        SearchRequest::new("alpha bravo charlie delta echo", SearchMode::Bm25),
        vec![stage],
    );
    (request.search.k, request.k) = (30, 30);
    let response = index.search_and_rerank(&request, None).unwrap();
    response.hits.iter().map(|h| (h.doc_id.clone(), h.score)).collect()
}

#[test]
fn token_vectors_are_kept_and_scored_as_the_embedded_index_keeps_them() {
    let late = HashTokenEmbedder::default();
    let models =
        IngestModels { late: Some(&late), ..IngestModels::new(&HashEmbedder, &HashEmbedder) };
    for storage in [TokenStorage::F16, TokenStorage::Int8] {
        let catalog = catalog();
        let name = unique_name("late");
        let mut pg = catalog.create(&name, late_settings(storage)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut embedded = tamis_embedded::create(dir.path(), late_settings(storage)).unwrap();
        for index in [&mut pg, &mut embedded] {
            index.ingest_batch(&documents(), models).unwrap();
            index.flush().unwrap();
        }
        let (pg_stats, embedded_stats) = (pg.stats().unwrap(), embedded.stats().unwrap());
        assert_eq!(pg_stats.token_vectors, embedded_stats.token_vectors, "{storage:?}");
        assert_eq!(pg_stats.token_vectors.unwrap().chunks, pg_stats.chunks);
        assert_eq!(pg.settings().late_interaction, late_settings(storage).late_interaction);

        // The same bytes, and so the same MaxSim scores, in both backends.
        let tokens_of = |index: &Index, id: &str| {
            let keys = index.backend().chunks_of_document(id).unwrap();
            index
                .backend()
                .chunk_tokens(&keys)
                .unwrap()
                .into_iter()
                .map(|(_, b)| b)
                .collect::<Vec<_>>()
        };
        assert_eq!(tokens_of(&pg, "d07"), tokens_of(&embedded, "d07"));
        assert_eq!(ranked(&pg, &late), ranked(&embedded, &late), "{storage:?}");
        let encoded = late.documents_encoded();
        ranked(&pg, &late);
        assert_eq!(late.documents_encoded(), encoded, "stored vectors were encoded again");

        // Replaced and deleted documents take their vectors with them.
        let old_keys = pg.backend().chunks_of_document("d07").unwrap();
        pg.ingest_batch(&[doc("d07", "", "alpha echo", None)], models).unwrap();
        assert!(pg.backend().chunk_tokens(&old_keys).unwrap().is_empty());
        assert_eq!(tokens_of(&pg, "d07").len(), 1);
        pg.delete(&["d07", "d08"]).unwrap();
        let after = pg.stats().unwrap();
        assert_eq!(after.token_vectors.unwrap().chunks, after.chunks);
        assert_eq!(after.chunks, pg_stats.chunks - 2);

        // Version 5, which a tamis that would write chunks without vectors refuses; the
        // table goes with the collection.
        let mut client = raw_client();
        let row = client
            .query_one("SELECT id, schema_version FROM tamis_collections WHERE name = $1", &[&name])
            .unwrap();
        let (id, version): (i64, i32) = (row.get(0), row.get(1));
        assert_eq!(version, 5);
        let table = format!("tamis_c{id}_tokens");
        let exists = |client: &mut postgres::Client| -> bool {
            client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).unwrap().get(0)
        };
        assert!(exists(&mut client));
        drop(pg);
        assert!(catalog.remove(&name).unwrap());
        assert!(!exists(&mut client));
    }
}

#[test]
fn a_collection_without_token_vectors_stays_at_version_4() {
    let catalog = catalog();
    let name = unique_name("plain");
    let index = catalog.create(&name, settings()).unwrap();
    assert_eq!(index.stats().unwrap().token_vectors, None);
    let version: i32 = raw_client()
        .query_one("SELECT schema_version FROM tamis_collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0);
    assert_eq!(version, 4);
    let late = HashTokenEmbedder::default();
    assert_eq!(late.dimension(), HASH_DIMENSION);
    drop(index);
    catalog.remove(&name).unwrap();
}
