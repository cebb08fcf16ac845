//! The chunker and the models' truncation over arbitrary UTF-8, with real tokenizers: the
//! shared all-MiniLM-L6-v2 bi-encoder and tamis cross-encoder (WordPiece), and the
//! XLM-R fixture of `tamis-models` (SentencePiece, whose offsets differ).
//!
//! The input is two configuration bytes (window size, overlap) and then the text; a pair
//! for the cross-encoder splits the text at its first newline.
//!
//! Invariants: token offsets are ordered, in range and on char boundaries; chunking
//! succeeds, every chunk is a non-empty slice of the text, and the windows are as many as
//! the window and overlap give; truncation keeps at most the model's maximum length and
//! says when and how much it cut.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tamis_core::Tokenize;
use tamis_engine::chunker::{ChunkMode, ChunkingConfig, chunk_text};
use tamis_models::{BiEncoder, CrossEncoder, ModelDir, ModelOrigin, Prompt, Tokens};

struct Models {
    bi_encoders: Vec<BiEncoder>,
    cross_encoder: CrossEncoder,
}

fn local(path: std::path::PathBuf) -> ModelDir {
    ModelDir { path, origin: ModelOrigin::Local }
}

fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let xlmr = tamis_testkit::workspace_root()
            .join("crates/tamis-models/tests/fixtures/xlmr-embed-mean");
        let bi_encoders = [tamis_testkit::shared_model("all-MiniLM-L6-v2"), xlmr]
            .into_iter()
            .map(|path| {
                BiEncoder::load(&local(path), &Default::default()).expect("loading a bi-encoder")
            })
            .collect();
        let cross_encoder = CrossEncoder::load(
            &local(tamis_testkit::shared_model("tamis-ce-minilm-l6-nfcorpus")),
            &Default::default(),
        )
        .expect("loading the cross-encoder");
        Models { bi_encoders, cross_encoder }
    })
}

fn check_truncation(tokens: &[Tokens], max_length: usize) {
    for tokens in tokens {
        assert!(tokens.ids.len() <= max_length, "{} tokens > {max_length}", tokens.ids.len());
        assert_eq!(tokens.ids.len(), tokens.type_ids.len());
        assert_eq!(tokens.truncated, tokens.dropped_tokens > 0, "{tokens:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [window_byte, overlap_byte, text @ ..] = data else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let models = models();
    // Small windows make many chunks out of short inputs; 0 means the model's own.
    let max_tokens = (*window_byte != 0).then_some(usize::from(*window_byte % 64));
    let config = ChunkingConfig {
        max_tokens,
        overlap_tokens: usize::from(*overlap_byte % 16),
        prepend_title: false,
        mode: ChunkMode::Windows,
    };

    for model in &models.bi_encoders {
        let offsets = model.token_offsets(text).expect("tokenizing any text");
        let mut previous_start = 0;
        for &(start, end) in &offsets {
            assert!(start <= end && end <= text.len(), "offset {start}..{end} of {text:?}");
            assert!(text.is_char_boundary(start) && text.is_char_boundary(end), "{text:?}");
            assert!(start >= previous_start, "offsets out of order in {text:?}");
            previous_start = start;
        }
        match chunk_text(text, 0, &config, model) {
            Err(_) => assert!(config.validate().is_err(), "a valid config failed on {text:?}"),
            Ok(chunks) => {
                assert!(!chunks.is_empty());
                let window = max_tokens.unwrap_or(model.max_length() - 2);
                if offsets.len() > window {
                    let overlap =
                        if config.overlap_tokens < window { config.overlap_tokens } else { 0 };
                    let step = window - overlap;
                    let expected = (offsets.len() - overlap).div_ceil(step);
                    assert_eq!(chunks.len(), expected, "windows of {text:?}");
                    for chunk in &chunks {
                        assert!(!chunk.is_empty(), "an empty window of {text:?}");
                        assert!(text.contains(chunk.as_str()), "{chunk:?} is not in {text:?}");
                    }
                } else {
                    assert_eq!(chunks, [text.trim()]);
                }
            }
        }
        let tokens = model.tokenize(&[text], Prompt::None).expect("tokenizing any text");
        check_truncation(&tokens, model.max_length());
    }

    let (query, passage) = text.split_once('\n').unwrap_or((text, ""));
    // Longest-first truncation (the default) fits any pair.
    let tokens = models.cross_encoder.tokenize(&[(query, passage)]).expect("tokenizing a pair");
    check_truncation(&tokens, models.cross_encoder.max_length());
});
