//! Every command against PostgreSQL + pgvector (`TAMIS_PG_URL`, started by
//! `scripts/postgres/with-postgres.sh`): the same results as the embedded index where the
//! retrievers are the same, and several `tamis serve` processes sharing one database.

use crate::server::Server;
use crate::{INPUT, NOT_FOUND, UNAVAILABLE, assert_fails_with, tamis, tamis_ok};

/// Standard output of a successful run as one JSON value.
fn json_output(args: &[&str]) -> serde_json::Value {
    let output = tamis_ok(args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{args:?}: {err}: {stdout}"))
}

fn url() -> String {
    tamis_testkit::postgres_url()
}

fn password() -> String {
    let url = url();
    url.split(':').nth(2).and_then(|s| s.split('@').next()).unwrap().to_string()
}

/// A collection name no other test (or run against the same server) uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn minilm() -> String {
    tamis_testkit::shared_model("all-MiniLM-L6-v2").display().to_string()
}

const DOCS: &str = r#"{"id": "vit", "title": "Vitamin D", "text": "Sunlight exposure raises vitamin D levels in the blood.", "metadata": {"year": 2012}}
{"id": "stat", "title": "Statins", "text": "Statins lower cholesterol and the risk of heart attacks.", "metadata": {"year": 2018}}
{"id": "soy", "title": "Soy", "text": "Soy isoflavones and breast cancer risk in women.", "metadata": {"year": 2020}}
"#;

#[test]
fn index_search_and_info_work_on_a_postgres_collection() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("docs.jsonl");
    fs_err::write(&input, DOCS).unwrap();
    let (url, name, model) = (url(), unique("cli"), minilm());
    let input = input.to_str().unwrap();
    let index = tamis(
        &["index", &url, "--collection", &name, "--input", input, "--model", &model],
        "",
        &[],
    );
    let stderr = String::from_utf8_lossy(&index.stderr);
    assert!(index.status.success(), "{stderr}");
    assert!(stderr.contains("indexed 3 document(s)"), "{stderr}");
    assert!(!stderr.contains(&password()), "the password was printed: {stderr}");

    for mode in ["dense", "bm25", "hybrid"] {
        let hits = json_output(&[
            "search",
            &url,
            "--collection",
            &name,
            "cholesterol lowering drugs",
            "--mode",
            mode,
            "--model",
            &model,
            "--json",
        ]);
        assert_eq!(hits["results"][0]["id"], "stat", "{mode}: {hits}");
    }
    let filtered = json_output(&[
        "search",
        &url,
        "--collection",
        &name,
        "vitamin",
        "--mode",
        "dense",
        "--filter",
        "year >= 2018",
        "--model",
        &model,
        "--json",
    ]);
    let filtered = filtered["results"].as_array().unwrap();
    assert!(!filtered.is_empty() && filtered.iter().all(|h| h["id"] != "vit"), "{filtered:?}");

    let info = json_output(&["info", &url, "--collection", &name, "--json"]);
    assert_eq!(info["backend"], "postgres");
    assert_eq!(info["documents"], 3);
    assert_eq!(info["lexical_scoring"], "bm25");
    assert!(!info.to_string().contains(&password()), "{info}");

    // Deleting goes through the same command.
    tamis_ok(&["index", &url, "--collection", &name, "--delete", "soy"]);
    let info = json_output(&["info", &url, "--collection", &name, "--json"]);
    assert_eq!(info["documents"], 2);
}

