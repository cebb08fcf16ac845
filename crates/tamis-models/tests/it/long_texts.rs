//! Tokenizing a long text only as far as truncation needs gives exactly the tokens of
//! tokenizing it whole (`TextTokenizer::prefix`).

use std::path::Path;

use tamis_models::{BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig, Prompt};
use tokenizers::{
    PostProcessor, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use crate::{fixtures_dir, local};

/// What the tokenizer makes of whole texts: (ids, type ids, tokens cut).
struct Whole {
    whole: Tokenizer,
    truncating: Tokenizer,
    max_length: usize,
}

impl Whole {
    fn load(dir: &Path, max_length: usize) -> Whole {
        let mut whole = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        whole.with_truncation(None).unwrap();
        whole.with_padding(None);
        let mut truncating = whole.clone();
        let params = TruncationParams {
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            ..Default::default()
        };
        truncating.with_truncation(Some(params)).unwrap();
        Whole { whole, truncating, max_length }
    }

    fn single(&self, text: &str) -> (Vec<u32>, usize) {
        let encoding = self.whole.encode(text, false).unwrap();
        let added = self.whole.get_post_processor().map_or(0, |p| p.added_tokens(false));
        let dropped = (encoding.len() + added).saturating_sub(self.max_length);
        let encoding = self.truncating.post_process(encoding, None, true).unwrap();
        (encoding.get_ids().to_vec(), dropped)
    }

    fn pair(&self, first: &str, second: &str) -> (Vec<u32>, Vec<u32>, usize) {
        let mut first = self.whole.encode(first, false).unwrap();
        let mut second = self.whole.encode(second, false).unwrap();
        let added = self.whole.get_post_processor().map_or(0, |p| p.added_tokens(true));
        let dropped = (first.len() + second.len() + added).saturating_sub(self.max_length);
        // Longest-first truncation keeps a prefix of each side no longer than the
        // model's length, split by which side is longer: cutting each side to that
        // length first (one more for the strictly longer side, overflow dropped)
        // changes nothing, and spares `post_process` pairing every overflowing piece of
        // one side with every piece of the other (a 30 kB query beside a 1 MB text took
        // 22 GB).
        let (n1, n2) = (first.len(), second.len());
        for (side, longer) in [(&mut first, n1 > n2), (&mut second, n2 > n1)] {
            let cap = self.max_length + usize::from(longer);
            side.truncate(cap, 0, TruncationDirection::Right);
            side.take_overflowing();
        }
        let pair = self.truncating.post_process(first, Some(second), true).unwrap();
        (pair.get_ids().to_vec(), pair.get_type_ids().to_vec(), dropped)
    }
}

/// `text` repeated up to `bytes`.
fn repeat_to(text: &str, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + text.len());
    while out.len() < bytes {
        out.push_str(text);
        out.push(' ');
    }
    out
}

/// The texts that could tell a prefix from the whole: long prose, one huge word, mixed
/// scripts and emoji with every kind of whitespace, words longer than BERT takes, and
/// texts just around the model's length.
fn long_texts() -> Vec<String> {
    let corpus =
        fs_err::read_to_string(tamis_testkit::shared_dataset("nfcorpus").join("corpus.jsonl"))
            .unwrap();
    let first: serde_json::Value = serde_json::from_str(corpus.lines().next().unwrap()).unwrap();
    let document = first["text"].as_str().unwrap().to_string();
    let mixed = "naïve Café 東京タワーに行きました 😀👍🏽 Привет,\tмир!\u{a0}العربية\n\n  ÅNGSTRÖM\u{3000}한국어 x\u{301}y";
    let mut texts = vec![
        repeat_to(&document, 1 << 20),
        "a".repeat(100_000),
        format!("{} {}", document, "b".repeat(100_000)),
        format!("{}{}", "c".repeat(100_000), document),
        repeat_to(mixed, 50_000),
        repeat_to(&format!("{} {}", "d".repeat(150), mixed), 50_000),
        "東京".repeat(5_000),
        repeat_to("word", 3000) + "      \t\n ",
    ];
    // Around the length: 200 to 300 words of one token each.
    for n_words in [200, 250, 252, 253, 254, 255, 256, 300] {
        texts.push(repeat_to("the", n_words * 4));
    }
    texts.push(document);
    texts
}

