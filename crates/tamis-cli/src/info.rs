//! `tamis info`: what an index holds and how it was built.

use std::path::Path;

use clap::Args;
use tamis_engine::ScoreKind;

use crate::location::{IndexLocation, LocationArgs};

/// Show an index's counts, models, settings and sizes on disk.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The index.
    #[command(flatten)]
    location: LocationArgs,

    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let location = args.location.resolve()?;
    let index = location.open()?;
    let stats = index.stats()?;
    let settings = index.settings();
    let mut info = serde_json::json!({
        "backend": stats.backend,
        "location": stats.location,
        "documents": stats.documents,
        "chunks": stats.chunks,
        "sequence": stats.sequence,
        "embedder": settings.embedder_id,
        "dimension": settings.dimension,
        "chunking": settings.chunking,
        "bm25": {
            "stemming": settings.lexical.stemming,
            "stopwords": settings.lexical.stopwords,
            "fields": settings.lexical.fields.name(),
        },
        "vector_index": stats.vector_index,
        "vectors": stats.vectors,
        "exact_below": settings.exact_below,
        "lexical_scoring": stats.lexical_scoring,
    });
    if let Some(late) = &settings.late_interaction {
        let tokens = stats.token_vectors.unwrap_or(tamis_engine::backend::TokenVectorStats {
            chunks: 0,
            vectors: 0,
            bytes: 0,
        });
        info["late_interaction"] = serde_json::json!({
            "model": late.model_id,
            "dimension": late.dimension,
            "storage": late.storage,
            "chunks": tokens.chunks,
            "vectors": tokens.vectors,
            "bytes": tokens.bytes,
            "bytes_per_chunk": tokens.bytes.checked_div(tokens.chunks).unwrap_or(0),
            "bytes_per_vector": late.storage.row_bytes(late.dimension),
        });
    }
    // k1, b and title_weight beside the analyzer's settings.
    if let (Some(bm25), serde_json::Value::Object(params)) =
        (info["bm25"].as_object_mut(), serde_json::to_value(settings.lexical.bm25)?)
    {
        bm25.extend(params);
    }
    if let (ScoreKind::TsRank, IndexLocation::Postgres { catalog, collection }) =
        (stats.lexical_scoring, &location)
    {
        info["lexical_note"] = format!(
            "made before tamis ranked PostgreSQL text with BM25: ranked by ts_rank (no inverse \
             document frequency) until `tamis index {} --collection {collection} \
             --rebuild-lexical` builds its BM25 postings",
            catalog.location()
        )
        .into();
    }
    if let (ScoreKind::Bm25, None, IndexLocation::Postgres { catalog, collection }) =
        (stats.lexical_scoring, stats.sequence, &location)
    {
        info["cache_note"] = format!(
            "made before tamis kept a write sequence in PostgreSQL: searches skip the result \
             cache until `tamis index {} --collection {collection} --rebuild-lexical` adds it",
            catalog.location()
        )
        .into();
    }
    if let IndexLocation::Dir(dir) = &location {
        let store_bytes = size(&dir.join(tamis_embedded::store::STORE_FILE))
            + size(&dir.join("store.sqlite-wal"));
        info["path"] = dir.display().to_string().into();
        info["bytes"] = serde_json::json!({
            "store": store_bytes,
            "bm25": size(&dir.join("bm25")),
            "vectors": size(&dir.join("vectors.usearch")),
        });
    }
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
