//! The search service: collection lifecycle, documents, two-stage search.

use axum::http::Method;
use serde_json::json;

use tamis_engine::filter::FilterLimits;
use tamis_server::Limits;
use tamis_testkit::filters_at_limits;

use crate::{Setup, TestServer, counts, embedded_catalog};

fn corpus() -> serde_json::Value {
    json!({ "documents": [
        { "id": "d1", "title": "Vitamin D", "text": "Vitamin D deficiency weakens bones.", "metadata": { "year": 2020, "tags": ["bones"] } },
        { "id": "d2", "title": "Weather", "text": "Sunny weather all week long.", "metadata": { "year": 2021 } },
        { "id": "d3", "title": "Calcium", "text": "Calcium and vitamin D work together in bones.", "metadata": { "year": 2022, "tags": ["bones", "diet"] } },
        { "id": "d4", "title": "Trains", "text": "The train leaves at noon.", "metadata": { "year": 2023 } },
    ]})
}

async fn with_corpus() -> TestServer {
    let server = Setup::default().start();
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    let reply = server.post("/v1/collections/docs/documents", corpus()).await.expect(200);
    assert_eq!(reply.body["written"], 4);
    server
}

/// The value of the sample `name` (with its labels) in a metrics text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn ids(reply: &crate::Reply) -> Vec<String> {
    reply.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn collections_are_created_listed_described_and_deleted() {
    let server = Setup::default().start();
    let created = server
        .call(
            Method::PUT,
            "/v1/collections/docs",
            Some(json!({ "chunking": "whole", "stemming": false, "hnsw_m": 8, "hnsw_ef_search": 100 })),
            None,
        )
        .await
        .expect(201);
    assert_eq!(created.body["settings"]["chunking"]["mode"], "whole");
    assert_eq!(created.body["settings"]["stemming"], false);
    assert_eq!(created.body["settings"]["hnsw_m"], 8);
    assert_eq!(created.body["settings"]["hnsw_ef_search"], 100);
    server
        .call(Method::PUT, "/v1/collections/tiny-graph", Some(json!({ "hnsw_m": 1 })), None)
        .await
        .expect_error(400, "bad_request", "connectivity");
    let tuned = json!({ "bm25_k1": 0.9, "bm25_b": 0.4, "title_weight": 2 });
    let created =
        server.call(Method::PUT, "/v1/collections/tuned", Some(tuned), None).await.expect(201);
    assert_eq!(
        created.body["settings"]["bm25"],
        json!({ "k1": 0.9, "b": 0.4, "title_weight": 2.0 })
    );
    let described = server.get("/v1/collections/tuned").await.expect(200);
    assert_eq!(described.body["settings"]["bm25"]["k1"], 0.9);
    for (body, message) in [
        (json!({ "bm25_b": 1.5 }), "BM25 b = 1.5 is invalid"),
        (json!({ "bm25_k1": -1 }), "BM25 k1 = -1 is invalid"),
        (json!({ "title_weight": 0 }), "BM25 title_weight = 0 is invalid"),
    ] {
        server.call(Method::PUT, "/v1/collections/bad-bm25", Some(body), None).await.expect_error(
            400,
            "bad_request",
            message,
        );
    }
    server.get("/v1/collections/bad-bm25").await.expect(404);
    server.post("/v1/collections/tuned/documents", corpus()).await.expect(200);
    let top_score = |body: serde_json::Value| {
        let server = &server;
        async move {
            let reply = server.post("/v1/collections/tuned/search", body).await.expect(200);
            reply.body["results"][0]["score"].as_f64().unwrap()
        }
    };
    let recorded = top_score(json!({ "query": "vitamin", "mode": "bm25" })).await;
    let same = json!({ "query": "vitamin", "mode": "bm25", "bm25_k1": 0.9, "title_weight": 2 });
    assert_eq!(top_score(same).await, recorded);
    let other = json!({ "query": "vitamin", "mode": "bm25", "bm25_b": 1.0 });
    assert_ne!(top_score(other).await, recorded);
    server
        .post("/v1/collections/tuned/search", json!({ "query": "vitamin", "bm25_k1": -1 }))
        .await
        .expect_error(400, "bad_request", "BM25 k1 = -1 is invalid");
    server.call(Method::DELETE, "/v1/collections/tuned", None, None).await.expect(200);
    server
        .call(Method::PUT, "/v1/collections/docs", None, None)
        .await
        .expect_error(409, "conflict", "exists");
    server.call(Method::PUT, "/v1/collections/bad%20name", None, None).await.expect_error(
        400,
        "bad_request",
        "invalid collection name",
    );
    server
        .call(Method::PUT, "/v1/collections/other", Some(json!({ "chunks": 3 })), None)
        .await
        .expect_error(422, "validation", "chunks");
    server.post("/v1/collections/docs/documents", corpus()).await.expect(200);
    let listed = server.get("/v1/collections").await.expect(200);
    assert_eq!(listed.body["collections"][0]["name"], "docs");
    assert_eq!(listed.body["collections"][0]["documents"], 4);
    server.get("/v1/collections/missing").await.expect_error(404, "not_found", "missing");

    server.call(Method::DELETE, "/v1/collections/docs", None, None).await.expect(200);
    server.get("/v1/collections/docs").await.expect(404);
    assert!(!server.dir.path().join("collections/docs").exists(), "files left behind");
}

