//! Tests of [`Bm25Index`]: ranking sanity, writes, commits, reopening, filters and errors.

use std::collections::HashSet;

use tempfile::TempDir;

use super::*;
use crate::{ErrorKind, FieldMode, SETTINGS_FILE};

const MODES: [FieldMode; 2] = [FieldMode::Multifield, FieldMode::Concatenated];

fn config(fields: FieldMode) -> Bm25Config {
    Bm25Config { fields, ..Bm25Config::default() }
}

/// A new index in a fresh directory (kept alive by the returned guard).
fn new_index(config: &Bm25Config) -> (TempDir, Bm25Index) {
    let dir = tempfile::tempdir().unwrap();
    let index = Bm25Index::create(dir.path().join("bm25"), config).unwrap();
    (dir, index)
}

fn doc(key: ChunkKey, text: &str) -> LexicalDoc<'_> {
    LexicalDoc { key, title: "", text }
}

/// The files of the index's segments (named by a 32-digit segment id), sorted.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs_err::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.len() > 32 && name.contains('.') && !name.ends_with(".lock")
        })
        .collect();
    files.sort();
    files
}

fn keys(hits: &[Hit]) -> Vec<ChunkKey> {
    hits.iter().map(|hit| hit.key).collect()
}

#[test]
fn more_occurrences_and_rarer_terms_rank_higher() {
    for mode in MODES {
        let (_dir, mut index) = new_index(&config(mode));
        index
            .upsert(&[
                doc(1, "apple banana cherry"),
                doc(2, "apple apple apple banana cherry"),
                doc(3, "banana cherry durian"),
                doc(4, "banana cherry elderberry"),
                doc(5, "banana elderberry fig"),
            ])
            .unwrap();
        index.commit(1).unwrap();
        assert_eq!(keys(&index.search("apple", 10, None).unwrap()), [2, 1], "{mode:?}");
        // `durian` is in one document, `banana` in all five: the rare term decides.
        let hits = index.search("banana durian", 10, None).unwrap();
        assert_eq!(hits[0].key, 3, "{mode:?}");
        assert_eq!(hits.len(), 5);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        // Stemming joins `apples` to `apple`.
        assert_eq!(keys(&index.search("Apples!", 1, None).unwrap()), [2]);
    }
}

#[test]
fn multifield_finds_terms_in_the_title_alone() {
    for mode in MODES {
        let (_dir, mut index) = new_index(&config(mode));
        index
            .upsert(&[
                LexicalDoc { key: 10, title: "Statins", text: "A drug group." },
                LexicalDoc { key: 11, title: "Cholesterol", text: "Dietary fat." },
            ])
            .unwrap();
        index.commit(1).unwrap();
        assert_eq!(keys(&index.search("statin", 10, None).unwrap()), [10], "{mode:?}");
    }
}

#[test]
fn ties_go_to_the_smaller_key_across_segments() {
    let (_dir, mut index) = new_index(&Bm25Config::default());
    for (seq, key) in [9, 3, 7, 5].into_iter().enumerate() {
        index.upsert(&[doc(key, "same words here")]).unwrap();
        index.commit(seq as u64).unwrap();
    }
    index.upsert(&[doc(1, "other words")]).unwrap();
    index.commit(10).unwrap();
    let hits = index.search("same", 3, None).unwrap();
    assert_eq!(keys(&hits), [3, 5, 7]);
    assert!(hits.iter().all(|h| h.score == hits[0].score));
}