/// A collection made before tamis ranked PostgreSQL text with BM25 (schema version 1):
/// `tamis info` says so and how to fix it, `tamis index --rebuild-lexical` does.
#[test]
fn a_collection_ranked_by_ts_rank_is_rebuilt_for_bm25_from_the_cli() {
    use tamis_engine::backend::Catalog;
    let (url, name) = (url(), unique("legacy"));
    let config = tamis_postgres::PgConfig::from_url(&url).unwrap();
    let catalog = tamis_postgres::PgCatalog::connect(&config, Default::default()).unwrap();
    let settings = tamis_engine::IndexSettings::new("hash", tamis_testkit::HASH_DIMENSION);
    let mut legacy = catalog.create_legacy(&name, &settings, Default::default(), 1).unwrap();
    let docs: Vec<tamis_engine::Document> = DOCS
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            tamis_engine::Document {
                id: value["id"].as_str().unwrap().into(),
                title: value["title"].as_str().unwrap().into(),
                text: value["text"].as_str().unwrap().into(),
                metadata: None,
            }
        })
        .collect();
    let models =
        tamis_engine::IngestModels::new(&tamis_testkit::HashEmbedder, &tamis_testkit::HashEmbedder);
    legacy.ingest_batch(&docs, models).unwrap();
    drop(legacy);

    let info = json_output(&["info", &url, "--collection", &name, "--json"]);
    assert_eq!(info["lexical_scoring"], "ts_rank");
    let note = info["lexical_note"].as_str().unwrap_or_default();
    assert!(note.contains(&format!("--collection {name} --rebuild-lexical")), "{info}");
    assert!(!note.contains(&password()), "{note}");

    let flagged = tamis(
        &["index", &url, "--collection", &name, "--rebuild-lexical", "--bm25-k1", "0.9"],
        "",
        &[],
    );
    assert_fails_with(&flagged, INPUT, "--rebuild-lexical builds postings with the collection's");
    let rebuilt = tamis_ok(&["index", &url, "--collection", &name, "--rebuild-lexical"]);
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(stderr.contains("BM25 postings built for 3 chunk(s)"), "{stderr}");
    let info = json_output(&["info", &url, "--collection", &name, "--json"]);
    assert_eq!(info["lexical_scoring"], "bm25");
    assert!(info.get("lexical_note").is_none(), "{info}");
    let hits = json_output(&[
        "search",
        &url,
        "--collection",
        &name,
        "cholesterol",
        "--mode",
        "bm25",
        "--json",
    ]);
    assert_eq!(hits["results"][0]["id"], "stat", "{hits}");
    assert_eq!(hits["results"].as_array().map(Vec::len), Some(1), "{hits}");

    let again = tamis_ok(&["index", &url, "--collection", &name, "--rebuild-lexical"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already ranks text with BM25"), "{stderr}");
    let missing = tamis(&["index", &url, "--collection", "no-such", "--rebuild-lexical"], "", &[]);
    assert_fails_with(&missing, NOT_FOUND, "holds no collection 'no-such'");
    let dir = tempfile::tempdir().unwrap();
    let embedded = tamis(&["index", dir.path().to_str().unwrap(), "--rebuild-lexical"], "", &[]);
    assert_fails_with(&embedded, INPUT, "is an embedded index, which has always ranked with BM25");
    catalog.remove(&name).unwrap();
    // A collection of schema version 2 had its postings: only its layout changes, and it
    // gets the write sequence.
    drop(catalog.create_legacy(&name, &settings, Default::default(), 2).unwrap());
    let info = json_output(&["info", &url, "--collection", &name, "--json"]);
    let note = info["cache_note"].as_str().unwrap_or_default();
    assert!(note.contains(&format!("--collection {name} --rebuild-lexical")), "{info}");
    let upgraded = tamis_ok(&["index", &url, "--collection", &name, "--rebuild-lexical"]);
    let stderr = String::from_utf8_lossy(&upgraded.stderr);
    assert!(stderr.contains("already ranked text with BM25; schema version 2 -> 4"), "{stderr}");
    let info = json_output(&["info", &url, "--collection", &name, "--json"]);
    assert!(info.get("cache_note").is_none(), "{info}");
    assert_eq!(info["sequence"], 0, "{info}");
    catalog.remove(&name).unwrap();
}

/// BM25 through both backends on the shared datasets, every test query: the same top 10
/// with the same scores, so the same nDCG@10. Through the library with the hash embedder
/// (BM25 needs no model), one chunk per document as `tamis eval --chunking whole` makes.
#[test]
fn nfcorpus_and_cranfield_rank_the_same_by_bm25_through_both_backends() {
    use tamis_engine::backend::Catalog;
    use tamis_engine::{SearchMode, SearchRequest};
    use tamis_eval::{EvalConfig, Evaluator, Metric, Run};
    let config = tamis_postgres::PgConfig::from_url(&url()).unwrap();
    let catalog = tamis_postgres::PgCatalog::connect(&config, Default::default()).unwrap();
    let models =
        tamis_engine::IngestModels::new(&tamis_testkit::HashEmbedder, &tamis_testkit::HashEmbedder);
    for dataset in ["nfcorpus", "cranfield"] {
        let dir = tamis_testkit::shared_dataset(dataset);
        let docs: Vec<tamis_engine::Document> =
            tamis_eval::corpus_docs(&dir).unwrap().map(Result::unwrap).collect();
        let split = tamis_eval::Dataset::load(&dir, "test").unwrap();
        let mut settings = tamis_engine::IndexSettings::new("hash", tamis_testkit::HASH_DIMENSION);
        settings.chunking.mode = tamis_engine::chunker::ChunkMode::Whole;
        let scratch = tempfile::tempdir().unwrap();
        let mut embedded = tamis_embedded::create(scratch.path(), settings.clone()).unwrap();
        let name = unique(&format!("bm25-{dataset}"));
        let mut postgres = catalog.create(&name, settings).unwrap();
        for batch in docs.chunks(500) {
            embedded.ingest_batch(batch, models).unwrap();
            postgres.ingest_batch(batch, models).unwrap();
        }
        embedded.flush().unwrap();
        let (mut runs, mut overlap, mut worst) = ([Run::new(), Run::new()], 0.0, 0.0f64);
        for query in &split.queries {
            let request = SearchRequest::new(&query.text, SearchMode::Bm25);
            let [a, b] = [&embedded, &postgres].map(|index| {
                let hits = index.search(&request, Some(&tamis_testkit::HashEmbedder)).unwrap();
                hits.into_iter().map(|h| (h.doc_id, f64::from(h.score))).collect::<Vec<_>>()
            });
            let top_b: std::collections::HashMap<&str, f64> =
                b.iter().map(|(doc, score)| (doc.as_str(), *score)).collect();
            let shared = a.iter().filter(|(doc, _)| top_b.contains_key(doc.as_str())).count();
            // Both finding nothing (no query term in the corpus) is agreement.
            overlap += match a.len().max(b.len()) {
                0 => 1.0,
                most => shared as f64 / most as f64,
            };
            for (doc, score) in &a {
                if let Some(other) = top_b.get(doc.as_str()) {
                    worst = worst.max((score - other).abs() / score.abs().max(1e-9));
                }
            }
            runs[0].insert_query(query.id.as_str(), a);
            runs[1].insert_query(query.id.as_str(), b);
        }
        let overlap = overlap / split.queries.len() as f64;
        let evaluator = Evaluator::new(&split.qrels, EvalConfig::default()).unwrap();
        let [ndcg_a, ndcg_b] =
            runs.map(|run| evaluator.evaluate(&run).mean.get(Metric::Ndcg(10)).unwrap());
        eprintln!(
            "{dataset}: top-10 overlap {overlap:.4}, largest relative score difference \
             {worst:.1e}, nDCG@10 {ndcg_a:.4} embedded, {ndcg_b:.4} PostgreSQL"
        );
        // Measured: overlap 1.0000 on both, scores within 2.3e-7.
        assert!(overlap >= 0.98, "{dataset}: top-10 overlap {overlap}");
        assert!(worst <= 1e-5, "{dataset}: scores differ by {worst:e}");
        assert!((ndcg_a - ndcg_b).abs() <= 0.003, "{dataset}: nDCG@10 {ndcg_a} vs {ndcg_b}");
        catalog.remove(&name).unwrap();
    }
}

#[test]
fn postgres_misuse_fails_with_one_line_and_no_secret() {
    let url = url();
    let missing_collection = tamis(&["info", &url], "", &[]);
    assert_fails_with(&missing_collection, INPUT, "add --collection NAME");
    let unknown = tamis(&["info", &url, "--collection", "no-such-collection"], "", &[]);
    assert_fails_with(&unknown, NOT_FOUND, "holds no collection 'no-such-collection'");
    let wrong = url.replacen(&password(), "wrong-password", 1);
    let refused = tamis(&["info", &wrong, "--collection", "x"], "", &[]);
    assert_fails_with(&refused, INPUT, "password authentication failed");
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("wrong-password"));
    let closed =
        tamis(&["info", "postgres://tamis:pw@127.0.0.1:1/db", "--collection", "x"], "", &[]);
    assert_fails_with(&closed, UNAVAILABLE, "postgres://tamis@127.0.0.1:1/db");
    let dir = tempfile::tempdir().unwrap();
    let stray = tamis(&["info", dir.path().to_str().unwrap(), "--collection", "x"], "", &[]);
    assert_fails_with(&stray, INPUT, "--collection names a collection in a PostgreSQL store");
    let halfvec =
        tamis(&["index", dir.path().to_str().unwrap(), "--halfvec", "--delete", "x"], "", &[]);
    assert_fails_with(&halfvec, INPUT, "--halfvec is a PostgreSQL storage option");
    // The names the server accepts, and only those, so a collection is never made from
    // the CLI that `tamis serve` cannot serve.
    let spaced = tamis(&["index", &url, "--collection", "my docs", "--delete", "x"], "", &[]);
    assert_fails_with(&spaced, INPUT, "invalid collection name \"my docs\"");
}

