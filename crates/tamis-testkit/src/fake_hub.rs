//! A stand-in for the Hugging Face Hub on loopback, serving one local model directory.
//!
//! It answers the two requests `hf-hub` makes — repository info
//! (`/api/models/{repo}/revision/{rev}`) and ranged file downloads
//! (`/{repo}/resolve/{rev}/{file}`) — so the download path can be tested without a network.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A running fake hub; it stops serving when dropped (its thread is detached).
#[derive(Debug)]
pub struct FakeHub {
    /// Base URL to use as `HF_ENDPOINT`.
    pub endpoint: String,
    requested: Arc<Mutex<Vec<String>>>,
}

/// The commit every file of the fake hub belongs to.
pub const FAKE_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

impl FakeHub {
    /// Serves the files of `model_dir` as repository `repo`, listing `extra_listed` too
    /// (names in the listing whose download would fail, to check they are not fetched).
    pub fn serve(repo: &str, model_dir: &Path, extra_listed: &[&str]) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let requested = Arc::new(Mutex::new(Vec::new()));
        let state = Server {
            repo: repo.to_string(),
            dir: model_dir.to_path_buf(),
            extra: extra_listed.iter().map(|s| s.to_string()).collect(),
            requested: Arc::clone(&requested),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                // One request per connection; errors only end that connection.
                let _ = state.handle(stream);
            }
        });
        FakeHub { endpoint, requested }
    }

    /// Paths requested so far, in order.
    pub fn requested(&self) -> Vec<String> {
        self.requested.lock().expect("request log").clone()
    }
}

struct Server {
    repo: String,
    dir: PathBuf,
    extra: Vec<String>,
    requested: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
        // `Range: bytes=START-[END]`, END inclusive; hf-hub asks `bytes=0-0` for metadata.
        let mut range: (usize, Option<usize>) = (0, None);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some(value) = header.to_ascii_lowercase().strip_prefix("range: bytes=") {
                let (start, end) = value.trim().split_once('-').unwrap_or((value.trim(), ""));
                range = (start.parse().unwrap_or(0), end.parse().ok());
            }
        }
        self.requested.lock().expect("request log").push(path.clone());
        let info_prefix = format!("/api/models/{}/revision/", self.repo);
        let file_prefix = format!("/{}/resolve/", self.repo);
        if path.starts_with(&info_prefix) {
            let mut names = self.files();
            names.extend(self.extra.iter().cloned());
            let siblings: Vec<String> =
                names.iter().map(|n| format!("{{\"rfilename\":\"{n}\"}}")).collect();
            let body =
                format!("{{\"sha\":\"{FAKE_COMMIT}\",\"siblings\":[{}]}}", siblings.join(","));
            return respond(stream, "200 OK", &[], body.as_bytes());
        }
        if let Some(rest) = path.strip_prefix(&file_prefix) {
            let file = rest.split_once('/').map_or("", |(_, f)| f);
            if let Ok(bytes) = fs_err::read(self.dir.join(file)) {
                let start = range.0.min(bytes.len());
                let end = range.1.map_or(bytes.len(), |e| (e + 1).min(bytes.len())).max(start);
                let body = &bytes[start..end];
                let headers = [
                    ("x-repo-commit", FAKE_COMMIT.to_string()),
                    ("etag", format!("\"{}-{}\"", file.replace('/', "_"), bytes.len())),
                    (
                        "content-range",
                        format!("bytes {start}-{}/{}", end.saturating_sub(1), bytes.len()),
                    ),
                ];
                return respond(stream, "206 Partial Content", &headers, body);
            }
        }
        respond(stream, "404 Not Found", &[], b"{\"error\":\"not found\"}")
    }

    /// Every file under the model directory, as repository-relative names.
    fn files(&self) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in fs_err::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else if let Ok(relative) = path.strip_prefix(root) {
                    out.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, &self.dir, &mut out);
        out.sort();
        out
    }
}

fn respond(
    mut stream: TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head =
        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