#[test]
fn any_text_is_a_valid_query() {
    let (_dir, mut index) = new_index(&Bm25Config::default());
    index.upsert(&[doc(1, "vitamin D risks"), doc(2, "field title foo")]).unwrap();
    index.commit(1).unwrap();
    for query in [
        "vitamin D: risks? (AND) \"x",
        "title:foo",
        "foo AND OR NOT bar",
        "+vitamin -risks",
        "\"unterminated",
        "(((",
        "a^2 b~ c* ?d [1 TO 2} {x} \\ / ! :",
        "IN [a b]",
        "ünïcödé ✓ 東京",
        "\0\u{7f}\u{200b}",
    ] {
        let hits = index.search(query, 10, None);
        assert!(hits.is_ok(), "{query:?}: {hits:?}");
    }
    assert_eq!(keys(&index.search("vitamin D: risks? (AND) \"x", 10, None).unwrap()), [1]);
    assert_eq!(keys(&index.search("title:foo", 10, None).unwrap()), [2]);
    // A pasted document is a query too: thousands of terms, OR-ed.
    let long_query = "foo bar risks ".repeat(3000);
    assert_eq!(keys(&index.search(&long_query, 10, None).unwrap()), [1, 2]);
}

#[test]
fn the_index_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Bm25Index>();
}

#[test]
fn empty_and_stop_word_queries_and_k_zero_return_nothing() {
    let (_dir, mut index) = new_index(&Bm25Config::default());
    index.upsert(&[doc(1, "the cat and the hat")]).unwrap();
    index.commit(1).unwrap();
    for query in ["", "   ", "?!", "the and of", "THE"] {
        assert_eq!(index.search(query, 10, None).unwrap(), [], "{query:?}");
    }
    assert_eq!(index.search("cat", 0, None).unwrap(), []);
    assert_eq!(keys(&index.search("cat", usize::MAX, None).unwrap()), [1]);
    assert_eq!(index.search("unknown", 10, None).unwrap(), []);
}

#[test]
fn an_empty_index_searches_fine() {
    let (_dir, index) = new_index(&Bm25Config::default());
    assert_eq!(index.search("anything", 10, None).unwrap(), []);
    assert!(index.is_empty());
    assert_eq!(index.committed_seq(), None);
}

#[test]
fn upsert_replaces_and_delete_removes_after_commit() {
    for mode in MODES {
        let (_dir, mut index) = new_index(&config(mode));
        index.upsert(&[doc(1, "apple"), doc(2, "apple banana")]).unwrap();
        index.commit(1).unwrap();
        assert_eq!(index.len(), 2);

        index.upsert(&[doc(1, "cherry")]).unwrap();
        // Not visible before the commit.
        assert_eq!(keys(&index.search("apple", 10, None).unwrap()), [1, 2]);
        index.commit(2).unwrap();
        assert_eq!(keys(&index.search("apple", 10, None).unwrap()), [2], "{mode:?}");
        assert_eq!(keys(&index.search("cherry", 10, None).unwrap()), [1]);
        assert_eq!(index.len(), 2);

        index.delete(&[2, 99]).unwrap();
        index.commit(3).unwrap();
        assert_eq!(index.search("apple banana", 10, None).unwrap(), []);
        assert_eq!(index.len(), 1);

        // Repeated keys in one batch: the last one wins.
        index.upsert(&[doc(5, "first"), doc(5, "second")]).unwrap();
        index.commit(4).unwrap();
        assert_eq!(index.search("first", 10, None).unwrap(), []);
        assert_eq!(keys(&index.search("second", 10, None).unwrap()), [5]);
        assert_eq!(index.len(), 2);
        index.upsert(&[]).unwrap();
        index.delete(&[]).unwrap();
    }
}

#[test]
fn committed_seq_and_config_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let config = Bm25Config {
        stemming: false,
        stopwords: false,
        fields: FieldMode::Concatenated,
        ..Bm25Config::default()
    };
    {
        let mut index = Bm25Index::create(dir.path(), &config).unwrap();
        assert_eq!(index.committed_seq(), None);
        index.upsert(&[doc(1, "running the race")]).unwrap();
        index.commit(41).unwrap();
        index.upsert(&[doc(2, "never committed")]).unwrap();
        index.commit(42).unwrap();
        assert_eq!(index.committed_seq(), Some(42));
        index.upsert(&[doc(3, "lost on drop")]).unwrap();
    }
    let index = Bm25Index::open(dir.path()).unwrap();
    assert_eq!(index.committed_seq(), Some(42));
    assert_eq!(index.config(), &config);
    assert_eq!(index.path(), dir.path());
    assert_eq!(index.len(), 2);
    assert_eq!(index.search("lost", 10, None).unwrap(), []);
    // The recorded analyzer is used: no stemming, and `the` is a term.
    assert_eq!(index.search("run", 10, None).unwrap(), []);
    assert_eq!(keys(&index.search("the", 10, None).unwrap()), [1]);
}

