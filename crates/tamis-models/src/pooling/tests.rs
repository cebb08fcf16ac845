use super::{Pooling, PoolingMode, normalize};

/// Three tokens of width 2; the last is padding and must never leak into the result.
const STATES: [f32; 6] = [1.0, -2.0, 3.0, 4.0, 100.0, 100.0];
const MASK: [u32; 3] = [1, 1, 0];

fn check(mode: PoolingMode, expect: &[f32]) {
    let pooling = Pooling { modes: vec![mode], include_prompt: true };
    let got = pooling.pool(&STATES, &MASK, 2);
    assert_eq!(got.len(), expect.len());
    for (g, e) in got.iter().zip(expect) {
        assert!((g - e).abs() < 1e-6, "{mode:?}: got {got:?}, want {expect:?}");
    }
}

#[test]
fn every_mode_ignores_padding() {
    check(PoolingMode::Cls, &[1.0, -2.0]);
    check(PoolingMode::Mean, &[2.0, 1.0]);
    check(PoolingMode::Max, &[3.0, 4.0]);
    check(PoolingMode::MeanSqrtLen, &[4.0 / 2f32.sqrt(), 2.0 / 2f32.sqrt()]);
    // Weights 1 and 2 for positions 0 and 1.
    check(PoolingMode::WeightedMean, &[7.0 / 3.0, 6.0 / 3.0]);
    check(PoolingMode::LastToken, &[3.0, 4.0]);
}

#[test]
fn several_modes_concatenate_in_order() {
    let pooling =
        Pooling { modes: vec![PoolingMode::Cls, PoolingMode::Mean], include_prompt: true };
    assert_eq!(pooling.pool(&STATES, &MASK, 2), vec![1.0, -2.0, 2.0, 1.0]);
}

#[test]
fn normalize_gives_unit_length_and_keeps_zeros() {
    let mut v = vec![3.0, 4.0];
    normalize(&mut v);
    assert_eq!(v, vec![0.6, 0.8]);
    let mut zeros = vec![0.0, 0.0];
    normalize(&mut zeros);
    assert_eq!(zeros, vec![0.0, 0.0]);
}

#[test]
fn both_config_formats_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs_err::write(&path, r#"{"word_embedding_dimension": 4, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}"#).unwrap();
    assert_eq!(Pooling::from_file(&path).unwrap(), Pooling::mean());
    // sentence-transformers >= 5.4 names the mode in one string.
    fs_err::write(
        &path,
        r#"{"embedding_dimension": 4, "pooling_mode": "lasttoken", "include_prompt": false}"#,
    )
    .unwrap();
    let pooling = Pooling::from_file(&path).unwrap();
    assert_eq!(pooling, Pooling { modes: vec![PoolingMode::LastToken], include_prompt: false });
    fs_err::write(&path, r#"{"pooling_mode": "median"}"#).unwrap();
    assert!(Pooling::from_file(&path).unwrap_err().to_string().contains("median"));
    fs_err::write(&path, r#"{"pooling_mode_mean_tokens": false}"#).unwrap();
    assert!(Pooling::from_file(&path).unwrap_err().to_string().contains("no pooling mode"));
}
