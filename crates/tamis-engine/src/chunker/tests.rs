use tamis_core::Tokenize;

use super::{ChunkMode, ChunkingConfig, chunk_text};

/// Whitespace tokens, with a 10-token model limit.
struct Words;

impl Tokenize for Words {
    fn token_offsets(&self, text: &str) -> tamis_core::Result<Vec<(usize, usize)>> {
        let mut offsets = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    offsets.push((s, i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        Ok(offsets)
    }

    fn max_tokens(&self) -> usize {
        10
    }
}

fn check(text: &str, title_tokens: usize, config: ChunkingConfig, expect: &[&str]) {
    let got = chunk_text(text, title_tokens, &config, &Words).unwrap();
    assert_eq!(got, expect, "{config:?}");
}

#[test]
fn chunking_table() {
    let text = "one two three four five six seven eight nine ten eleven twelve";
    let fixed = |max, overlap| ChunkingConfig {
        max_tokens: Some(max),
        overlap_tokens: overlap,
        prepend_title: false,
        ..Default::default()
    };
    check("  short text  ", 0, ChunkingConfig::default(), &["short text"]);
    check(
        text,
        0,
        fixed(5, 0),
        &["one two three four five", "six seven eight nine ten", "eleven twelve"],
    );
    check(
        text,
        0,
        fixed(5, 2),
        &[
            "one two three four five",
            "four five six seven eight",
            "seven eight nine ten eleven",
            "ten eleven twelve",
        ],
    );
    check(text, 0, fixed(12, 4), &[text]);
    // Automatic size: 10 − 2 special tokens − 3 title tokens = 5; overlap 32 ≥ 5 → none.
    check(
        text,
        3,
        ChunkingConfig::default(),
        &["one two three four five", "six seven eight nine ten", "eleven twelve"],
    );
}

#[test]
fn non_ascii_text_is_sliced_on_token_boundaries() {
    let config = ChunkingConfig {
        max_tokens: Some(2),
        overlap_tokens: 0,
        prepend_title: false,
        ..Default::default()
    };
    check("été à Zürich 日本 語", 0, config, &["été à", "Zürich 日本", "語"]);
}

#[test]
fn bad_overlap_is_refused() {
    let config = ChunkingConfig {
        max_tokens: Some(4),
        overlap_tokens: 4,
        prepend_title: false,
        ..Default::default()
    };
    assert!(
        chunk_text("a b c d e", 0, &config, &Words).unwrap_err().to_string().contains("overlap")
    );
    let config = ChunkingConfig {
        max_tokens: Some(0),
        overlap_tokens: 0,
        prepend_title: false,
        ..Default::default()
    };
    assert!(chunk_text("a", 0, &config, &Words).is_err());
}

#[test]
fn whole_mode_keeps_one_chunk_with_all_the_text() {
    let text = "one two three four five six seven eight nine ten eleven twelve";
    let whole = ChunkingConfig { mode: ChunkMode::Whole, ..Default::default() };
    check(&format!("  {text} "), 3, whole.clone(), &[text]);
    // The window size is irrelevant in whole mode, but a bad one is still refused.
    check(text, 0, ChunkingConfig { max_tokens: Some(2), overlap_tokens: 0, ..whole }, &[text]);
}

#[test]
fn indexes_written_before_the_mode_existed_read_as_windows() {
    let old = r#"{"max_tokens":null,"overlap_tokens":32,"prepend_title":true}"#;
    let config: ChunkingConfig = serde_json::from_str(old).unwrap();
    assert_eq!(config, ChunkingConfig::default());
    let whole = ChunkingConfig { mode: ChunkMode::Whole, ..Default::default() };
    let text = serde_json::to_string(&whole).unwrap();
    assert!(text.contains(r#""mode":"whole""#), "{text}");
}
