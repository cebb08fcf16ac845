//! Where documents come from: a BEIR `corpus.jsonl` (`_id`, `title`, `text`, `metadata`),
//! generic JSON Lines (`id` instead of `_id`), or a directory of `.txt` / `.md` files
//! (id = the path relative to the directory, no title).
//!
//! [`DocumentSource`] streams documents one at a time, so a corpus is never held in
//! memory. [`DocumentSource::check`] reads the whole input once without keeping it, so a
//! caller can refuse bad input before any model work and size a progress bar.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Document;
use crate::{Error, Result};

/// What a JSON Lines document line must look like, for error messages.
const LINE_SHAPE: &str = r#"expected {"_id" or "id", "text", optional "title" and "metadata"}"#;

/// One line of BEIR (`_id`) or generic (`id`) JSON Lines.
#[derive(Deserialize)]
struct Line {
    #[serde(rename = "_id", alias = "id")]
    id: IdValue,
    #[serde(default)]
    title: String,
    text: String,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

/// Ids may be strings or numbers in the wild; both become strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Number(serde_json::Number),
}

/// A stream of documents read from a file or a directory.
#[derive(Debug)]
pub struct DocumentSource {
    path: PathBuf,
    input: Input,
}

#[derive(Debug)]
enum Input {
    /// JSON Lines, with the 1-based number of the last line read.
    Lines { reader: BufReader<fs_err::File>, line_no: usize, buf: String },
    /// A directory's text files, sorted, and the next one to read.
    Files { root: PathBuf, files: std::vec::IntoIter<PathBuf> },
}

impl DocumentSource {
    /// Opens `path`: a directory of `.txt` / `.md` files (read recursively, in path order)
    /// or a JSON Lines file.
    pub fn open(path: &Path) -> Result<DocumentSource> {
        let input = if path.is_dir() {
            let mut files = Vec::new();
            collect_files(path, &mut files)?;
            files.sort();
            Input::Files { root: path.to_path_buf(), files: files.into_iter() }
        } else {
            let file = fs_err::File::open(path).map_err(Error::Io)?;
            Input::Lines { reader: BufReader::new(file), line_no: 0, buf: String::new() }
        };
        Ok(DocumentSource { path: path.to_path_buf(), input })
    }

    /// The file or directory read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads all of `path` once without keeping it: the number of documents, or the
    /// first bad one's error. An input holding no documents is an error too.
    pub fn check(path: &Path) -> Result<usize> {
        let mut count = 0;
        for document in DocumentSource::open(path)? {
            document?;
            count += 1;
        }
        if count == 0 {
            let what = if path.is_dir() { "no .txt or .md files" } else { "no documents" };
            return Err(Error::BadInput {
                location: path.display().to_string(),
                reason: format!("holds {what}"),
            });
        }
        Ok(count)
    }

    fn next_line(&mut self) -> Option<Result<Document>> {
        let Input::Lines { reader, line_no, buf } = &mut self.input else { return None };
        loop {
            buf.clear();
            *line_no += 1;
            match reader.read_line(buf) {
                Ok(0) => return None,
                Ok(_) if buf.trim().is_empty() => continue,
                Ok(_) => return Some(parse_line(buf, *line_no, &self.path)),
                Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
                    return Some(Err(Error::BadInput {
                        location: format!("line {line_no} of {}", self.path.display()),
                        reason: "not UTF-8 text".into(),
                    }));
                }
                Err(source) => return Some(Err(Error::Io(source))),
            }
        }
    }

    fn next_file(&mut self) -> Option<Result<Document>> {
        let Input::Files { root, files } = &mut self.input else { return None };
        let path = files.next()?;
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
                return Some(Err(Error::BadInput {
                    location: path.display().to_string(),
                    reason: "only UTF-8 text files can be indexed".into(),
                }));
            }
            Err(source) => return Some(Err(Error::Io(source))),
        };
        let id = path.strip_prefix(&*root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        Some(Ok(Document { id, title: String::new(), text, metadata: None }))
    }
}

impl Iterator for DocumentSource {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Result<Document>> {
        match self.input {
            Input::Lines { .. } => self.next_line(),
            Input::Files { .. } => self.next_file(),
        }
    }
}

fn parse_line(line: &str, line_no: usize, path: &Path) -> Result<Document> {
    let bad = |reason: String| Error::BadInput {
        location: format!("line {line_no} of {}", path.display()),
        reason,
    };
    let parsed: Line =
        serde_json::from_str(line).map_err(|err| bad(format!("{LINE_SHAPE}: {err}")))?;
    let id = match parsed.id {
        IdValue::Text(id) => id,
        IdValue::Number(n) => n.to_string(),
    };
    if id.is_empty() {
        return Err(bad("the id is empty".into()));
    }
    if let Some(metadata) = &parsed.metadata
        && !(metadata.is_object() || metadata.is_null())
    {
        return Err(bad("metadata must be a JSON object".into()));
    }
    Ok(Document { id, title: parsed.title, text: parsed.text, metadata: parsed.metadata })
}

/// The `.txt` and `.md` files under `dir`. Links to directories are not followed, so a
/// link loop cannot make the walk endless; the depth is what the filesystem holds.
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs_err::read_dir(dir).map_err(Error::Io)? {
        let entry = entry.map_err(Error::Io)?;
        let path = entry.path();
        if entry.file_type().map_err(Error::Io)?.is_dir() {
            collect_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "txt" || e == "md") && path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
