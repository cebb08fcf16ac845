use std::path::PathBuf;

use anyhow::Context;
use tamis_core::ErrorKind;

use super::{Exit, Failure};

fn exit_of(err: anyhow::Error) -> Exit {
    Exit::of(&err)
}

#[test]
fn the_outermost_library_error_decides_through_context() {
    let no_index = tamis_engine::Error::NoIndex { path: PathBuf::from("idx") };
    assert_eq!(exit_of(anyhow::Error::new(no_index).context("opening idx")), Exit::NotFound);

    let down = tamis_engine::Error::Backend(tamis_engine::BackendError::new(
        ErrorKind::Unavailable,
        "postgres://db",
        "connection refused",
    ));
    assert_eq!(exit_of(anyhow::Error::new(down)), Exit::Unavailable);

    let split = tamis_eval::Error::MissingSplit {
        split: "dev".into(),
        path: PathBuf::from("qrels/dev.tsv"),
        available: vec!["test".into()],
    };
    assert_eq!(exit_of(split.into()), Exit::NotFound);

    let model = tamis_models::Error::ModelDirNotFound { path: PathBuf::from("./m") };
    assert_eq!(exit_of(anyhow::Error::new(model).context("loading model ./m")), Exit::NotFound);
    let offline = tamis_models::Error::HubUnavailable {
        repo: "org/m".into(),
        revision: "main".into(),
        cache_dir: PathBuf::from("/cache"),
        files: vec!["config.json".into()],
        reason: "offline".into(),
    };
    assert_eq!(exit_of(offline.into()), Exit::Unavailable);

    let wrong_count = tamis_core::Error::WrongCount { expected: 2, got: 1 };
    assert_eq!(exit_of(tamis_engine::Error::Model(wrong_count).into()), Exit::Internal);

    let mismatch = tamis_engine::Error::EmbedderMismatch {
        location: "idx".into(),
        indexed_with: "a".into(),
        requested: "b".into(),
    };
    assert_eq!(exit_of(mismatch.into()), Exit::Input);
}

#[test]
fn a_server_startup_error_keeps_its_sources_kind() {
    let source = tamis_engine::Error::NoCollection { location: "db".into(), name: "c".into() };
    let startup = tamis_server::Error::Startup {
        context: "opening c".into(),
        kind: source.kind(),
        source: Box::new(source),
    };
    assert_eq!(exit_of(startup.into()), Exit::NotFound);
    let in_use = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    assert_eq!(exit_of(tamis_server::Error::Io(in_use).into()), Exit::Unavailable);
}

#[test]
fn io_and_json_errors_say_whose_fault_by_their_kind() {
    let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
    assert_eq!(exit_of(anyhow::Error::new(missing).context("reading x")), Exit::NotFound);
    let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    assert_eq!(exit_of(denied.into()), Exit::Input);
    let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
    assert_eq!(exit_of(full.into()), Exit::Unavailable);

    let bad_line = serde_json::from_str::<serde_json::Value>("{not json").unwrap_err();
    assert_eq!(exit_of(anyhow::Error::new(bad_line).context("line 3 of input")), Exit::Input);
}

#[test]
fn the_clis_own_errors_are_input_unless_typed() {
    assert_eq!(exit_of(anyhow::anyhow!("--depth must be at least 1")), Exit::Input);
    let missing: anyhow::Result<()> = None.context("--input is required");
    assert_eq!(exit_of(missing.unwrap_err()), Exit::Input);
    let typed = Failure::not_found("idx holds no index").context("deleting");
    assert_eq!(typed.to_string(), "deleting");
    assert_eq!(exit_of(typed), Exit::NotFound);
}

#[test]
fn every_kind_has_its_status() {
    let table = [
        (ErrorKind::User, 65),
        (ErrorKind::NotFound, 66),
        (ErrorKind::Internal, 70),
        (ErrorKind::Unavailable, 75),
    ];
    for (kind, code) in table {
        assert_eq!(Exit::of_kind(kind).code(), code, "{kind:?}");
    }
    assert_eq!(Exit::Usage.code(), 2);
}
