//! Connection settings: a `postgres://` URL plus tamis' own pool and TLS options.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::Host;

use crate::{Error, Result};

/// How to reach the database. Built from a URL once ([`PgConfig::from_url`]); the password
/// never appears in [`PgConfig::location`], `Debug` output or errors.
#[derive(Clone)]
pub struct PgConfig {
    pub(crate) postgres: postgres::Config,
    /// Most connections the pool opens (default 8; URL parameter `pool_size`).
    pub pool_size: u32,
    /// How long to wait for a connection, from the pool or the server (default 10 s;
    /// URL parameter `connect_timeout`, in seconds).
    pub connect_timeout: Duration,
    /// PEM file of extra CA certificates to trust besides Mozilla's roots (URL parameter
    /// `sslrootcert`), for servers with a private CA.
    pub ssl_root_cert: Option<PathBuf>,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("location", &self.location())
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .finish()
    }
}

/// Whether a store location names a PostgreSQL database rather than a directory.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

impl PgConfig {
    /// Parses `postgres://user[:password]@host[:port]/database?params`. Parameters are
    /// libpq's that rust-postgres knows (`sslmode=disable|prefer|require`,
    /// `application_name`, `options`, ...) plus `pool_size`, `connect_timeout` and
    /// `sslrootcert`.
    pub fn from_url(url: &str) -> Result<PgConfig> {
        if !is_postgres_url(url) {
            return Err(Error::Config("a PostgreSQL store is a postgres://… URL".into()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut pool_size = 8;
        let mut connect_timeout = Duration::from_secs(10);
        let mut ssl_root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = |what: &str| {
                value.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Config(format!("{what} must be a positive integer, not {value:?}"))
                })
            };
            match key {
                "pool_size" => pool_size = number("pool_size")?,
                "connect_timeout" => {
                    connect_timeout = Duration::from_secs(number("connect_timeout")?.into())
                }
                "sslrootcert" => ssl_root_cert = Some(PathBuf::from(value)),
                _ => kept.push(pair),
            }
        }
        let rebuilt =
            if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        // rust-postgres' error can quote the URL; say what is wrong without it.
        let mut postgres = postgres::Config::from_str(&rebuilt).map_err(|err| {
            let reason = err.to_string();
            let reason = if reason.contains(base) { "malformed URL".to_string() } else { reason };
            Error::Config(format!("invalid PostgreSQL URL: {reason}"))
        })?;
        postgres.connect_timeout(connect_timeout);
        if postgres.get_application_name().is_none() {
            postgres.application_name("tamis");
        }
        Ok(PgConfig { postgres, pool_size, connect_timeout, ssl_root_cert })
    }

    /// Sets the password when the URL has none (the CLI passes `PGPASSWORD`).
    pub fn password_if_missing(&mut self, password: &str) {
        if self.postgres.get_password().is_none() {
            self.postgres.password(password);
        }
    }

    /// `postgres://user@host:port/database`: where the store is, without credentials.
    pub fn location(&self) -> String {
        let config = &self.postgres;
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let name = match host {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(path) => path.display().to_string(),
                };
                match config.get_ports().get(i).or(config.get_ports().first()) {
                    Some(port) => format!("{name}:{port}"),
                    None => name,
                }
            })
            .collect();
        let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
        let database = config.get_dbname().unwrap_or("");
        format!("postgres://{user}{}/{database}", hosts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tamis_parameters_are_taken_out_and_the_password_never_shown() {
        let config = PgConfig::from_url(
            "postgres://alice:s3cret@db.example:5433/search?pool_size=3&sslmode=require&connect_timeout=4",
        )
        .unwrap();
        assert_eq!(config.pool_size, 3);
        assert_eq!(config.connect_timeout, Duration::from_secs(4));
        assert_eq!(config.postgres.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(config.location(), "postgres://alice@db.example:5433/search");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for url in ["postgres://u:pw@h/db?pool_size=0", "postgres://u:pw@h/db?bogus=1", "/tmp/x"] {
            let err = PgConfig::from_url(url).unwrap_err().to_string();
            assert!(!err.contains("pw@"), "{err}");
        }
    }
}
