//! What the tests of several modules share: the tiny BERT cross-encoder fixture, and a
//! batch of made-up pairs for it.

use std::path::PathBuf;

use tamis_models::EncoderConfig;

use crate::model::{Batch, CrossEncoderModel};

/// The directory of the tiny `BertForSequenceClassification` the parity fixtures use.
pub(crate) fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tamis-models/tests/fixtures/bert-ce-1label")
}

/// The fixture model, loaded for training.
pub(crate) fn fixture_model() -> CrossEncoderModel {
    let dir = fixture_dir();
    let config = EncoderConfig::from_file(&dir.join("config.json")).unwrap();
    CrossEncoderModel::load(&dir, config, 0).unwrap()
}

/// Four groups of four made-up pairs of 7 tokens, and listwise targets with the first
/// of each group the positive.
pub(crate) fn tiny_batch() -> (Batch, Vec<f32>) {
    let mut batch = Batch::default();
    for n in 0..16u32 {
        let ids: Vec<u32> =
            [2, 100 + n % 4, 200 + n, 3, 300 + (n * 7) % 50, 400 + n % 3, 3].to_vec();
        batch.push(&ids, &[0, 0, 0, 0, 1, 1, 1]);
    }
    let mut targets = vec![0.0; 16];
    targets.iter_mut().step_by(4).for_each(|t| *t = 1.0);
    (batch, targets)
}
