//! A `tamis serve` process for end-to-end tests, and calls to its HTTP API.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `tamis serve` process on a free port, logging at debug level to a file; killed when
/// dropped.
pub struct Server {
    child: Child,
    base: String,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// Starts `tamis serve` with `args` (where the collections are, the model).
    pub fn start(args: &[&str]) -> Server {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tamis"))
            .args(["--log", "debug", "serve"])
            .args(args)
            .args(["--bind", "127.0.0.1:0"])
            .env("HF_HUB_OFFLINE", "1")
            .env("TAMIS_THREADS", "1")
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let log = fs_err::read_to_string(log.path()).unwrap_or_default();
            panic!("tamis serve did not start: {line:?}; it logged:\n{log}");
        };
        let base = base.to_string();
        Server { child, base, log }
    }

    /// `http://ADDR`, for clients of its own.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        fs_err::read_to_string(self.log.path()).unwrap()
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value, u16> {
        match ureq::post(&format!("{}{path}", self.base)).send_json(body) {
            Ok(response) => Ok(response.into_json().unwrap()),
            Err(ureq::Error::Status(code, _)) => Err(code),
            Err(err) => panic!("{path}: {err}"),
        }
    }

    pub fn put(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value, u16> {
        match ureq::put(&format!("{}{path}", self.base)).send_json(body) {
            Ok(response) => Ok(response.into_json().unwrap()),
            Err(ureq::Error::Status(code, _)) => Err(code),
            Err(err) => panic!("{path}: {err}"),
        }
    }

    pub fn get(&self, path: &str) -> Result<serde_json::Value, u16> {
        match ureq::get(&format!("{}{path}", self.base)).call() {
            Ok(response) => Ok(response.into_json().unwrap()),
            Err(ureq::Error::Status(code, _)) => Err(code),
            Err(err) => panic!("{path}: {err}"),
        }
    }

    pub fn delete(&self, path: &str) -> Result<(), u16> {
        match ureq::delete(&format!("{}{path}", self.base)).call() {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) => Err(code),
            Err(err) => panic!("{path}: {err}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