#[tokio::test]
async fn collections_another_process_creates_are_served_on_request() {
    let server = with_corpus().await;
    let root = server.dir.path().join("collections");
    // Another process creates two collections beside the running server: one with the
    // server's bi-encoder (an empty index made through the catalog), one with another.
    let settings = server.state.collections().expect("collections").get("docs").expect("docs");
    let mut same = settings.read().settings().clone();
    drop(settings);
    let other_process = embedded_catalog(server.dir.path());
    drop(other_process.create("late", same.clone()).expect("late"));
    same.embedder_id = "another-model".into();
    drop(other_process.create("foreign", same).expect("foreign"));

    let listed = server.get("/v1/collections").await.expect(200);
    let names: Vec<&str> = listed.body["collections"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["docs", "foreign", "late"]);
    assert_eq!(listed.body["collections"][1]["settings"]["embedder"], "another-model");
    server.post("/v1/collections/late/documents", corpus()).await.expect(200);
    let query = json!({ "query": "trains", "mode": "bm25", "k": 1 });
    let found = server.post("/v1/collections/late/search", query.clone()).await.expect(200);
    assert_eq!(found.body["results"][0]["id"], "d4");
    // The other bi-encoder's collection is described, and searched by BM25 alone, but
    // not with this server's bi-encoder.
    server.post("/v1/collections/foreign/search", query).await.expect(200);
    let dense = json!({ "query": "trains", "mode": "dense" });
    server.post("/v1/collections/foreign/search", dense).await.expect_error(
        400,
        "bad_request",
        "another-model",
    );
    // Deleting one the server never opened removes it too.
    server.call(Method::DELETE, "/v1/collections/foreign", None, None).await.expect(200);
    assert!(!root.join("foreign").exists());
    server.get("/v1/collections/foreign").await.expect(404);
    let listed = server.get("/v1/collections").await.expect(200);
    assert_eq!(listed.body["collections"].as_array().expect("list").len(), 2, "{}", listed.body);
}

