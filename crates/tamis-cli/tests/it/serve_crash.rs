//! `kill -9` of `tamis serve` during streams of upserts and deletes over HTTP, on a data
//! directory and on PostgreSQL: after each kill the restarted server holds every
//! acknowledged write, no request half applied, and answers searches.
//!
//! Trials per backend: `TAMIS_CRASH_TRIALS` (default [`CI_TRIALS`]); the kill points come
//! from `TAMIS_CRASH_SEED` (default: the clock), printed so a failure can be replayed.
//! The trials share one collection, so a later kill must also spare earlier trials' data:
//! each trial checks its own writes, a sample of older ones and the document count, and
//! the last server is asked for every document ever written or deleted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::Server;

/// Trials per backend in CI: 34 s on a data directory, 16 s on PostgreSQL, measured in a
/// debug build on two cores shared with other compiles (load average 9).
const CI_TRIALS: usize = 20;
/// Documents an upsert adds; it also replaces up to [`REPLACED_PER_UPSERT`] existing
/// ones. One request is one all-or-nothing batch (the server's batches hold 64).
const NEW_PER_UPSERT: usize = 6;
const REPLACED_PER_UPSERT: usize = 2;
/// The deleter leaves this many documents alone, so upserts have some to replace.
const KEEP_FOR_REPLACING: usize = 24;
/// Small, so that the embedded index soon searches an HNSW graph whose saved state the
/// kill must not tear from the log.
const EXACT_BELOW: usize = 64;

/// A xorshift generator: the kill points follow from the seed alone.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Document `n`'s text at revision `rev`: `tokN` is its own word, so BM25 finds exactly it.
fn text_of(n: usize, rev: usize) -> String {
    format!("tok{n} revision {rev} of a note about topic {}", n % 11)
}

fn number_of(id: &str) -> usize {
    id.trim_start_matches('d').parse().unwrap()
}

/// One request the clients sent, with what it changes.
#[derive(Debug)]
enum Write {
    /// (id, text before or `None` for a new id, text sent).
    Upsert(Vec<(String, Option<String>, String)>),
    /// (id, text before).
    Delete(Vec<(String, String)>),
}

#[derive(Debug)]
struct Sent {
    write: Write,
    /// A 2xx response arrived.
    acknowledged: bool,
    /// The connection broke with the request sent or being sent (not refused).
    cut: bool,
}

/// What both client threads share during a trial.
struct Stream {
    base: String,
    collection: String,
    /// Documents known to be present and not being written: (id, text).
    pool: Mutex<Vec<(String, String)>>,
    next_number: AtomicUsize,
    acknowledged: AtomicUsize,
    stop: AtomicBool,
    agent: ureq::Agent,
}

impl Stream {
    /// Sends `body`; `Some(response)` on 2xx, `None` (and whether the request was cut
    /// rather than refused) when the connection failed. Any other status fails the test.
    fn send(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value, bool> {
        let url = format!("{}/v1/collections/{}/{path}", self.base, self.collection);
        match self.agent.post(&url).send_json(body) {
            Ok(response) => Ok(response.into_json().unwrap()),
            Err(ureq::Error::Status(code, response)) => {
                panic!("{path}: {code} {}", response.into_string().unwrap_or_default())
            }
            Err(ureq::Error::Transport(err)) => {
                Err(err.kind() != ureq::ErrorKind::ConnectionFailed)
            }
        }
    }

    fn upserts(&self, seed: u64) -> Vec<Sent> {
        let mut rng = Rng(seed | 1);
        let mut sent = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            let mut docs = Vec::new();
            {
                let mut pool = self.pool.lock().unwrap();
                for _ in 0..REPLACED_PER_UPSERT {
                    if pool.len() > KEEP_FOR_REPLACING / 2 {
                        let idx = rng.below(pool.len() as u64) as usize;
                        let (id, old) = pool.swap_remove(idx);
                        let rev = old.split(' ').nth(2).unwrap().parse::<usize>().unwrap() + 1;
                        docs.push((id.clone(), Some(old), text_of(number_of(&id), rev)));
                    }
                }
            }
            for _ in 0..NEW_PER_UPSERT {
                let n = self.next_number.fetch_add(1, Ordering::SeqCst);
                docs.push((format!("d{n}"), None, text_of(n, 0)));
            }
            let body: Vec<_> = docs
                .iter()
                .map(|(id, _, text)| serde_json::json!({"id": id, "text": text}))
                .collect();
            let outcome = self.send("documents", serde_json::json!({ "documents": body }));
            let acknowledged = outcome.is_ok();
            if let Ok(response) = &outcome {
                assert_eq!(response["written"], docs.len(), "{response}");
                self.acknowledged.fetch_add(1, Ordering::SeqCst);
                let mut pool = self.pool.lock().unwrap();
                pool.extend(docs.iter().map(|(id, _, text)| (id.clone(), text.clone())));
            }
            sent.push(Sent { write: Write::Upsert(docs), acknowledged, cut: outcome == Err(true) });
            if !acknowledged {
                break;
            }
        }
        sent
    }

