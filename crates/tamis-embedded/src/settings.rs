//! The engine's [`IndexSettings`] as the embedded backend records them in its store and
//! hands them to tantivy ([`Bm25Config`]) and usearch ([`HnswParams`]).
//!
//! The store's `settings` table is the on-disk format: every name and value written here
//! must stay readable by the tamis that wrote it and the one that reads it, so these keys
//! and their spellings never change (`tests.rs` pins them).

use tamis_engine::{
    HnswSettings, IndexSettings, LateInteractionSettings, LexicalFields, LexicalSettings,
    TokenStorage,
};
use tamis_lexical::{Bm25Config, Bm25Params, FieldMode};
use tamis_vector::HnswParams;

use crate::store::Store;
use crate::{Error, Result};

/// tantivy's analyzer and fields for the engine's lexical settings.
pub(crate) fn bm25_config(lexical: &LexicalSettings) -> Bm25Config {
    let fields = match lexical.fields {
        LexicalFields::Multifield => FieldMode::Multifield,
        LexicalFields::Concatenated => FieldMode::Concatenated,
    };
    Bm25Config {
        stemming: lexical.stemming,
        stopwords: lexical.stopwords,
        fields,
        params: lexical.bm25,
    }
}

/// The engine's lexical settings for what a BM25 index records.
pub(crate) fn lexical_settings(config: &Bm25Config) -> LexicalSettings {
    let fields = match config.fields {
        FieldMode::Multifield => LexicalFields::Multifield,
        FieldMode::Concatenated => LexicalFields::Concatenated,
    };
    LexicalSettings {
        stemming: config.stemming,
        stopwords: config.stopwords,
        fields,
        bm25: config.params,
    }
}

/// usearch's graph parameters for the engine's HNSW settings (one insertion thread, so
/// that builds are deterministic).
pub(crate) fn hnsw_params(hnsw: &HnswSettings) -> HnswParams {
    HnswParams {
        connectivity: hnsw.m,
        expansion_add: hnsw.ef_construction,
        expansion_search: hnsw.ef_search,
        ..HnswParams::default()
    }
}

/// Records a new index's settings in its store.
pub(crate) fn record(store: &Store, settings: &IndexSettings) -> Result<()> {
    store.set_setting("embedder", &settings.embedder_id)?;
    store.set_setting("dimension", &settings.dimension.to_string())?;
    let chunking = serde_json::to_string(&settings.chunking).map_err(tamis_engine::Error::Json)?;
    store.set_setting("chunking", &chunking)?;
    store.set_setting("exact_below", &settings.exact_below.to_string())?;
    let hnsw = &settings.hnsw;
    store.set_setting("hnsw_m", &hnsw.m.to_string())?;
    store.set_setting("hnsw_ef_construction", &hnsw.ef_construction.to_string())?;
    store.set_setting("hnsw_ef_search", &hnsw.ef_search.to_string())?;
    // Recorded in the store too, so a lost or deleted `bm25/` can be rebuilt from it.
    let lexical = &settings.lexical;
    store.set_setting("bm25_stemming", &lexical.stemming.to_string())?;
    store.set_setting("bm25_stopwords", &lexical.stopwords.to_string())?;
    store.set_setting("bm25_fields", lexical.fields.name())?;
    store.set_setting("bm25_k1", &lexical.bm25.k1.to_string())?;
    store.set_setting("bm25_b", &lexical.bm25.b.to_string())?;
    store.set_setting("bm25_title_weight", &lexical.bm25.title_weight.to_string())?;
    if let Some(late) = &settings.late_interaction {
        store.set_setting("late_model", &late.model_id)?;
        store.set_setting("late_dimension", &late.dimension.to_string())?;
        store.set_setting("late_storage", storage_name(late.storage))?;
    }
    Ok(())
}

/// The recorded name of a token storage.
fn storage_name(storage: TokenStorage) -> &'static str {
    match storage {
        TokenStorage::F16 => "f16",
        TokenStorage::Int8 => "int8",
    }
}

/// The settings an index was created with, from its store; the lexical ones are the BM25
/// index's own (`lexical`), which its directory records.
pub(crate) fn recorded(store: &Store, lexical: &Bm25Config) -> Result<IndexSettings> {
    let setting = |name: &str| -> Result<String> {
        store.setting(name)?.ok_or_else(|| Error::CorruptIndex {
            path: store.path().to_path_buf(),
            message: format!("setting '{name}' is missing"),
        })
    };
    let parse_error = |name: &str| Error::CorruptIndex {
        path: store.path().to_path_buf(),
        message: format!("setting '{name}' is invalid"),
    };
    // Indexes made before the HNSW parameters were recorded used the defaults.
    let recorded = |name: &str, default: usize| -> Result<usize> {
        match store.setting(name)? {
            Some(value) => value.parse().map_err(|_| parse_error(name)),
            None => Ok(default),
        }
    };
    let defaults = HnswSettings::default();
    let hnsw = HnswSettings {
        m: recorded("hnsw_m", defaults.m)?,
        ef_construction: recorded("hnsw_ef_construction", defaults.ef_construction)?,
        ef_search: recorded("hnsw_ef_search", defaults.ef_search)?,
    };
    // Indexes made before late interaction store no token vectors.
    let late_interaction = match store.setting("late_model")? {
        None => None,
        Some(model_id) => Some(LateInteractionSettings {
            model_id,
            dimension: setting("late_dimension")?
                .parse()
                .map_err(|_| parse_error("late_dimension"))?,
            storage: match setting("late_storage")?.as_str() {
                "f16" => TokenStorage::F16,
                "int8" => TokenStorage::Int8,
                _ => return Err(parse_error("late_storage")),
            },
        }),
    };
    Ok(IndexSettings {
        late_interaction,
        embedder_id: setting("embedder")?,
        dimension: setting("dimension")?.parse().map_err(|_| parse_error("dimension"))?,
        chunking: serde_json::from_str(&setting("chunking")?)
            .map_err(|_| parse_error("chunking"))?,
        lexical: lexical_settings(lexical),
        hnsw,
        exact_below: setting("exact_below")?.parse().map_err(|_| parse_error("exact_below"))?,
    })
}

/// The BM25 settings recorded in the store, to rebuild a lost `bm25/` with (`None` for an
/// index made before they were recorded). An index made before the BM25 parameters were
/// recorded was scored with [`Bm25Params::LEGACY`], and keeps them.
pub(crate) fn recorded_bm25(store: &Store) -> Result<Option<Bm25Config>> {
    let recorded = (
        store.setting("bm25_stemming")?,
        store.setting("bm25_stopwords")?,
        store.setting("bm25_fields")?.and_then(|name| FieldMode::from_name(&name)),
    );
    let (Some(stemming), Some(stopwords), Some(fields)) = recorded else {
        return Ok(None);
    };
    let parameter = |name: &str, legacy: f32| -> Result<f32> {
        match store.setting(name)? {
            None => Ok(legacy),
            Some(value) => value.parse().map_err(|_| Error::CorruptIndex {
                path: store.path().to_path_buf(),
                message: format!("setting '{name}' is invalid"),
            }),
        }
    };
    let legacy = Bm25Params::LEGACY;
    let params = Bm25Params {
        k1: parameter("bm25_k1", legacy.k1)?,
        b: parameter("bm25_b", legacy.b)?,
        title_weight: parameter("bm25_title_weight", legacy.title_weight)?,
    };
    let config =
        Bm25Config { stemming: stemming == "true", stopwords: stopwords == "true", fields, params };
    config.validate()?;
    Ok(Some(config))
}

#[cfg(test)]
mod tests;