#[tokio::test]
async fn a_collection_another_process_removed_or_rebuilt_is_not_served_from_old_files() {
    let server = with_corpus().await;
    let root = server.dir.path().join("collections");
    let settings = server.state.collections().expect("collections").get("docs").expect("docs");
    let settings = settings.read().settings().clone();
    let query = json!({ "query": "trains", "mode": "bm25", "k": 1 });
    let found = server.post("/v1/collections/docs/search", query.clone()).await.expect(200);
    assert_eq!(found.body["results"][0]["id"], "d4");

    // Another process removes the directory and builds an empty collection in its place.
    fs_err::remove_dir_all(root.join("docs")).expect("remove");
    drop(embedded_catalog(server.dir.path()).create("docs", settings).expect("rebuild"));
    let found = server.post("/v1/collections/docs/search", query.clone()).await.expect(200);
    assert_eq!(found.body["results"], json!([]), "{}", found.body);
    assert_eq!(server.get("/v1/collections/docs").await.expect(200).body["documents"], 0);
    server.post("/v1/collections/docs/documents", corpus()).await.expect(200);
    let found = server.post("/v1/collections/docs/search", query.clone()).await.expect(200);
    assert_eq!(found.body["results"][0]["id"], "d4");

    // Removed for good: 404, and the name can be taken again.
    fs_err::remove_dir_all(root.join("docs")).expect("remove");
    server.post("/v1/collections/docs/search", query).await.expect(404);
    server.call(Method::DELETE, "/v1/collections/docs", None, None).await.expect(404);
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
}

#[tokio::test]
async fn a_restarted_server_finds_its_collections() {
    let TestServer { router, state, dir } = with_corpus().await;
    drop((router, state));
    let restarted =
        tamis_server::collections::Collections::open(embedded_catalog(dir.path()), None, 10)
            .expect("reopen");
    assert_eq!(restarted.names().expect("names"), vec!["docs".to_string()]);
    let collection = restarted.get("docs").expect("docs");
    assert_eq!(counts(&collection.read()), (4, 4));
}

#[tokio::test]
async fn upserts_skip_unchanged_documents_and_deletes_take_ids_or_a_filter() {
    let server = with_corpus().await;
    let again = server.post("/v1/collections/docs/documents", corpus()).await.expect(200);
    assert_eq!(again.body["written"], 0);
    assert_eq!(again.body["unchanged"], 4);
    server.post("/v1/collections/docs/documents", json!({ "documents": [] })).await.expect_error(
        400,
        "bad_request",
        "no documents",
    );
    server
        .post("/v1/collections/docs/documents", json!({ "documents": [{ "id": "", "text": "x" }] }))
        .await
        .expect_error(400, "bad_request", "empty id");
    server
        .post("/v1/collections/docs/documents", json!({ "documents": [{ "id": "x" }] }))
        .await
        .expect_error(422, "validation", "text");

    let deleted = server
        .call(
            Method::DELETE,
            "/v1/collections/docs/documents",
            Some(json!({ "ids": ["d4", "nope"] })),
            None,
        )
        .await
        .expect(200);
    assert_eq!(deleted.body["deleted"], 1);
    let deleted = server
        .post("/v1/collections/docs/documents/delete", json!({ "filter": "year >= 2022" }))
        .await
        .expect(200);
    assert_eq!(deleted.body["deleted"], 1);
    server
        .post("/v1/collections/docs/documents/delete", json!({ "filter": "year >>= 1" }))
        .await
        .expect_error(400, "bad_request", "filter");
    server.post("/v1/collections/docs/documents/delete", json!({})).await.expect_error(
        400,
        "bad_request",
        "ids",
    );
    let described = server.get("/v1/collections/docs").await.expect(200);
    assert_eq!(described.body["documents"], 2);
}

