use std::collections::HashMap;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::{Tensors, Values};
use crate::Error;
use crate::weights::READ_PIECE;

/// Writes `model.safetensors` into `dir` with the tensors `(name, dtype, shape, bytes)`.
fn write(dir: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (*name, TensorView::new(*dtype, shape.clone(), bytes).expect("a valid view"))
        })
        .collect();
    let bytes = safetensors::serialize(views, None::<HashMap<String, String>>).expect("serialized");
    fs_err::write(dir.join("model.safetensors"), bytes).expect("written");
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn message(err: Error) -> String {
    match err {
        Error::Weights { source, .. } => source.to_string(),
        other => panic!("expected a weights error, got {other:?}"),
    }
}

#[test]
fn tensors_read_piece_by_piece_equal_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Larger than a piece, and not a whole number of pieces, so that pieces split it.
    let big: Vec<f32> = (0..READ_PIECE / 4 * 2 + 37).map(|i| i as f32 * 0.5 - 3.0).collect();
    let bf16: Vec<u16> = (0..300u16).map(|i| 0x3f80 ^ i).collect();
    let f16: Vec<half::f16> =
        [0.5f32, -2.0, 65504.0].iter().map(|&v| half::f16::from_f32(v)).collect();
    write(
        dir.path(),
        &[
            ("z.first", Dtype::F32, vec![big.len()], f32_bytes(&big)),
            (
                "a.second",
                Dtype::BF16,
                vec![20, 15],
                bf16.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            ("m.third", Dtype::F16, vec![3], f16.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ],
    );
    let mut tensors = Tensors::load(dir.path()).expect("loads");
    assert_eq!(tensors.vector("z.first", big.len()).expect("present"), big);
    match tensors.take("a.second", &[20, 15]).expect("present") {
        Values::Bf16(bits) => assert_eq!(bits, bf16),
        other => panic!("bfloat16 must stay bfloat16, got {other:?}"),
    }
    assert_eq!(tensors.vector("m.third", 3).expect("present"), vec![0.5, -2.0, 65504.0]);
    assert!(tensors.map.is_empty());
}

#[test]
fn a_damaged_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), &[("w", Dtype::F32, vec![4], f32_bytes(&[1.0, 2.0, 3.0, 4.0]))]);
    let path = dir.path().join("model.safetensors");
    let whole = fs_err::read(&path).expect("read back");

    fs_err::write(&path, &whole[..whole.len() - 3]).expect("truncated");
    let err = message(Tensors::load(dir.path()).expect_err("truncated"));
    assert!(err.contains("model.safetensors is not a safetensors file"), "{err}");
    assert!(err.contains("describes 16 bytes of tensors, the file holds 13"), "{err}");

    fs_err::write(&path, &whole[..5]).expect("truncated");
    let err = message(Tensors::load(dir.path()).expect_err("no header length"));
    assert!(err.contains("shorter than its 8-byte header length"), "{err}");

    let mut huge = whole.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    fs_err::write(&path, &huge).expect("written");
    let err = message(Tensors::load(dir.path()).expect_err("header past the end"));
    assert!(err.contains("a header of 18446744073709551615 bytes"), "{err}");

    let mut garbled = whole.clone();
    garbled[8] = b'[';
    fs_err::write(&path, &garbled).expect("written");
    let err = message(Tensors::load(dir.path()).expect_err("not JSON"));
    assert!(err.contains("its header"), "{err}");
}

#[test]
fn a_tensor_of_another_type_is_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), &[("ids", Dtype::I32, vec![2], vec![1, 0, 0, 0, 2, 0, 0, 0])]);
    let err = message(Tensors::load(dir.path()).expect_err("I32"));
    assert!(err.contains("tensor ids is I32; tamis reads F32, BF16 and F16"), "{err}");
}