#[test]
fn the_filter_is_applied_while_collecting() {
    let (_dir, mut index) = new_index(&Bm25Config::default());
    let texts: Vec<String> = (0..1000u64)
        .map(|key| format!("common {}", "filler ".repeat((key % 13) as usize)))
        .collect();
    let docs: Vec<_> = texts.iter().enumerate().map(|(key, text)| doc(key as u64, text)).collect();
    index.upsert(&docs).unwrap();
    index.commit(1).unwrap();
    let allowed: HashSet<u64> = [7, 123, 456, 789, 990, 14, 600].into_iter().collect();
    // Unfiltered, none of the allowed keys would be in the top 5.
    let unfiltered = index.search("common", 5, None).unwrap();
    assert!(unfiltered.iter().all(|h| !allowed.contains(&h.key)));
    let hits = index.search("common", 5, Some(&allowed)).unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| allowed.contains(&h.key)));
    let hits = index.search("common", 10, Some(&allowed)).unwrap();
    assert_eq!(hits.len(), 7);
    let none = |_key: u64| false;
    assert_eq!(index.search("common", 10, Some(&none)).unwrap(), []);
}

#[test]
fn opening_something_else_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = Bm25Index::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotAnIndex { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let index_dir = dir.path().join("index");
    drop(Bm25Index::create(&index_dir, &Bm25Config::default()).unwrap());
    let err = Bm25Index::create(&index_dir, &Bm25Config::default()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");

    fs_err::write(index_dir.join(SETTINGS_FILE), "format = 1\nstemming = maybe\n").unwrap();
    let err = Bm25Index::open(&index_dir).unwrap_err();
    assert!(matches!(err, Error::CorruptConfig { line: 2, .. }), "{err:?}");
    assert!(err.to_string().contains(&index_dir.display().to_string()), "{err}");

    // Settings that disagree with the schema: the schema has title and text, not body.
    fs_err::write(
        index_dir.join(SETTINGS_FILE),
        "format = 1\nstemming = true\nstopwords = true\nfields = concatenated\n",
    )
    .unwrap();
    let err = Bm25Index::open(&index_dir).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { field: "body", .. }), "{err:?}");
    // So does another analyzer.
    fs_err::write(
        index_dir.join(SETTINGS_FILE),
        "format = 1\nstemming = false\nstopwords = true\nfields = multifield\n",
    )
    .unwrap();
    let err = Bm25Index::open(&index_dir).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { field: "title", .. }), "{err:?}");
}

#[test]
fn readers_open_beside_a_writer_and_a_second_writer_waits_for_it() {
    let (dir, mut writer) = new_index(&Bm25Config::default());
    writer.upsert(&[doc(1, "glaciers melt")]).unwrap();
    writer.commit(1).unwrap();
    let mut reader = Bm25Index::open(dir.path().join("bm25")).unwrap();
    assert!(writer.holds_write_lock() && !reader.holds_write_lock());
    assert_eq!(keys(&reader.search("glaciers", 10, None).unwrap()), [1]);
    let err = reader.upsert(&[doc(2, "refused")]).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("another process is writing"), "{err}");
    // The writer commits more and goes; the reader then takes the lock and, with it,
    // the newest commit.
    writer.upsert(&[doc(3, "glaciers grow")]).unwrap();
    writer.commit(2).unwrap();
    drop(writer);
    assert_eq!(reader.committed_seq(), Some(1));
    reader.lock_for_writing().unwrap();
    assert_eq!(reader.committed_seq(), Some(2));
    assert_eq!(keys(&reader.search("glaciers", 10, None).unwrap()), [1, 3]);
}

