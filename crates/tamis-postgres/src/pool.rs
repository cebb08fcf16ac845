//! Connections: an r2d2 pool of rust-postgres clients, TLS by rustls.

use std::sync::Arc;

use r2d2_postgres::PostgresConnectionManager;
use tamis_core::ErrorKind;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::PgConfig;
use crate::{Error, Result};

type Manager = PostgresConnectionManager<MakeRustlsConnect>;

/// A pooled connection (derefs to `postgres::Client`).
pub(crate) type Connection = r2d2::PooledConnection<Manager>;

/// The pool of one database and where it is (for messages, without credentials).
pub(crate) struct Db {
    pool: r2d2::Pool<Manager>,
    pub location: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("location", &self.location).finish()
    }
}

impl Db {
    /// A pool for `config`, after one direct connection proves the server reachable and
    /// the credentials good (a pool would retry a refused login until its timeout); that
    /// connection is returned for the caller's first work.
    pub fn new(config: &PgConfig) -> Result<(Arc<Db>, postgres::Client)> {
        let tls = tls(config)?;
        let location = config.location();
        let client = config.postgres.connect(tls.clone()).map_err(|err| {
            let failed = crate::error::statement_error(&location, "connecting", &err);
            match failed {
                Error::Database { kind: ErrorKind::Unavailable, message, .. } => {
                    Error::Connect { location: location.clone(), message }
                }
                other => other,
            }
        })?;
        let manager = PostgresConnectionManager::new(config.postgres.clone(), tls);
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(0))
            .connection_timeout(config.connect_timeout)
            // Errors reach the caller of `connection`; the default handler would log them.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        Ok((Arc::new(Db { pool, location }), client))
    }

    /// A connection from the pool, waiting up to the connect timeout.
    pub fn connection(&self) -> tamis_engine::Result<Connection> {
        self.pool.get().map_err(|err| {
            Error::Database {
                location: self.location.clone(),
                kind: ErrorKind::Unavailable,
                message: format!("no connection to the database: {err}"),
            }
            .into()
        })
    }
}

/// Verifies servers against Mozilla's roots plus the URL's `sslrootcert`. Whether TLS is
/// used at all is the URL's `sslmode` (rust-postgres' default `prefer`: TLS when the server
/// offers it).
fn tls(config: &PgConfig) -> Result<MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.ssl_root_cert {
        let bad = |reason: String| {
            Error::Config(format!(
                "sslrootcert {}: {reason} (give a PEM file of CA certificates)",
                path.display()
            ))
        };
        let pem = fs_err::read(path).map_err(|err| bad(err.to_string()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.map_err(|err| bad(err.to_string()))?)
                .map_err(|err| bad(err.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::Config(format!("TLS setup: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(tls))
}
