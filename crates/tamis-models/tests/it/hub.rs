//! The download path: a hub id missing from the cache is fetched from the hub into the
//! cache (here a fake hub on loopback), then found there offline.

use tamis_models::{CrossEncoder, CrossEncoderConfig, HubOptions, ModelDir, ModelOrigin};
use tamis_testkit::{FAKE_COMMIT, FakeHub};

use crate::{fixtures_dir, local};

fn options(cache: &std::path::Path, endpoint: &str, offline: bool) -> HubOptions {
    HubOptions {
        cache_dir: cache.to_path_buf(),
        revision: None,
        offline,
        endpoint: Some(endpoint.to_string()),
        token: None,
    }
}

#[test]
fn missing_model_is_downloaded_into_the_cache_then_reused_offline() {
    let model = fixtures_dir().join("xlmr-ce-2label");
    let hub = FakeHub::serve("org/tiny-ranker", &model, &["pytorch_model.bin", "onnx/model.onnx"]);
    let cache = tempfile::tempdir().unwrap();

    let downloaded =
        ModelDir::resolve("org/tiny-ranker", &options(cache.path(), &hub.endpoint, false)).unwrap();
    assert_eq!(
        downloaded.origin,
        ModelOrigin::Hub { repo: "org/tiny-ranker".into(), commit: FAKE_COMMIT.into() }
    );
    assert!(
        downloaded
            .path
            .starts_with(cache.path().join("models--org--tiny-ranker").join("snapshots"))
    );
    let requested = hub.requested();
    assert!(requested.iter().any(|p| p.ends_with("/model.safetensors")), "{requested:?}");
    assert!(
        !requested.iter().any(|p| p.contains("pytorch_model.bin") || p.contains("onnx")),
        "{requested:?}"
    );

    let pairs = [("vitamin d", "bone health"), ("trains", "Europe by rail")];
    let from_hub = CrossEncoder::load(&downloaded, &CrossEncoderConfig::default()).unwrap();
    let from_disk = CrossEncoder::load(&local(model), &CrossEncoderConfig::default()).unwrap();
    assert_eq!(from_hub.predict(&pairs).unwrap(), from_disk.predict(&pairs).unwrap());

    // Offline, with the hub unreachable, the cached snapshot is used.
    let cached =
        ModelDir::resolve("org/tiny-ranker", &options(cache.path(), "http://127.0.0.1:9", true))
            .unwrap();
    assert_eq!(cached.path, downloaded.path);
}