/// Issue 18: a filter nested or chained past the limits crashed the process (a stack
/// overflow on the HTTP thread), and 1000 `not`s answered 503 with SQLite's message and
/// the data directory's path. Now each is a 400 naming the limit, and the server goes on.
#[tokio::test]
async fn issue_18_filters_past_the_limits_get_400_naming_the_limit() {
    let setup = Setup { api_key: Some("admin"), read_only_key: Some("reader"), ..Setup::default() };
    let server = setup.start();
    let key = Some("admin");
    server.call(Method::PUT, "/v1/collections/docs", None, key).await.expect(201);
    server
        .call(Method::POST, "/v1/collections/docs/documents", Some(corpus()), key)
        .await
        .expect(200);
    let parentheses = |n| format!("{}year > 1{}", "(".repeat(n), ")".repeat(n));
    let search = |filter: String| json!({ "query": "vitamin", "mode": "bm25", "filter": filter });
    for (filter, flag) in [
        (parentheses(2000), "--max-filter-depth"),
        (parentheses(8000), "--max-filter-depth"),
        (format!("{}year > 1", "not ".repeat(5000)), "--max-filter-depth"),
        (format!("{}year > 1", "not ".repeat(1000)), "--max-filter-depth"),
        (vec!["year > 1"; 50_000].join(" and "), "--max-filter-bytes"),
        (vec!["year > 1"; 1001].join(" and "), "--max-filter-terms"),
    ] {
        let body = search(filter);
        let path = "/v1/collections/docs/search";
        let reply = server.call(Method::POST, path, Some(body.clone()), Some("reader")).await;
        let message = reply.expect_error(400, "bad_request", flag).body["error"].to_string();
        assert!(message.contains("filter too large") && !message.contains('/'), "{message}");
        let delete = json!({ "filter": body["filter"] });
        let path = "/v1/collections/docs/documents/delete";
        server.call(Method::POST, path, Some(delete), key).await.expect_error(
            400,
            "bad_request",
            flag,
        );
    }
    // It still answers, and nothing was deleted.
    let reply = server
        .call(Method::POST, "/v1/collections/docs/search", Some(search("year > 1".into())), key)
        .await
        .expect(200);
    assert_eq!(ids(&reply).len(), 2);
    assert_eq!(
        server.call(Method::GET, "/v1/collections/docs", None, key).await.body["documents"],
        4
    );
}

/// With the limits raised to their ceilings, a filter the parser takes can exceed what
/// SQLite takes: that too is the client's 400, with no path in it.
#[tokio::test]
async fn filters_sqlite_refuses_get_400_without_a_path() {
    let limits = FilterLimits::CEILING;
    let setup =
        Setup { limits: Limits { filter: limits, ..Limits::default() }, ..Setup::default() };
    let server = setup.start();
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    server.post("/v1/collections/docs/documents", corpus()).await.expect(200);
    let (_, tallest) =
        filters_at_limits(limits.max_depth, limits.max_terms).pop().expect("tallest");
    let body = json!({ "query": "vitamin", "mode": "bm25", "filter": tallest });
    let reply = server.post("/v1/collections/docs/search", body).await;
    let message = reply.expect_error(400, "bad_request", "too complex").body["error"].to_string();
    assert!(
        message.contains("Expression tree is too large") && !message.contains('/'),
        "{message}"
    );
    let dir = server.dir.path().display().to_string();
    assert!(!message.contains(&dir), "{message}");
}