    fn deletes(&self, seed: u64) -> Vec<Sent> {
        let mut rng = Rng(seed | 1);
        let mut sent = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            // Deletes are quick: a pause keeps them from outnumbering the upserts.
            std::thread::sleep(Duration::from_millis(5 + rng.below(10)));
            let mut ids = Vec::new();
            {
                let mut pool = self.pool.lock().unwrap();
                let n_ids = 1 + rng.below(3) as usize;
                while ids.len() < n_ids && pool.len() > KEEP_FOR_REPLACING {
                    let idx = rng.below(pool.len() as u64) as usize;
                    ids.push(pool.swap_remove(idx));
                }
            }
            if ids.is_empty() {
                continue;
            }
            let body = serde_json::json!({"ids": ids.iter().map(|(id, _)| id).collect::<Vec<_>>()});
            let outcome = self.send("documents/delete", body);
            let acknowledged = outcome.is_ok();
            if let Ok(response) = &outcome {
                assert_eq!(response["deleted"], ids.len(), "{response}");
                self.acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            sent.push(Sent { write: Write::Delete(ids), acknowledged, cut: outcome == Err(true) });
            if !acknowledged {
                break;
            }
        }
        sent
    }
}

/// Where the collections live: the arguments of `tamis serve` besides the model.
enum Store {
    DataDir(tempfile::TempDir),
    Postgres(String),
}

impl Store {
    fn start(&self) -> Server {
        let model = crate::model_fixture("bert-embed-cls");
        let location = match self {
            Store::DataDir(dir) => ["--data-dir", dir.path().to_str().unwrap()],
            Store::Postgres(url) => ["--store", url.as_str()],
        };
        Server::start(&[&location[..], &["--model", &model]].concat())
    }
}

/// What the collection must hold: id → text.
#[derive(Default)]
struct Expected {
    present: BTreeMap<String, String>,
    deleted: Vec<String>,
}

/// The counts of one backend's run, for its report line.
#[derive(Default, Debug)]
struct Tally {
    acknowledged_upserts: usize,
    acknowledged_deletes: usize,
    /// Documents those requests wrote (new or replaced) and deleted.
    acknowledged_documents_written: usize,
    acknowledged_documents_deleted: usize,
    /// Lookups of one document's text after a restart.
    documents_checked: usize,
    cut_applied: usize,
    cut_absent: usize,
    kills_mid_request: usize,
}

struct Checker<'a> {
    server: &'a Server,
    collection: &'a str,
    context: String,
    lookups: std::cell::Cell<usize>,
}

impl Checker<'_> {
    fn search(&self, query: &str, mode: &str, k: usize) -> Vec<serde_json::Value> {
        self.search_with(serde_json::json!({"query": query, "mode": mode, "k": k}))
    }

    /// The hits of a search with this request body.
    fn search_with(&self, body: serde_json::Value) -> Vec<serde_json::Value> {
        let path = format!("/v1/collections/{}/search", self.collection);
        let response = self
            .server
            .post(&path, body.clone())
            .unwrap_or_else(|code| panic!("{}: search {body} answered {code}", self.context));
        response["results"].as_array().unwrap().clone()
    }

    /// The text the collection holds for `id`, found by its own word.
    fn text_of(&self, id: &str) -> Option<String> {
        self.lookups.set(self.lookups.get() + 1);
        let hits = self.search(&format!("tok{}", number_of(id)), "bm25", 3);
        let hit = hits.iter().find(|hit| hit["id"] == id)?;
        Some(hit["text"].as_str().unwrap().to_string())
    }

    fn assert_holds(&self, id: &str, expected: Option<&String>) {
        let found = self.text_of(id);
        assert_eq!(found.as_ref(), expected, "{}: document {id}", self.context);
    }
}

