//! Reading documents to index: BEIR `corpus.jsonl`, generic JSON Lines, or a directory of
//! `.txt` / `.md` files (id = path relative to the directory).

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use tamis_engine::Document;

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

/// Reads every document of `input`, failing on the first bad one with its line or file.
pub fn read_documents(input: &Path) -> anyhow::Result<Vec<Document>> {
    if input.is_dir() {
        return read_directory(input);
    }
    let mut documents = Vec::new();
    let text = fs_err::read_to_string(input)?;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(line).with_context(|| {
            format!(
                r#"line {} of {}: expected {{"_id" or "id", "text", optional "title" and "metadata"}}"#,
                index + 1,
                input.display()
            )
        })?;
        let id = match parsed.id {
            IdValue::Text(id) => id,
            IdValue::Number(n) => n.to_string(),
        };
        anyhow::ensure!(
            !id.is_empty(),
            "line {} of {}: the id is empty",
            index + 1,
            input.display()
        );
        if let Some(metadata) = &parsed.metadata {
            anyhow::ensure!(
                metadata.is_object() || metadata.is_null(),
                "line {} of {}: metadata must be a JSON object",
                index + 1,
                input.display()
            );
        }
        documents.push(Document {
            id,
            title: parsed.title,
            text: parsed.text,
            metadata: parsed.metadata,
        });
    }
    anyhow::ensure!(!documents.is_empty(), "{} holds no documents", input.display());
    Ok(documents)
}

fn read_directory(root: &Path) -> anyhow::Result<Vec<Document>> {
    let mut files = Vec::new();
    collect_files(root, &mut files)?;
    files.sort();
    let mut documents = Vec::new();
    for path in files {
        let text = fs_err::read_to_string(&path)
            .with_context(|| "only UTF-8 text files can be indexed")?;
        let id = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        documents.push(Document { id, title: String::new(), text, metadata: None });
    }
    anyhow::ensure!(!documents.is_empty(), "{} holds no .txt or .md files", root.display());
    Ok(documents)
}

fn collect_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "txt" || e == "md") {
            files.push(path);
        }
    }
    Ok(())
}
