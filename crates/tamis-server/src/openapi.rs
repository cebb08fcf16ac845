//! The OpenAPI document (`GET /openapi.json`), generated from the wire types.

use utoipa::OpenApi;

use crate::routes::{collections, embed, predict, rerank};

#[derive(OpenApi)]
#[openapi(
    info(title = "tamis", description = "Two-stage retrieval: rerank, embed and search"),
    paths(
        rerank::tei,
        rerank::cohere_v1,
        rerank::cohere_v2,
        predict::predict,
        embed::tei,
        embed::openai,
        collections::list,
        collections::get,
        collections::create,
        collections::delete,
        collections::upsert,
        collections::delete_documents,
        collections::search,
    ),
    components(schemas(crate::routes::meta::ErrorBody))
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