/// Settles every request of a trial into `expected`: acknowledged ones as sent, cut ones
/// as the collection shows them, which must be all of the request or none of it.
fn settle(checker: &Checker<'_>, sent: &[Sent], expected: &mut Expected, tally: &mut Tally) {
    for request in sent {
        let applied = if request.acknowledged {
            true
        } else {
            let states: Vec<bool> = match &request.write {
                Write::Upsert(docs) => docs
                    .iter()
                    .map(|(id, old, new)| {
                        let found = checker.text_of(id);
                        assert!(
                            found.as_ref() == Some(new) || found == *old,
                            "{}: {id} holds {found:?}, neither {old:?} nor {new:?}",
                            checker.context
                        );
                        found.as_ref() == Some(new)
                    })
                    .collect(),
                Write::Delete(ids) => {
                    ids.iter().map(|(id, _)| checker.text_of(id).is_none()).collect()
                }
            };
            let applied = states.iter().all(|&s| s);
            assert!(
                applied || states.iter().all(|&s| !s),
                "{}: an unacknowledged request is half applied ({states:?}): {:?}",
                checker.context,
                request.write
            );
            if request.cut {
                *if applied { &mut tally.cut_applied } else { &mut tally.cut_absent } += 1;
            }
            applied
        };
        match (&request.write, applied) {
            (Write::Upsert(docs), true) => {
                if request.acknowledged {
                    tally.acknowledged_upserts += 1;
                    tally.acknowledged_documents_written += docs.len();
                }
                for (id, _, new) in docs {
                    expected.present.insert(id.clone(), new.clone());
                }
            }
            (Write::Delete(ids), true) => {
                if request.acknowledged {
                    tally.acknowledged_deletes += 1;
                    tally.acknowledged_documents_deleted += ids.len();
                }
                for (id, _) in ids {
                    expected.present.remove(id);
                    expected.deleted.push(id.clone());
                }
            }
            (_, false) => {}
        }
    }
}

/// Every document this trial wrote as expected, a sample of older ones, the counts, and
/// dense search over the newest documents (the vector index caught up with the log).
fn check(checker: &Checker<'_>, sent: &[Sent], expected: &Expected, rng: &mut Rng) {
    for request in sent {
        let ids: Vec<&String> = match &request.write {
            Write::Upsert(docs) => docs.iter().map(|(id, _, _)| id).collect(),
            Write::Delete(ids) => ids.iter().map(|(id, _)| id).collect(),
        };
        for id in ids {
            checker.assert_holds(id, expected.present.get(id));
        }
    }
    let present: Vec<(&String, &String)> = expected.present.iter().collect();
    for _ in 0..20.min(present.len()) {
        let (id, text) = present[rng.below(present.len() as u64) as usize];
        checker.assert_holds(id, Some(text));
    }
    for _ in 0..10.min(expected.deleted.len()) {
        let id = &expected.deleted[rng.below(expected.deleted.len() as u64) as usize];
        checker.assert_holds(id, None);
    }
    let info = checker.server.get(&format!("/v1/collections/{}", checker.collection)).unwrap();
    assert_eq!(info["documents"], expected.present.len(), "{}: {info}", checker.context);
    assert_eq!(info["vectors"], info["chunks"], "{}: {info}", checker.context);
    // The widest graph walk the API allows, more than the vectors a trial writes: a miss
    // is a vector the graph lost, not a recall miss (usearch's slot reuse once lost some).
    for (id, text) in present.iter().rev().take(5) {
        let body = serde_json::json!({"query": text, "mode": "dense", "k": 3, "ef_search": 1000});
        let hits = checker.search_with(body);
        assert!(
            hits.iter().any(|hit| hit["id"] == id.as_str()),
            "{}: {id} not found by dense search: {hits:?}",
            checker.context
        );
    }
    assert!(!checker.search("topic note", "hybrid", 10).is_empty() || present.is_empty());
}