/// `sslmode` and `sslrootcert` in the URL reach the connection: through a TLS proxy in
/// front of the test server (`tamis_testkit::TlsProxy`), with its private CA.
#[test]
fn tls_settings_in_the_url_are_obeyed() {
    let proxy = tamis_testkit::TlsProxy::for_test_server(&["localhost"]);
    let ca = proxy.ca_file.to_str().unwrap();
    let url = proxy.url("localhost", &format!("sslmode=require&sslrootcert={ca}"));
    let unknown = tamis(&["info", &url, "--collection", "no-such-collection"], "", &[]);
    assert_fails_with(&unknown, NOT_FOUND, "holds no collection 'no-such-collection'");
    assert!(proxy.handshakes() >= 1, "the connection went through TLS");
    let untrusted = proxy.url("localhost", "sslmode=require");
    let refused = tamis(&["info", &untrusted, "--collection", "x"], "", &[]);
    assert_fails_with(&refused, UNAVAILABLE, "UnknownIssuer");
}

fn eval_report(extra: &[&str]) -> serde_json::Value {
    let dataset = tamis_testkit::shared_dataset("cranfield");
    let model = minilm();
    let args = [
        &["eval", "--json", "--dataset", dataset.to_str().unwrap(), "--model", &model][..],
        &["--chunking", "whole"],
        extra,
    ]
    .concat();
    let output = tamis(&args, "", &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn metric(report: &serde_json::Value, mode: &str, label: &str) -> f64 {
    let row = report["results"].as_array().unwrap().iter().find(|r| r["mode"] == mode).unwrap();
    row["metrics"][label].as_f64().unwrap()
}

/// Cranfield through both backends: dense search is exact in both (1400 chunks are below
/// `exact_below`), so its runs must be the same ranking; BM25 uses the same terms,
/// parameters and rounded lengths in both, so its top 10 must agree (issue 22's bars:
/// per-query overlap ≥ 0.98 for BM25, ≥ 0.95 hybrid, nDCG@10 within 0.003).
#[test]
fn cranfield_gives_the_same_results_through_both_backends() {
    let cache = tempfile::tempdir().unwrap();
    let embedded_run = cache.path().join("embedded.txt");
    let postgres_run = cache.path().join("postgres.txt");
    let embedded = eval_report(&[
        "--cache-dir",
        cache.path().to_str().unwrap(),
        "--run-output",
        embedded_run.to_str().unwrap(),
    ]);
    let url = url();
    let postgres = eval_report(&["--store", &url, "--run-output", postgres_run.to_str().unwrap()]);
    for label in ["nDCG@10", "Recall@100", "MRR@10", "P@5"] {
        let (a, b) = (metric(&embedded, "dense", label), metric(&postgres, "dense", label));
        assert!((a - b).abs() <= 1e-6, "dense {label}: embedded {a} vs postgres {b}");
    }
    // Same documents in the same order for every query, up to near-ties: pgvector sums in
    // its own order, so scores agree to ~1e-6 and documents within that of each other may
    // swap (measured: 6 of 22 500 positions, |Δscore| ≤ 5.4e-7).
    let run = |path: &std::path::Path| -> std::collections::BTreeMap<String, Vec<(String, f64)>> {
        let mut queries = std::collections::BTreeMap::<String, Vec<(String, f64)>>::new();
        for line in fs_err::read_to_string(path).unwrap().lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let entry = (fields[2].to_string(), fields[4].parse().unwrap());
            queries.entry(fields[0].to_string()).or_default().push(entry);
        }
        queries
    };
    let dense_file = |path: &std::path::Path| {
        let mut name = path.as_os_str().to_owned();
        name.push(".dense");
        std::path::PathBuf::from(name)
    };
    let (embedded_run, postgres_run) =
        (run(&dense_file(&embedded_run)), run(&dense_file(&postgres_run)));
    assert_eq!(embedded_run.keys().collect::<Vec<_>>(), postgres_run.keys().collect::<Vec<_>>());
    let (mut positions, mut swapped) = (0, 0);
    for (query, a) in &embedded_run {
        let b = &postgres_run[query];
        assert_eq!(a.len(), b.len(), "query {query}");
        let b_scores: std::collections::HashMap<&str, f64> =
            b.iter().map(|(doc, score)| (doc.as_str(), *score)).collect();
        for ((doc_a, score_a), (doc_b, score_b)) in a.iter().zip(b) {
            positions += 1;
            assert!(
                (score_a - score_b).abs() <= 1e-5,
                "query {query}: {doc_a} {score_a} vs {doc_b} {score_b}"
            );
            if let Some(score) = b_scores.get(doc_a.as_str()) {
                assert!((score_a - score).abs() <= 1e-5, "query {query}: {doc_a}");
            }
            swapped += usize::from(doc_a != doc_b);
        }
    }
    assert!(swapped * 1000 <= positions, "{swapped} of {positions} positions differ");

    let mode_file = |path: &std::path::Path, mode: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{mode}"));
        std::path::PathBuf::from(name)
    };
    for (mode, bar) in [("bm25", 0.98), ("hybrid", 0.95)] {
        let a = run(&mode_file(&cache.path().join("embedded.txt"), mode));
        let b = run(&mode_file(&cache.path().join("postgres.txt"), mode));
        let mut overlap = 0.0;
        for (query, ranked) in &a {
            let top = |list: &[(String, f64)]| -> std::collections::HashSet<String> {
                list.iter().take(10).map(|(doc, _)| doc.clone()).collect()
            };
            let (ta, tb) = (top(ranked), top(b.get(query).map_or(&[][..], |v| &v[..])));
            overlap += ta.intersection(&tb).count() as f64 / ta.len().max(1) as f64;
        }
        let overlap = overlap / a.len() as f64;
        let (ndcg_a, ndcg_b) =
            (metric(&embedded, mode, "nDCG@10"), metric(&postgres, mode, "nDCG@10"));
        eprintln!(
            "cranfield {mode}: top-10 overlap {overlap:.4}; nDCG@10 embedded {ndcg_a:.4}, postgres {ndcg_b:.4}"
        );
        assert!(overlap >= bar, "{mode}: top-10 overlap {overlap:.4} below {bar}");
        assert!((ndcg_a - ndcg_b).abs() <= 0.003, "{mode}: nDCG@10 {ndcg_a:.4} vs {ndcg_b:.4}");
    }
}