/// A repeated search is answered from the result cache, one that every stage reads the
/// same too (case and spacing, with these uncased models), and a write to the collection
/// makes the next search run the pipeline and see it.
#[tokio::test]
async fn repeated_searches_come_from_the_result_cache_until_a_write() {
    let server = with_corpus().await;
    let search = |query: &str| json!({ "query": query, "k": 5, "rerank": [{ "candidates": 5 }] });
    let path = "/v1/collections/docs/search";
    let first = server.post(path, search("vitamin d bones")).await.expect(200);
    assert!(first.body["cache"].is_null());
    let again = server.post(path, search("vitamin d bones")).await.expect(200);
    assert_eq!(again.body["cache"]["level"], "exact");
    assert_eq!(again.body["results"], first.body["results"]);
    let spelled = server.post(path, search("Vitamin  D BONES")).await.expect(200);
    assert_eq!(spelled.body["cache"]["level"], "normalized");
    assert_eq!(spelled.body["cache"]["query"], "vitamin d bones");
    assert_eq!(spelled.body["results"], first.body["results"]);
    // The question mark is a token for both models: another answer, run for real.
    let punctuated = server.post(path, search("vitamin d bones?")).await.expect(200);
    assert!(punctuated.body["cache"].is_null());

    let new = json!({ "documents": [
        { "id": "d5", "title": "Bones", "text": "Vitamin D, bones and more bones." },
    ]});
    server.post("/v1/collections/docs/documents", new).await.expect(200);
    let after = server.post(path, search("vitamin d bones")).await.expect(200);
    assert!(after.body["cache"].is_null(), "an answer from before the write: {}", after.body);
    assert!(ids(&after).contains(&"d5".to_string()), "{:?}", ids(&after));
    server
        .post("/v1/collections/docs/documents/delete", json!({ "ids": ["d5"] }))
        .await
        .expect(200);
    let deleted = server.post(path, search("vitamin d bones")).await.expect(200);
    assert!(deleted.body["cache"].is_null());
    assert_eq!(deleted.body["results"], first.body["results"]);

    let metrics = server.get("/metrics").await.expect(200).text;
    let lookups = |outcome: &str| {
        metric(&metrics, &format!("tamis_result_cache_lookups_total{{outcome=\"{outcome}\"}}"))
    };
    assert_eq!((lookups("exact"), lookups("normalized"), lookups("miss")), (1.0, 1.0, 4.0));
    // Each write dropped what was stored before it: two answers, then one.
    assert_eq!(metric(&metrics, "tamis_result_cache_removals_total{reason=\"invalidated\"}"), 3.0);
    assert_eq!(metric(&metrics, "tamis_result_cache_entries"), 1.0);
    let info = server.get("/info").await.expect(200);
    assert_eq!(info.body["result_cache"]["stats"]["exact_hits"], 1);
    assert_eq!(info.body["result_cache"]["max_entries"], 1024);
}

/// A paraphrase is answered from a close query's entry only when the request asks, and
/// the response names that query; a confirmation needs both of its fields.
#[tokio::test]
async fn a_paraphrase_is_answered_from_the_cache_only_when_asked() {
    let server = with_corpus().await;
    let path = "/v1/collections/docs/search";
    // The tiny random model's cosines say nothing: any query is "close" at 0.01.
    let search = |query: &str, paraphrase: serde_json::Value| json!({ "query": query, "k": 3, "paraphrase": paraphrase });
    let near = json!({ "min_cosine": 0.01 });
    assert!(
        server.post(path, search("vitamin d bones", near.clone())).await.expect(200).body["cache"]
            .is_null()
    );
    let plain = json!({ "query": "calcium intake", "k": 3 });
    assert!(server.post(path, plain).await.expect(200).body["cache"].is_null(), "only when asked");
    let close = server.post(path, search("dietary calcium", near.clone())).await.expect(200);
    assert_eq!(close.body["cache"]["level"], "paraphrase", "{}", close.body);
    assert_eq!(close.body["cache"]["query"], "vitamin d bones", "stored without its embedding");
    assert!(close.body["cache"]["cosine"].as_f64().is_some());
    let confirmed =
        json!({ "min_cosine": 0.01, "confirm_model": "tiny-ce", "confirm_min_score": -1e9 });
    let checked = server.post(path, search("sunny weather", confirmed)).await.expect(200);
    assert_eq!(checked.body["cache"]["level"], "paraphrase", "{}", checked.body);
    assert!(checked.body["cache"]["confirm_score"].as_f64().is_some());
    let half = json!({ "confirm_min_score": 1.0 });
    server.post(path, search("x", half)).await.expect_error(400, "bad_request", "confirm_model");
    let wide = json!({ "min_cosine": 1.5 });
    server.post(path, search("x", wide)).await.expect_error(400, "bad_request", "min_cosine");
}

