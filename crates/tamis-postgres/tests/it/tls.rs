//! TLS: `sslmode` and `sslrootcert` against a TLS-terminating proxy in front of the test
//! server (`tamis_testkit::TlsProxy`; the PyPI PostgreSQL has no SSL of its own).

use tamis_engine::backend::Catalog;
use tamis_engine::{SearchMode, SearchRequest};
use tamis_postgres::{PgCatalog, PgConfig, PgOptions};
use tamis_testkit::{HashEmbedder, TlsProxy};

use crate::{MODELS, doc, settings, unique_name};

fn connect(url: &str) -> Result<PgCatalog, String> {
    let config = PgConfig::from_url(url).map_err(|e| e.to_string())?;
    PgCatalog::connect(&config, PgOptions::default()).map_err(|e| e.to_string())
}

#[test]
fn required_tls_with_a_private_ca_carries_the_whole_workload() {
    let proxy = TlsProxy::for_test_server(&["localhost"]);
    let ca = proxy.ca_file.to_str().unwrap();
    let url = proxy.url("localhost", &format!("sslmode=require&sslrootcert={ca}"));
    let catalog = connect(&url).expect("connecting over TLS");
    let name = unique_name("tls");
    let mut index = catalog.create(&name, settings()).unwrap();
    let docs = [
        doc("a", "", "glaciers melt in warm summers", None),
        doc("b", "", "the borrow checker and lifetimes", None),
    ];
    index.ingest_batch(&docs, MODELS).unwrap();
    let hits = index
        .search(&SearchRequest::new("borrow checker", SearchMode::Hybrid), Some(&HashEmbedder))
        .unwrap();
    assert_eq!(hits[0].doc_id, "b");
    assert!(catalog.remove(&name).unwrap());
    // The first connection and the pool's all went through the handshake.
    assert!(proxy.handshakes() >= 2, "{} handshakes", proxy.handshakes());
}

#[test]
fn prefer_takes_tls_when_the_server_offers_it() {
    let proxy = TlsProxy::for_test_server(&["localhost"]);
    let ca = proxy.ca_file.to_str().unwrap();
    let url = proxy.url("localhost", &format!("sslrootcert={ca}"));
    connect(&url).expect("connecting with the default sslmode (prefer)");
    assert!(proxy.handshakes() >= 1);
}

#[test]
fn certificates_that_do_not_verify_are_refused_with_the_reason() {
    let proxy = TlsProxy::for_test_server(&["localhost"]);
    let ca = proxy.ca_file.to_str().unwrap();
    // No sslrootcert: the proxy's CA is not among Mozilla's roots.
    let err = connect(&proxy.url("localhost", "sslmode=require")).unwrap_err();
    assert!(err.contains("certificate") && err.contains("UnknownIssuer"), "{err}");
    // The right CA, the wrong name: the certificate is for localhost, not 127.0.0.1.
    let url = proxy.url("127.0.0.1", &format!("sslmode=require&sslrootcert={ca}"));
    let err = connect(&url).unwrap_err();
    assert!(err.contains("certificate not valid for name \"127.0.0.1\""), "{err}");
    let server: postgres::Config = tamis_testkit::postgres_url().parse().unwrap();
    let password = String::from_utf8(server.get_password().unwrap().to_vec()).unwrap();
    assert!(!err.contains(&password), "{err}");
    assert_eq!(proxy.handshakes(), 0);
}

#[test]
fn required_tls_against_a_server_without_it_fails_clearly() {
    let direct = tamis_testkit::postgres_url();
    let url = format!("{direct}{}sslmode=require", if direct.contains('?') { '&' } else { '?' });
    let err = connect(&url).unwrap_err();
    assert!(err.contains("TLS"), "{err}");
    let missing = tamis_testkit::test_server_url("localhost", 1, "sslrootcert=/no/such/ca.pem");
    let err = connect(&missing).unwrap_err();
    assert!(err.contains("/no/such/ca.pem"), "{err}");
}
