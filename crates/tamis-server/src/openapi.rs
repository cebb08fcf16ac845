//! The OpenAPI document (`GET /openapi.json`), generated from the wire types.
//!
//! Every operation declares every error status the server can answer with, each with the
//! one error body ([`ErrorBody`]): the layers in front of the handlers (keys, admission,
//! the body limit, routing) answer on any route, so the list is the same for all.

use utoipa::OpenApi;
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

use crate::error::ErrorBody;
use crate::routes::{collections, embed, meta, predict, rerank};

#[derive(OpenApi)]
#[openapi(
    info(title = "tamis", description = "Two-stage retrieval: rerank, embed and search"),
    paths(
        meta::health,
        meta::ready,
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
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The statuses of [`ErrorType`](crate::ErrorType), with what each means on any route.
const ERRORS: [(&str, &str); 12] = [
    ("400", "A rule of the request is broken, or a limit of the server exceeded"),
    ("401", "Missing or wrong API key"),
    ("403", "The read-only key may not write"),
    ("404", "No such collection or route"),
    ("405", "The route does not take this method (see `Allow`)"),
    ("409", "The collection exists, or is being written"),
    ("413", "The body, or a count or size in it, is over the server's limit"),
    ("415", "The body is not `application/json`"),
    ("422", "Malformed JSON, a wrong type or a missing field"),
    ("429", "Too many requests at once: retry after `Retry-After` seconds"),
    ("500", "A bug or a failed model"),
    ("503", "Not ready, shutting down, or a store or index is unavailable"),
];

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    for (status, description) in ERRORS {
        let content = Content::new(Some(Ref::from_schema_name("ErrorBody")));
        let response =
            ResponseBuilder::new().description(description).content("application/json", content);
        let response = response.build();
        components.responses.insert(status.to_string(), RefOr::T(response));
    }
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, _) in ERRORS {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(status)));
            }
        }
    }
    doc
}