#[tokio::test]
async fn search_runs_stage_one_then_the_cascade_and_reports_each_stage() {
    let server = with_corpus().await;
    let bm25 = server
        .post(
            "/v1/collections/docs/search",
            json!({ "query": "vitamin bones", "mode": "bm25", "k": 2 }),
        )
        .await
        .expect(200);
    assert_eq!(ids(&bm25).len(), 2);
    assert!(ids(&bm25).iter().all(|id| id == "d1" || id == "d3"), "{:?}", ids(&bm25));
    assert_eq!(bm25.body["results"][0]["score_kind"]["by"], "stage1");

    let filtered = server
        .post(
            "/v1/collections/docs/search",
            json!({ "query": "vitamin bones", "mode": "bm25", "filter": "year < 2022" }),
        )
        .await
        .expect(200);
    assert_eq!(ids(&filtered), vec!["d1".to_string()]);
    assert_eq!(filtered.body["results"][0]["metadata"], json!({ "year": 2020, "tags": ["bones"] }));

    // A per-query HNSW breadth reaches the engine (exact search here: same results), and
    // is range-checked there.
    let wide = server
        .post(
            "/v1/collections/docs/search",
            json!({ "query": "vitamin bones", "mode": "bm25", "k": 2, "ef_search": 400 }),
        )
        .await
        .expect(200);
    assert_eq!(ids(&wide), ids(&bm25));
    server
        .post("/v1/collections/docs/search", json!({ "query": "x", "ef_search": 0 }))
        .await
        .expect_error(400, "bad_request", "ef_search");

    let body = json!({
        "query": "vitamin d bones",
        "k": 3,
        "rerank": [{ "candidates": 4 }, { "model": "tiny-ce", "candidates": 3 }],
        "fuse_stages": { "method": "rrf", "k": 60.0, "weights": [1.0, 1.0] },
    });
    let reply = server.post("/v1/collections/docs/search", body.clone()).await.expect(200);
    assert_eq!(ids(&reply).len(), 3);
    let stages = reply.body["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 3, "stage 1 and two rerankers");
    assert_eq!(stages[1]["documents"], 4);
    assert_eq!(stages[2]["documents"], 3);
    assert_eq!(reply.body["results"][0]["score_kind"]["by"], "fused");
    assert_eq!(reply.body["results"][0]["reranks"].as_array().expect("reranks").len(), 2);
    assert_eq!(reply.body["deadline_exceeded"], false);
    // Hybrid (the default with a bi-encoder): each result says where each retriever put it.
    let results = reply.body["results"].as_array().expect("results");
    assert!(
        results.iter().all(|r| r["retrievers"]["dense"]["rank"].as_u64().is_some()),
        "{results:?}"
    );
    assert!(
        results.iter().any(|r| r["retrievers"]["bm25"]["rank"].as_u64().is_some()),
        "{results:?}"
    );
    assert!(bm25.body["results"][0]["retrievers"]["dense"].is_null());

    // The same search again past the result cache: every pair comes from the score cache,
    // the results are equal.
    let mut uncached = body.clone();
    uncached["cache"] = json!(false);
    let again = server.post("/v1/collections/docs/search", uncached).await.expect(200);
    assert_eq!(again.body["results"], reply.body["results"]);
    assert!(again.body["cache"].is_null());
    let metrics = server.get("/metrics").await.expect(200);
    // First search: 4 pairs computed, the cascade's second stage (same model) reads 3 of
    // them back; second search: all 7 from the cache.
    assert_eq!(metric(&metrics.text, "tamis_cache_misses_total{cache=\"scores:tiny-ce\"}"), 4.0);
    assert_eq!(metric(&metrics.text, "tamis_cache_hits_total{cache=\"scores:tiny-ce\"}"), 10.0);
    assert_eq!(metric(&metrics.text, "tamis_cache_hits_total{cache=\"query_embeddings\"}"), 1.0);
    assert!(metrics.text.contains("tamis_stage_duration_seconds_count{stage=\"stage1\"}"));

    server
        .post(
            "/v1/collections/docs/search",
            json!({ "query": "x", "rerank": [{ "model": "nope" }] }),
        )
        .await
        .expect_error(400, "bad_request", "unknown reranker");
    server.post("/v1/collections/docs/search", json!({ "query": "" })).await.expect_error(
        400,
        "bad_request",
        "query",
    );
    server
        .post("/v1/collections/docs/search", json!({ "query": "x", "mode": "semantic" }))
        .await
        .expect_error(422, "validation", "mode");
    server.post("/v1/collections/nope/search", json!({ "query": "x" })).await.expect(404);
}

#[tokio::test]
async fn a_zero_deadline_keeps_stage_one_order_and_says_so() {
    let server = with_corpus().await;
    let stage1 = server
        .post("/v1/collections/docs/search", json!({ "query": "vitamin bones" }))
        .await
        .expect(200);
    let body = json!({ "query": "vitamin bones", "rerank": [{}], "deadline_ms": 0 });
    let reply = server.post("/v1/collections/docs/search", body).await.expect(200);
    assert_eq!(reply.body["deadline_exceeded"], true);
    assert_eq!(ids(&reply), ids(&stage1), "the unscored tail keeps stage-1 order");
    assert_eq!(reply.body["stages"][1]["stopped"], "deadline");
}

/// `tamis index` writing a collection holds its write lock; deleting it meanwhile would
/// pull the files from under the writer, so the delete answers 503 as an upsert does,
/// whether this server has the collection open or not.
#[tokio::test]
async fn deleting_a_collection_another_process_writes_answers_503() {
    let server = Setup::default().start();
    // The other process: its own handle on the data directory, holding the write lock.
    let catalog = embedded_catalog(server.dir.path());
    let mut writer = catalog
        .create("docs", tamis_engine::IndexSettings::new("other-embedder", 8))
        .expect("create");
    writer.lock_for_writing().expect("the write lock");
    server.call(Method::DELETE, "/v1/collections/docs", None, None).await.expect_error(
        503,
        "unavailable",
        "another process is writing",
    );
    // Now opened by the server.
    server.get("/v1/collections/docs").await.expect(200);
    server.call(Method::DELETE, "/v1/collections/docs", None, None).await.expect_error(
        503,
        "unavailable",
        "another process is writing",
    );
    assert!(server.dir.path().join("collections/docs").is_dir(), "nothing was removed");
    // The writer stops: the delete goes through.
    drop(writer);
    server.call(Method::DELETE, "/v1/collections/docs", None, None).await.expect(200);
    assert!(!server.dir.path().join("collections/docs").exists());
    server.get("/v1/collections/docs").await.expect_error(404, "not_found", "docs");
}

/// A delete refuses (409) while a write of this server is in progress on the
/// collection, rather than land between two batches of an upsert; a write that was
/// waiting to start finds the collection gone (404).
#[tokio::test]
#[expect(
    clippy::await_holding_lock,
    reason = "the guard stands for an upsert in flight; the delete only tries the lock"
)]
async fn deleting_a_collection_being_written_through_the_server_answers_409() {
    let server = with_corpus().await;
    let collection = server.state.collections.as_ref().expect("a data directory").get("docs");
    let collection = collection.expect("the collection");
    let writing = collection.begin_write().expect("not deleted");
    server.call(Method::DELETE, "/v1/collections/docs", None, None).await.expect_error(
        409,
        "conflict",
        "being written",
    );
    server.get("/v1/collections/docs").await.expect(200);
    drop(writing);
    server.call(Method::DELETE, "/v1/collections/docs", None, None).await.expect(200);
    let err = collection.begin_write().expect_err("deleted");
    assert_eq!(err.error_type, tamis_server::ErrorType::NotFound, "{err}");
}

