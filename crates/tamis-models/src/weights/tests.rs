use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::{READ_PIECE, load};

/// The streamed reader gives the tensors candle's whole-file reader gives, for every
/// dtype an encoder checkpoint holds, a tensor split over pieces, and a sharded model.
#[test]
fn streamed_tensors_equal_candles_reader_for_every_dtype() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cpu = &Device::Cpu;
    let long = READ_PIECE / 4 + 1000; // f32 values: more than one piece
    let ramp = |n: usize| Tensor::arange(0f32, n as f32, cpu);
    let first: HashMap<String, Tensor> = [
        ("big", ramp(long).and_then(|t| t * 0.25).expect("scaled")),
        ("half", ramp(12).and_then(|t| t.to_dtype(DType::F16)).expect("f16")),
        (
            "brain",
            ramp(6)
                .and_then(|t| t.reshape((2, 3)))
                .and_then(|t| t.to_dtype(DType::BF16))
                .expect("bf16"),
        ),
        ("embeddings.position_ids", Tensor::arange(0i64, 9, cpu).expect("i64")),
        ("embeddings.LayerNorm.gamma", ramp(4).expect("f32")),
    ]
    .into_iter()
    .map(|(name, tensor)| (name.to_string(), tensor))
    .collect();
    let second: HashMap<String, Tensor> =
        [("bytes".to_string(), Tensor::new(&[7u8, 0, 255], cpu).expect("u8"))]
            .into_iter()
            .collect();
    candle_core::safetensors::save(&first, dir.path().join("a.safetensors")).expect("saved");
    candle_core::safetensors::save(&second, dir.path().join("b.safetensors")).expect("saved");
    let index = serde_json::json!({ "weight_map": {
        "big": "a.safetensors", "bytes": "b.safetensors"
    }});
    fs_err::write(dir.path().join("model.safetensors.index.json"), index.to_string())
        .expect("index");

    let streamed = load(dir.path()).expect("loads");
    let mut expected = first;
    expected.extend(second);
    // The old TensorFlow name is renamed, as before.
    let gamma = expected.remove("embeddings.LayerNorm.gamma").expect("present");
    expected.insert("embeddings.LayerNorm.weight".to_string(), gamma);
    assert_eq!(streamed.len(), expected.len());
    for (name, want) in &expected {
        let got = streamed.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(got.dtype(), want.dtype(), "{name}");
        assert_eq!(got.dims(), want.dims(), "{name}");
        let (got, want) = (got.flatten_all().expect("flat"), want.flatten_all().expect("flat"));
        let same = match want.dtype() {
            DType::I64 => got.to_vec1::<i64>().ok() == want.to_vec1::<i64>().ok(),
            DType::U8 => got.to_vec1::<u8>().ok() == want.to_vec1::<u8>().ok(),
            _ => {
                let as_f32 =
                    |t: &Tensor| t.to_dtype(DType::F32).and_then(|t| t.to_vec1::<f32>()).ok();
                as_f32(&got) == as_f32(&want)
            }
        };
        assert!(same, "{name} differs from candle's reading");
    }
}
