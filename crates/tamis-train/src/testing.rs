//! What the tests of several modules share: the tiny cross-encoder fixtures, and a batch
//! of made-up pairs.

use std::path::PathBuf;

use tamis_models::EncoderConfig;

use crate::model::{Batch, CrossEncoderModel};

/// The tiny one-label cross-encoders of the parity fixtures: a
/// `BertForSequenceClassification` and an `XLMRobertaForSequenceClassification`.
pub(crate) const FIXTURES: [&str; 2] = ["bert-ce-1label", "xlmr-ce-1label"];

/// The directory of the tiny `BertForSequenceClassification` the parity fixtures use.
pub(crate) fn fixture_dir() -> PathBuf {
    fixture_dir_of(FIXTURES[0])
}

/// The directory of parity fixture `name`.
pub(crate) fn fixture_dir_of(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tamis-models/tests/fixtures").join(name)
}

/// The BERT fixture model, loaded for training.
pub(crate) fn fixture_model() -> CrossEncoderModel {
    fixture_model_of(FIXTURES[0])
}

/// Fixture `name`, loaded for training.
pub(crate) fn fixture_model_of(name: &str) -> CrossEncoderModel {
    let dir = fixture_dir_of(name);
    let config = EncoderConfig::from_file(&dir.join("config.json")).unwrap();
    CrossEncoderModel::load(&dir, config, 0).unwrap()
}

/// Four groups of four made-up pairs of 7 tokens for `model` (token types 0 and 1 where
/// it has two), and listwise targets with the first of each group the positive.
pub(crate) fn tiny_batch(model: &CrossEncoderModel) -> (Batch, Vec<f32>) {
    let mut batch = model.batch();
    let second = u32::from(model.config().type_vocab_size > 1);
    for n in 0..16u32 {
        let ids: Vec<u32> =
            [2, 100 + n % 4, 200 + n, 3, 300 + (n * 7) % 50, 400 + n % 3, 3].to_vec();
        batch.push(&ids, &[0, 0, 0, 0, second, second, second]);
    }
    let mut targets = vec![0.0; 16];
    targets.iter_mut().step_by(4).for_each(|t| *t = 1.0);
    (batch, targets)
}