/// A collection created with `late_interaction` stores the ColBERT model's token vectors
/// at upsert, and a search reranking with that model scores them as it scores by
/// encoding; another ColBERT model, or a server without the model, is refused.
#[tokio::test]
async fn a_colbert_collection_stores_token_vectors_that_searches_score() {
    let rerankers = vec![
        ("tiny-ce".to_string(), crate::fixture("bert-ce-1label")),
        ("tiny-colbert".to_string(), crate::fixture("colbert-pylate")),
        ("other-colbert".to_string(), crate::fixture("colbert-ai")),
    ];
    let server = Setup { rerankers, ..Setup::default() }.start();
    let late = json!({ "late_interaction": "tiny-colbert", "token_storage": "f16" });
    let created = server.call(Method::PUT, "/v1/collections/late", Some(late), None).await;
    let created = created.expect(201);
    assert_eq!(created.body["late_interaction"]["model"], "tiny-colbert", "{}", created.text);
    assert_eq!(created.body["late_interaction"]["storage"], "f16");
    server.call(Method::PUT, "/v1/collections/plain", None, None).await.expect(201);
    for name in ["late", "plain"] {
        let path = format!("/v1/collections/{name}/documents");
        server.post(&path, corpus()).await.expect(200);
    }
    let described = server.get("/v1/collections/late").await.expect(200);
    let tokens = &described.body["late_interaction"];
    assert_eq!(tokens["chunks"], 4, "{}", described.text);
    let dimension = tokens["dimension"].as_u64().expect("dimension");
    assert_eq!(tokens["bytes"], tokens["vectors"].as_u64().expect("vectors") * 2 * dimension);
    assert!(server.get("/v1/collections/plain").await.body["late_interaction"].is_null());

    let served = &server;
    let search = |name: &str, rerank: serde_json::Value| {
        let body = json!({ "query": "vitamin d bones", "mode": "bm25", "k": 4, "rerank": rerank });
        let path = format!("/v1/collections/{name}/search");
        async move { served.post(&path, body).await }
    };
    let scores = |reply: &crate::Reply| -> Vec<(String, f64)> {
        let results = reply.body["results"].as_array().expect("results");
        results
            .iter()
            .map(|r| (r["id"].as_str().expect("id").into(), r["score"].as_f64().expect("score")))
            .collect()
    };
    let colbert = json!([{ "model": "tiny-colbert", "candidates": 4 }]);
    let stored = search("late", colbert.clone()).await.expect(200);
    let encoded = search("plain", colbert).await.expect(200);
    assert_eq!(scores(&stored).len(), 2, "{}", stored.text);
    for ((id, score), (other, reference)) in scores(&stored).iter().zip(&scores(&encoded)) {
        assert_eq!(id, other);
        assert!(
            (score - reference).abs() <= 2e-3 * reference.abs().max(1.0),
            "{id}: {score} {reference}"
        );
    }
    // ColBERT, then the cross-encoder on its top 1.
    let cascade = json!([{ "model": "tiny-colbert", "candidates": 4 }, { "model": "tiny-ce", "candidates": 1 }]);
    let reply = search("late", cascade).await.expect(200);
    assert_eq!(reply.body["stages"].as_array().expect("stages").len(), 3, "{}", reply.text);
    assert_eq!(reply.body["stages"][2]["documents"], 1);

    search("late", json!([{ "model": "other-colbert" }])).await.expect_error(
        400,
        "bad_request",
        "stores the token vectors of late-interaction model",
    );
    let bad = json!({ "late_interaction": "tiny-ce" });
    server.call(Method::PUT, "/v1/collections/bad", Some(bad), None).await.expect_error(
        422,
        "validation",
        "not one",
    );
    let bad = json!({ "token_storage": "int8" });
    server.call(Method::PUT, "/v1/collections/bad", Some(bad), None).await.expect_error(
        422,
        "validation",
        "needs `late_interaction`",
    );

    // A server without the model cannot compute the vectors of new chunks: it writes nothing.
    let TestServer { router, state, dir } = server;
    drop((router, state));
    let without = Setup { reuse_dir: Some(dir), ..Setup::default() }.start();
    without.post("/v1/collections/late/documents", corpus()).await.expect_error(
        422,
        "validation",
        "start it with --reranker tiny-colbert",
    );
    without.post("/v1/collections/plain/documents", corpus()).await.expect(200);
}