#[test]
fn a_reader_sees_another_handles_commits_after_reloading() {
    let (dir, mut writer) = new_index(&Bm25Config::default());
    writer.upsert(&[doc(1, "glaciers melt"), doc(2, "glaciers retreat")]).unwrap();
    writer.commit(1).unwrap();
    let mut reader = Bm25Index::open(dir.path().join("bm25")).unwrap();
    writer.upsert(&[doc(3, "glaciers grow")]).unwrap();
    writer.delete(&[2]).unwrap();
    writer.commit(2).unwrap();
    // Until it reloads, the reader searches the commit it opened at.
    assert_eq!(keys(&reader.search("glaciers", 10, None).unwrap()), [1, 2]);
    assert_eq!(reader.committed_seq(), Some(1));
    reader.reload().unwrap();
    assert_eq!(keys(&reader.search("glaciers", 10, None).unwrap()), [1, 3]);
    assert_eq!((reader.committed_seq(), reader.len()), (Some(2), 2));
    // Reloading takes no lock: the writer goes on writing.
    assert!(!reader.holds_write_lock());
    writer.upsert(&[doc(4, "glaciers calve")]).unwrap();
    writer.commit(3).unwrap();
    // The writer's own reload is a no-op that keeps its lock.
    writer.reload().unwrap();
    assert!(writer.holds_write_lock());
    assert_eq!(writer.committed_seq(), Some(3));
}

#[test]
fn a_foreign_commit_payload_is_reported() {
    let (dir, index) = new_index(&Bm25Config::default());
    drop(index);
    let path = dir.path().join("bm25");
    let raw = Index::open_in_dir(&path).unwrap();
    let mut writer: IndexWriter = raw.writer(15_000_000).unwrap();
    let mut prepared = writer.prepare_commit().unwrap();
    prepared.set_payload("not a seq");
    prepared.commit().unwrap();
    drop(writer);
    let err = Bm25Index::open(&path).unwrap_err();
    assert!(
        matches!(&err, Error::CorruptPayload { payload, .. } if payload == "not a seq"),
        "{err:?}"
    );
}

#[test]
fn seq_payloads_parse_strictly() {
    assert_eq!(parse_seq("seq=0"), Some(0));
    assert_eq!(parse_seq("seq=18446744073709551615"), Some(u64::MAX));
    for bad in ["", "seq=", "seq=-1", "7", "seq= 7", "SEQ=7"] {
        assert_eq!(parse_seq(bad), None, "{bad:?}");
    }
}

#[test]
fn reloads_beside_a_writer_that_commits_and_merges_never_fail() {
    let (dir, mut writer) = new_index(&Bm25Config::default());
    writer.upsert(&[doc(0, "glaciers")]).unwrap();
    writer.commit(1).unwrap();
    let mut reader = Bm25Index::open(dir.path().join("bm25")).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let reloads = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Many small commits: tantivy merges their segments and deletes the old files.
            for seq in 2..200u64 {
                writer.upsert(&[doc(seq, "glaciers retreat")]).unwrap();
                writer.commit(seq).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut reloads = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            reader.reload().unwrap();
            let seen = reader.committed_seq().unwrap();
            assert!(reader.len() as u64 >= seen, "{} documents at seq {seen}", reader.len());
            reloads += 1;
        }
        reloads
    });
    reader.reload().unwrap();
    assert_eq!((reader.committed_seq(), reader.len()), (Some(199), 199));
    assert!(reloads > 10, "{reloads} reloads");
}

