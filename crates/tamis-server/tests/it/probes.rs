//! What held up under the hardening probe stays held: collection names cannot reach
//! outside the data directory, and filter values cannot become SQL.

use axum::http::Method;
use serde_json::json;

use crate::Setup;

/// Every name that could resolve outside `collections/` is refused before any file is
/// touched, on every method, and a file beside the data directory survives the attempts.
#[tokio::test]
async fn collection_names_never_reach_outside_the_data_directory() {
    let server = Setup::default().start();
    let outside = server.dir.path().join("outside");
    fs_err::create_dir_all(outside.join("store")).unwrap();
    fs_err::write(outside.join("store/keep.txt"), "keep").unwrap();
    let before = tree(server.dir.path());
    for name in [
        "..",
        "%2e%2e",
        "..%2Foutside",
        "%2e%2e%2foutside",
        "..%5Coutside",
        "a%2F..%2F..%2Foutside",
        "%2Fetc",
        ".hidden",
        "a%00b",
        "%C0%AE%C0%AE",
    ] {
        let path = format!("/v1/collections/{name}");
        for method in [Method::PUT, Method::GET, Method::DELETE] {
            let reply = server.call(method.clone(), &path, None, None).await;
            assert!(
                matches!(reply.status.as_u16(), 400 | 404),
                "{method} {path}: {} {}",
                reply.status,
                reply.text
            );
            assert!(reply.body["error_type"].is_string(), "{method} {path}: {}", reply.text);
        }
        let docs = format!("{path}/documents");
        let reply = server.post(&docs, json!({ "documents": [{ "id": "a", "text": "t" }] })).await;
        assert!(matches!(reply.status.as_u16(), 400 | 404), "POST {docs}: {}", reply.text);
    }
    assert_eq!(tree(server.dir.path()), before, "the data directory's parent changed");
    assert_eq!(fs_err::read_to_string(outside.join("store/keep.txt")).unwrap(), "keep");
}

/// Quotes, comment markers and SQL keywords inside filter strings are values, matched
/// literally, in search and in delete-by-filter.
#[tokio::test]
async fn filter_values_are_never_sql() {
    let server = Setup::default().start();
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    let documents: Vec<_> = ["plain", "it's", "a\"b", "x') OR 1=1 --", "robert'); DROP TABLE chunks;--"]
        .iter()
        .enumerate()
        .map(|(i, tag)| json!({ "id": format!("d{i}"), "text": "shared words", "metadata": { "tag": tag } }))
        .collect();
    server
        .post("/v1/collections/docs/documents", json!({ "documents": documents }))
        .await
        .expect(200);
    let search = |filter: String| json!({ "query": "shared words", "mode": "bm25", "k": 10, "filter": filter });
    // Each tag, written as a filter literal, selects exactly its own document.
    for (i, literal) in [
        r#""plain""#,
        r#""it's""#,
        r#""a\"b""#,
        r#""x') OR 1=1 --""#,
        r#""robert'); DROP TABLE chunks;--""#,
    ]
    .iter()
    .enumerate()
    {
        let reply = server
            .post("/v1/collections/docs/search", search(format!("tag = {literal}")))
            .await
            .expect(200);
        let ids: Vec<&str> = reply.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![format!("d{i}")], "filter tag = {literal}");
    }
    // A literal that would be a tautology in SQL deletes nothing.
    let reply = server
        .post(
            "/v1/collections/docs/documents/delete",
            json!({ "filter": r#"tag = "' OR '1'='1""# }),
        )
        .await
        .expect(200);
    assert_eq!(reply.body["deleted"], 0, "{}", reply.text);
    let all = server
        .post("/v1/collections/docs/search", search("tag != \"none\"".into()))
        .await
        .expect(200);
    assert_eq!(all.body["results"].as_array().unwrap().len(), 5, "{}", all.text);
}

/// Every path under `root`, relative, sorted.
fn tree(root: &std::path::Path) -> Vec<String> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).expect("a readable directory") {
            let path = entry.expect("an entry").path();
            paths.push(path.strip_prefix(root).expect("under root").display().to_string());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    paths.sort();
    paths
}