fn check_cross_encoder(dir: &Path, with_huge_query: bool) {
    let model =
        CrossEncoder::load(&local(dir.to_path_buf()), &CrossEncoderConfig::default()).unwrap();
    let whole = Whole::load(dir, model.max_length());
    let texts = long_texts();
    let short_query = "statin use and breast cancer";
    // Longer than the model's length (both sides cut): mixed, and 30 kB of prose.
    let long_query = repeat_to("breast cancer statins 東京 😀", 4000);
    let huge_query = repeat_to(&texts[texts.len() - 1], 30_000);
    let mut queries = vec![short_query, long_query.as_str()];
    if with_huge_query {
        queries.push(huge_query.as_str());
    }
    for query in queries {
        for text in &texts {
            let got = &model.tokenize(&[(query, text.as_str())]).unwrap()[0];
            let (ids, type_ids, dropped) = whole.pair(query, text);
            let what = format!(
                "{} query bytes, {} text bytes in {}",
                query.len(),
                text.len(),
                dir.display()
            );
            assert_eq!(got.ids, ids, "ids differ for {what}");
            assert_eq!(got.type_ids, type_ids, "type ids differ for {what}");
            assert_eq!(got.truncated, dropped > 0, "truncated differs for {what}");
            assert!(got.dropped_tokens <= dropped, "{what}");
            assert_eq!(got.dropped_tokens == 0, dropped == 0, "{what}");
        }
    }
}

#[test]
fn a_cross_encoder_tokenizes_long_texts_as_it_would_whole() {
    check_cross_encoder(&tamis_testkit::shared_model("tamis-ce-minilm-l6-nfcorpus"), true);
    // SentencePiece (Metaspace, Unigram) as well as WordPiece; the fixture's vocabulary is
    // tiny (a token per few bytes), so the 100 kB query would take minutes in debug builds.
    check_cross_encoder(&fixtures_dir().join("xlmr-ce-1label"), false);
}

#[test]
fn a_bi_encoder_tokenizes_long_texts_as_it_would_whole() {
    let dir = tamis_testkit::shared_model("all-MiniLM-L6-v2");
    let model = BiEncoder::load(&local(dir.clone()), &BiEncoderConfig::default()).unwrap();
    let whole = Whole::load(&dir, model.max_length());
    for text in long_texts() {
        let got = &model.tokenize(&[text.as_str()], Prompt::None).unwrap()[0];
        let (ids, dropped) = whole.single(&text);
        assert_eq!(got.ids, ids, "ids differ for a text of {} bytes", text.len());
        assert_eq!(got.truncated, dropped > 0, "{} bytes", text.len());
        assert!(got.dropped_tokens <= dropped && (got.dropped_tokens == 0) == (dropped == 0));
    }
}

#[test]
fn first_token_offsets_are_those_of_the_whole_text() {
    let dir = tamis_testkit::shared_model("tamis-ce-minilm-l6-nfcorpus");
    let model = CrossEncoder::load(&local(dir.clone()), &CrossEncoderConfig::default()).unwrap();
    let whole = Whole::load(&dir, model.max_length());
    for text in long_texts() {
        let all = whole.whole.encode(text.as_str(), false).unwrap().get_offsets().to_vec();
        for n in [1, 10, 300, 5000] {
            let got = model.first_token_offsets(&text, n).unwrap();
            assert_eq!(
                got,
                all[..n.min(all.len())],
                "{n} tokens of a text of {} bytes",
                text.len()
            );
        }
    }
}