/// Each segment file in turn, cut to 5 bytes: tantivy checks for 4 but reads an 8-byte
/// footer from the end:
/// opening reports the index damaged instead of panicking inside tantivy (the overflow the
/// `store_corruption` fuzz target found).
#[test]
fn a_segment_file_shorter_than_its_footer_is_reported_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(FieldMode::Concatenated);
    {
        let mut index = Bm25Index::create(dir.path(), &config).unwrap();
        index.upsert(&[doc(1, "sunlight raises vitamin d"), doc(2, "statins")]).unwrap();
        index.commit(1).unwrap();
    }
    let segment_files = segment_files(dir.path());
    assert!(!segment_files.is_empty(), "no segment files in {}", dir.path().display());
    let mut damaged = 0;
    for path in &segment_files {
        let original = fs_err::read(path).unwrap();
        fs_err::write(path, &original[..5.min(original.len())]).unwrap();
        // Some files are not read at opening: no error is fine then, a panic never is.
        if let Err(Error::Damaged { .. }) = Bm25Index::open(dir.path()) {
            damaged += 1;
        }
        fs_err::write(path, original).unwrap();
    }
    assert!(damaged > 0, "no cut file was reported damaged: {segment_files:?}");
    assert_eq!(Bm25Index::open(dir.path()).unwrap().len(), 2);
}

/// Every one-byte change and every cut of every segment file of a small index: opening and
/// searching return results or an error, and never let a tantivy panic out (the fuzz
/// target found an `unwrap` in the skip index and an out-of-range slice while searching,
/// after opening had succeeded).
#[test]
fn no_single_byte_damage_makes_opening_or_searching_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(FieldMode::Multifield);
    {
        let mut index = Bm25Index::create(dir.path(), &config).unwrap();
        let texts: Vec<String> = (0..40u64)
            .map(|key| format!("sieve {} alpha beta {key}", "fine ".repeat((key % 5) as usize)))
            .collect();
        let docs: Vec<_> =
            texts.iter().enumerate().map(|(key, text)| doc(key as u64, text)).collect();
        index.upsert(&docs).unwrap();
        index.commit(1).unwrap();
    }
    let allowed: HashSet<u64> = (0..40).step_by(3).collect();
    let segment_files = segment_files(dir.path());
    let (mut trials, mut damaged) = (0, 0);
    let mut attempt = |path: &Path, bytes: &[u8]| {
        fs_err::write(path, bytes).unwrap();
        trials += 1;
        let outcome = Bm25Index::open(dir.path()).and_then(|index| {
            index.search("sieve alpha fine", 10, None)?;
            index.search("beta 7", 10, Some(&allowed))
        });
        if let Err(Error::Damaged { .. }) = outcome {
            damaged += 1;
        }
    };
    for path in &segment_files {
        let original = fs_err::read(path).unwrap();
        for at in 0..original.len() {
            let mut bytes = original.clone();
            bytes[at] ^= 0xff;
            attempt(path, &bytes);
            attempt(path, &original[..at]);
        }
        fs_err::write(path, &original).unwrap();
    }
    assert!(trials > 1000, "only {trials} trials: {segment_files:?}");
    assert!(damaged > 0, "no damage was reported as such in {trials} trials");
    assert_eq!(Bm25Index::open(dir.path()).unwrap().search("sieve", 100, None).unwrap().len(), 40);
}

/// A doc store whose checksum fails is refused before tantivy reads it: a damaged count in
/// its skip index made tantivy ask for tens of gigabytes (found by the fuzz target).
#[test]
fn a_doc_store_with_a_wrong_checksum_is_reported_damaged_at_opening_and_reloading() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(FieldMode::Concatenated);
    let mut writer = Bm25Index::create(dir.path(), &config).unwrap();
    writer.upsert(&[doc(1, "sunlight raises vitamin d"), doc(2, "statins")]).unwrap();
    writer.commit(1).unwrap();
    let mut reader = Bm25Index::open(dir.path()).unwrap();
    writer.upsert(&[doc(3, "soy")]).unwrap();
    writer.commit(2).unwrap();
    drop(writer);
    let stores: Vec<_> = segment_files(dir.path())
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "store"))
        .collect();
    assert_eq!(stores.len(), 2, "one doc store per commit");
    for store in &stores {
        let mut bytes = fs_err::read(store).unwrap();
        bytes[0] ^= 0x01;
        fs_err::write(store, bytes).unwrap();
    }
    assert!(matches!(Bm25Index::open(dir.path()), Err(Error::Damaged { .. })));
    assert!(matches!(reader.reload(), Err(Error::Damaged { .. })));
}
