//! `tamis info`: what an index holds and how it was built.

use std::path::{Path, PathBuf};

use clap::Args;
use tamis_engine::Index;

/// Show an index's counts, models, settings and sizes on disk.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The index directory.
    dir: PathBuf,

    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let index = Index::open(&args.dir)?;
    let (documents, chunks) = index.store().counts()?;
    let settings = index.settings();
    let store_bytes = size(&args.dir.join(tamis_engine::storage::STORE_FILE))
        + size(&args.dir.join("store.sqlite-wal"));
    let info = serde_json::json!({
        "path": args.dir.display().to_string(),
        "documents": documents,
        "chunks": chunks,
        "sequence": index.store().last_seq()?,
        "embedder": settings.embedder_id,
        "dimension": settings.dimension,
        "chunking": settings.chunking,
        "bm25": {"stemming": settings.bm25.stemming, "stopwords": settings.bm25.stopwords},
        "vector_index": if index.uses_hnsw() { "hnsw" } else { "exact" },
        "vectors": index.vector_count(),
        "exact_below": settings.exact_below,
        "bytes": {
            "store": store_bytes,
            "bm25": size(&args.dir.join("bm25")),
            "vectors": size(&args.dir.join("vectors.usearch")),
        },
    });
    if args.json {
        println!("{info}");
    } else {
        println!("{}", serde_json::to_string_pretty(&info)?);
    }
    Ok(())
}

/// Bytes of a file, or of everything under a directory; 0 when absent.
fn size(path: &Path) -> u64 {
    if path.is_dir() {
        fs_err::read_dir(path).map_or(0, |entries| entries.flatten().map(|e| size(&e.path())).sum())
    } else {
        fs_err::metadata(path).map_or(0, |m| m.len())
    }
}