#[test]
fn two_servers_share_one_database_and_keep_no_state_of_their_own() {
    let url = url();
    let serve = ["--store", url.as_str(), "--model", &minilm()];
    let (a, b) = (Server::start(&serve), Server::start(&serve));
    let name = unique("nodes");
    let collection = format!("/v1/collections/{name}");
    a.put(&collection, serde_json::json!({})).unwrap();
    assert_eq!(b.put(&collection, serde_json::json!({})), Err(409), "the name is taken for B too");
    // B learns of the collection from the database, not from A.
    assert!(b.get("/v1/collections").unwrap().to_string().contains(&name));
    let documents = serde_json::json!({ "documents": [
        {"id": "vit", "title": "Vitamin D", "text": "Sunlight exposure raises vitamin D levels."},
        {"id": "stat", "title": "Statins", "text": "Statins lower cholesterol and heart attack risk."},
    ]});
    a.post(&format!("{collection}/documents"), documents).unwrap();
    let query = serde_json::json!({ "query": "cholesterol drugs", "k": 1 });
    let found = b.post(&format!("{collection}/search"), query.clone()).unwrap();
    assert_eq!(found["results"][0]["id"], "stat", "{found}");
    // Each node keeps its own result cache...
    let search = format!("{collection}/search");
    let all = serde_json::json!({ "query": "cholesterol drugs", "k": 3 });
    assert!(a.post(&search, all.clone()).unwrap()["cache"].is_null());
    let cached = a.post(&search, all.clone()).unwrap();
    assert_eq!(cached["cache"]["level"], "exact", "{cached}");
    // ... and a write on B is visible on A at once, past A's cache.
    let more = serde_json::json!({ "documents": [
        {"id": "chol", "text": "Dietary cholesterol and statins: a trial of cholesterol drugs."},
    ]});
    b.post(&format!("{collection}/documents"), more).unwrap();
    let info = a.get(&collection).unwrap();
    assert_eq!(info["documents"], 3, "{info}");
    let after = a.post(&search, all).unwrap();
    assert!(after["cache"].is_null(), "{after}");
    assert!(after["results"].to_string().contains("\"chol\""), "{after}");
    // Dropped on A: gone on B too, with a 404 rather than stale results.
    a.delete(&collection).unwrap();
    assert_eq!(b.post(&format!("{collection}/search"), query), Err(404));
    assert_eq!(b.get(&collection), Err(404));
    // Debug logs of the whole exchange (connections, statements) never hold the password.
    for server in [&a, &b] {
        let log = server.log();
        assert!(log.contains("DEBUG") && log.contains("tamis_collections"), "{log}");
        assert!(!log.contains(&password()), "the password was logged: {log}");
    }
}