fn trials() -> usize {
    std::env::var("TAMIS_CRASH_TRIALS").map_or(CI_TRIALS, |n| n.parse().unwrap())
}

fn seed() -> u64 {
    std::env::var("TAMIS_CRASH_SEED").map_or_else(
        |_| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            now.as_nanos() as u64
        },
        |seed| seed.parse().unwrap(),
    )
}

/// The trials on one store: each kills a server mid-stream, restarts it and checks.
fn run_trials(backend: &str, store: &Store, collection: &str) {
    let (n_trials, seed) = (trials(), seed());
    eprintln!("serve_crash {backend}: {n_trials} trials, TAMIS_CRASH_SEED={seed}");
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    let mut server = store.start();
    let path = format!("/v1/collections/{collection}");
    server.put(&path, serde_json::json!({"exact_below": EXACT_BELOW})).unwrap();
    let (mut expected, mut tally, mut next_number) = (Expected::default(), Tally::default(), 0);
    for trial in 0..n_trials {
        let stream = Arc::new(Stream {
            base: server.base_url().to_string(),
            collection: collection.to_string(),
            pool: Mutex::new(
                expected.present.iter().map(|(i, t)| (i.clone(), t.clone())).collect(),
            ),
            next_number: AtomicUsize::new(next_number),
            acknowledged: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            // A fresh agent: a pooled connection to the killed server would fail a POST
            // that never reached the new one.
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build(),
        });
        let (upsert_seed, delete_seed) = (rng.below(u64::MAX), rng.below(u64::MAX));
        let upserts = std::thread::spawn({
            let stream = stream.clone();
            move || stream.upserts(upsert_seed)
        });
        let deletes = std::thread::spawn({
            let stream = stream.clone();
            move || stream.deletes(delete_seed)
        });
        // A seeded number of acknowledgements, then a seeded pause that spreads the kill
        // over a request's life (parse, embed, commit to the store, the derived indexes).
        let wait_for = 1 + rng.below(24) as usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        while stream.acknowledged.load(Ordering::SeqCst) < wait_for {
            assert!(!upserts.is_finished(), "trial {trial}: the upserts stopped early");
            assert!(Instant::now() < deadline, "trial {trial}: writes too slow");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        drop(server); // SIGKILL
        stream.stop.store(true, Ordering::SeqCst);
        let mut sent = upserts.join().unwrap();
        sent.extend(deletes.join().unwrap());
        next_number = stream.next_number.load(Ordering::SeqCst);
        tally.kills_mid_request += usize::from(sent.iter().any(|s| s.cut));

        server = store.start();
        let context = format!("{backend} trial {trial} (TAMIS_CRASH_SEED={seed})");
        let checker = Checker { server: &server, collection, context, lookups: Default::default() };
        settle(&checker, &sent, &mut expected, &mut tally);
        check(&checker, &sent, &expected, &mut rng);
        tally.documents_checked += checker.lookups.get();
    }
    // At the end every document ever written, not only a sample: the last server must
    // hold each acknowledged write of every trial.
    let context = format!("{backend} after the last trial (TAMIS_CRASH_SEED={seed})");
    let checker = Checker { server: &server, collection, context, lookups: Default::default() };
    for (id, text) in &expected.present {
        checker.assert_holds(id, Some(text));
    }
    for id in &expected.deleted {
        checker.assert_holds(id, None);
    }
    tally.documents_checked += checker.lookups.get();
    eprintln!(
        "serve_crash {backend}: {n_trials} trials in {:.1} s, {} documents present, \
         {tally:?}, seed {seed}",
        started.elapsed().as_secs_f64(),
        expected.present.len(),
    );
    // Almost every kill should cut a request: the upserter has one in flight at all times.
    assert!(tally.kills_mid_request * 2 >= n_trials, "{backend}: {tally:?}");
}

#[test]
fn kill_9_of_serve_keeps_acknowledged_writes_whole_on_a_data_dir() {
    let store = Store::DataDir(tempfile::tempdir().unwrap());
    run_trials("embedded", &store, "crash");
}

#[test]
fn kill_9_of_serve_keeps_acknowledged_writes_whole_on_postgres() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let collection = format!("crash-{}-{}", std::process::id(), nanos.subsec_nanos());
    run_trials("postgres", &Store::Postgres(tamis_testkit::postgres_url()), &collection);
}
