//! The JSON Lines readers: `tamis rerank`'s and `tamis embed`'s input lines (the CLI's own
//! source file, compiled here with `#[path]`: `tamis-cli` is a binary crate), and the
//! `DocumentSource` of `tamis index`, read from a file as the CLI reads it.
//!
//! Invariants: no reader panics; a reader that accepts the input returns one item per
//! non-blank line.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tamis_engine::DocumentSource;

#[allow(dead_code, clippy::unwrap_used)]
#[path = "../../crates/tamis-cli/src/jsonl/lines.rs"]
mod lines;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tamis_fuzz::scratch_dir("tamis-fuzz-jsonl"))
}

fuzz_target!(|data: &[u8]| {
    // What `BufRead::lines` and `read_line` call a line: up to `\n`, less a `\r` before it.
    let non_blank = std::str::from_utf8(data)
        .ok()
        .map(|text| text.split('\n').filter(|line| !line.trim().is_empty()).count());

    let rerank = lines::read_from(data, "input", lines::parse_rerank_line);
    if let Ok(parsed) = &rerank {
        assert_eq!(Some(parsed.len()), non_blank, "rerank lines of {data:?}");
        for line in parsed {
            assert!(!line.query.trim().is_empty() && !line.documents.is_empty());
        }
    }
    let embed = lines::read_from(data, "input", lines::parse_embed_line);
    if let Ok(parsed) = &embed {
        assert_eq!(Some(parsed.len()), non_blank, "embed lines of {data:?}");
    }

    let path = scratch().path().join("documents.jsonl");
    std::fs::write(&path, data).expect("writing the input file");
    let source = DocumentSource::open(&path).expect("opening a file that exists");
    let mut documents = 0;
    let mut failed = false;
    for document in source {
        match document {
            Ok(_) => documents += 1,
            Err(err) => {
                // Every input error says whose fault it is, and it is the user's.
                assert_eq!(err.kind(), tamis_engine::ErrorKind::User, "{err}");
                failed = true;
                break;
            }
        }
    }
    if !failed {
        assert_eq!(Some(documents), non_blank, "documents of {data:?}");
    }
});