/// `tamis index --late-interaction` into PostgreSQL stores the same token vectors as a
/// directory, and `tamis search --rerank` scores them the same.
#[test]
fn colbert_token_vectors_in_postgres_score_as_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("docs.jsonl");
    fs_err::write(&input, DOCS).unwrap();
    let input = input.to_str().unwrap();
    let (url, name) = (url(), unique("colbert"));
    let (bi, colbert) =
        (crate::model_fixture("bert-embed-cls"), crate::model_fixture("colbert-pylate"));
    let local = dir.path().join("index");
    let local = local.to_str().unwrap();
    let late = ["--late-interaction", colbert.as_str(), "--token-storage", "int8"];
    tamis_ok(
        &[&["index", &url, "--collection", &name, "-i", input, "-m", &bi][..], &late].concat(),
    );
    tamis_ok(&[&["index", local, "-i", input, "-m", &bi][..], &late].concat());

    let pg_info = json_output(&["info", &url, "--collection", &name, "--json"]);
    let local_info = json_output(&["info", local, "--json"]);
    for field in ["chunks", "vectors", "bytes", "storage", "dimension"] {
        assert_eq!(
            pg_info["late_interaction"][field], local_info["late_interaction"][field],
            "{field}: {pg_info} {local_info}"
        );
    }
    assert_eq!(pg_info["late_interaction"]["chunks"], 3);
    let search = |location: &[&str]| {
        let rest = ["statins and cholesterol", "--json", "--mode", "bm25", "--rerank", &colbert];
        json_output(&[&["search"][..], location, &rest].concat())["results"].clone()
    };
    let (pg, embedded) = (search(&[&url, "--collection", &name]), search(&[local]));
    assert_eq!(pg.as_array().unwrap().len(), embedded.as_array().unwrap().len());
    for (a, b) in pg.as_array().unwrap().iter().zip(embedded.as_array().unwrap()) {
        assert_eq!((&a["id"], &a["score"]), (&b["id"], &b["score"]), "{pg} {embedded}");
        assert_eq!(a["reranks"][0]["rank"], b["reranks"][0]["rank"]);
    }
    let output = tamis(
        &[
            "search",
            &url,
            "--collection",
            &name,
            "statins",
            "--rerank",
            &crate::model_fixture("colbert-ai"),
        ],
        "",
        &[],
    );
    assert_fails_with(&output, INPUT, "stores the token vectors of late-interaction model");
}
