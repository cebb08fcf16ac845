//! An index (an embedded directory or a PostgreSQL collection) opened in-process: add,
//! delete and two-stage search, with the CLI's settings and errors.
//!
//! Models load on first need and stay with the index: the bi-encoder it records (fp32,
//! as the CLI runs it for indexes) and each reranker a search names, cached by name.
//! Results cross to Python as the CLI's `--json` answer, which the Python half turns
//! into typed objects.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use pyo3::prelude::*;
use tamis_core::{ErrorKind, TokenStorage};
use tamis_engine::backend::Catalog;
use tamis_engine::cache::CachedReranker;
use tamis_engine::filter::Filter;
use tamis_engine::fusion::{Fusion, Normalization};
use tamis_engine::pipeline::{PipelineRequest, PipelineResponse, RerankStage};
use tamis_engine::{
    Document, IngestConfig, IngestModels, LateInteractionSettings, SearchMode, SearchRequest,
    SettingsOverrides,
};
use tamis_models::{
    BiEncoder, BiEncoderConfig, CrossEncoderConfig, LateInteractionConfig, LateInteractionModel,
    RerankerConfig, RerankerModel, RuntimeConfig, model_id,
};
use tamis_postgres::{PgCatalog, PgConfig, PgOptions};

use crate::errors::{Failure, raise};
use crate::models::{Source, runtime};

/// Scores each reranker keeps, as the CLI's.
const RERANK_CACHE: NonZeroUsize = NonZeroUsize::new(100_000).expect("non-zero");

/// A reranker loaded for searches, with its score cache.
struct Loaded {
    cached: CachedReranker<RerankerModel>,
    model_id: String,
}

impl Loaded {
    fn stage<'a>(&'a self, name: &'a str, candidates: usize) -> RerankStage<'a> {
        match self.cached.inner() {
            RerankerModel::LateInteraction(model) => {
                RerankStage::late_interaction(name, model.as_ref(), &self.model_id, candidates)
            }
            _ => RerankStage::new(name, &self.cached, candidates),
        }
    }
}

/// An index and the models it has needed so far.
#[pyclass(module = "tamis._tamis", frozen)]
pub(crate) struct Index {
    index: RwLock<tamis_engine::Index>,
    location: String,
    source: Source,
    embed_runtime: RuntimeConfig,
    rerank_runtime: RuntimeConfig,
    embedder: Mutex<Option<Arc<BiEncoder>>>,
    late: Mutex<Option<Arc<LateInteractionModel>>>,
    rerankers: Mutex<HashMap<String, Arc<Loaded>>>,
}

/// Where the index lives.
enum Location {
    Dir(PathBuf),
    Postgres { catalog: PgCatalog, collection: String },
}

impl Location {
    fn resolve(location: &str, collection: Option<String>) -> Result<Location, Failure> {
        if tamis_postgres::is_postgres_url(location) {
            let collection = collection.ok_or_else(|| {
                Failure::user("a PostgreSQL store holds named collections: pass collection=NAME")
            })?;
            tamis_engine::backend::check_collection_name(&collection)?;
            let mut config = PgConfig::from_url(location)?;
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password_if_missing(&password);
            }
            let catalog = PgCatalog::connect(&config, PgOptions::default())?;
            Ok(Location::Postgres { catalog, collection })
        } else if collection.is_some() {
            Err(Failure::user(format!(
                "collection= names a collection in a PostgreSQL store (postgres://…); {location} is a directory holding one index"
            )))
        } else {
            Ok(Location::Dir(PathBuf::from(location)))
        }
    }

    fn open(&self) -> Result<Option<tamis_engine::Index>, Failure> {
        Ok(match self {
            Location::Dir(dir) => {
                if dir.join(tamis_embedded::store::STORE_FILE).is_file() {
                    Some(tamis_embedded::open(dir)?)
                } else {
                    None
                }
            }
            Location::Postgres { catalog, collection } => catalog.open(collection)?,
        })
    }

    fn create(
        &self,
        settings: tamis_engine::IndexSettings,
        normalized: bool,
    ) -> Result<tamis_engine::Index, Failure> {
        Ok(match self {
            Location::Dir(dir) => tamis_embedded::create(dir, settings)?,
            Location::Postgres { catalog, collection } => catalog.create_with(
                collection,
                &settings,
                PgOptions { halfvec: false, normalized },
            )?,
        })
    }

    fn describe(&self) -> String {
        match self {
            Location::Dir(dir) => dir.display().to_string(),
            Location::Postgres { catalog, collection } => {
                format!("{} collection '{collection}'", catalog.location())
            }
        }
    }
}

/// A document as the Python half passes it: id, title, text, metadata as JSON text.
type RawDocument = (String, String, String, Option<String>);

impl Index {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, tamis_engine::Index> {
        // Every write is all-or-nothing, so a panicked writer left the index whole.
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, tamis_engine::Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bi-encoder the index records, loaded once.
    fn embedder(&self) -> Result<Arc<BiEncoder>, Failure> {
        let mut slot = self.embedder.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(embedder) = slot.as_ref() {
            return Ok(embedder.clone());
        }
        let id = self.read().settings().embedder_id.clone();
        let embedder = Arc::new(load_embedder(&self.source, &id, self.embed_runtime)?);
        *slot = Some(embedder.clone());
        Ok(embedder)
    }

    /// The late-interaction model whose token vectors the index stores, if any.
    fn late(&self) -> Result<Option<Arc<LateInteractionModel>>, Failure> {
        let Some(stored) = self.read().settings().late_interaction.clone() else {
            return Ok(None);
        };
        let mut slot = self.late.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(model) = slot.as_ref() {
            return Ok(Some(model.clone()));
        }
        let model = Arc::new(load_late(&self.source, &stored.model_id, self.embed_runtime)?);
        *slot = Some(model.clone());
        Ok(Some(model))
    }

    /// The reranker named `spec`, loaded once.
    fn reranker(&self, spec: &str) -> Result<Arc<Loaded>, Failure> {
        let mut loaded = self.rerankers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(reranker) = loaded.get(spec) {
            return Ok(reranker.clone());
        }
        let dir = self.source.clone().resolve(spec)?;
        let config = RerankerConfig {
            cross_encoder: CrossEncoderConfig {
                runtime: self.rerank_runtime,
                ..Default::default()
            },
            ..Default::default()
        };
        let model = RerankerModel::load(&dir, &config)?;
        let reranker = Arc::new(Loaded {
            cached: CachedReranker::new(model, spec.to_string(), RERANK_CACHE),
            model_id: model_id(spec, self.source.revision.as_deref()),
        });
        loaded.insert(spec.to_string(), reranker.clone());
        Ok(reranker)
    }

    /// Takes in another process's writes, when there are any.
    fn catch_up(&self) -> Result<(), Failure> {
        if self.read().is_behind()? {
            self.write().refresh()?;
        }
        Ok(())
    }
}

fn load_embedder(source: &Source, id: &str, runtime: RuntimeConfig) -> Result<BiEncoder, Failure> {
    let dir = source.resolve_id(id)?;
    Ok(BiEncoder::load(&dir, &BiEncoderConfig { runtime, ..Default::default() })?)
}

fn load_late(
    source: &Source,
    id: &str,
    runtime: RuntimeConfig,
) -> Result<LateInteractionModel, Failure> {
    let dir = source.resolve_id(id)?;
    let config = LateInteractionConfig { runtime, ..Default::default() };
    Ok(LateInteractionModel::load(&dir, &config)?)
}

/// The stage-1 fusion of a search.
fn fusion(method: &str, weights: Vec<f32>, rrf_k: f32) -> Result<Fusion, Failure> {
    let fusion = match method {
        "rrf" => Fusion::Rrf { k: rrf_k, weights },
        "minmax" => Fusion::Linear { normalization: Normalization::MinMax, weights },
        "zscore" => Fusion::Linear { normalization: Normalization::ZScore, weights },
        other => {
            return Err(Failure::user(format!(
                "unknown fusion {other:?}: use rrf, minmax or zscore"
            )));
        }
    };
    fusion.validate(2)?;
    Ok(fusion)
}

/// One search's options, as the Python half passes them.
#[derive(Debug)]
struct Options {
    k: usize,
    mode: SearchMode,
    candidates: usize,
    filter: Option<Filter>,
    rerank: Vec<String>,
    windows: Vec<usize>,
    fusion: Fusion,
    stage_fusion: Option<Fusion>,
    deadline: Option<Duration>,
    min_score: Option<f32>,
    raw_scores: bool,
    ef_search: Option<usize>,
}

#[pymethods]
impl Index {
    #[new]
    #[pyo3(signature = (location, model=None, *, collection=None, settings=None, late_interaction=None, token_storage=None, precision="auto", threads=None, revision=None, local_files_only=false, cache_folder=None, token=None))]
    #[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn new(
        py: Python<'_>,
        location: &str,
        model: Option<String>,
        collection: Option<String>,
        settings: Option<String>,
        late_interaction: Option<String>,
        token_storage: Option<&str>,
        precision: &str,
        threads: Option<usize>,
        revision: Option<String>,
        local_files_only: bool,
        cache_folder: Option<String>,
        token: Option<String>,
    ) -> PyResult<Self> {
        // The index records its bi-encoder, not its precision: embeddings run in auto
        // (fp32, or its equivalent bf16x3 on AMX), as the CLI's index commands run them by
        // default; `precision` is the rerankers'.
        let embed_runtime = runtime(py, "auto", threads, "native")?;
        let rerank_runtime = runtime(py, precision, threads, "native")?;
        let overrides: SettingsOverrides = match &settings {
            Some(json) => serde_json::from_str(json)
                .map_err(|err| raise(py, ErrorKind::User, format!("settings: {err}")))?,
            None => SettingsOverrides::default(),
        };
        let storage = match token_storage {
            None | Some("f16") => TokenStorage::F16,
            Some("int8") => TokenStorage::Int8,
            Some(other) => {
                return Err(raise(
                    py,
                    ErrorKind::User,
                    format!("unknown token_storage {other:?}: use f16 or int8"),
                ));
            }
        };
        if token_storage.is_some() && late_interaction.is_none() {
            return Err(raise(
                py,
                ErrorKind::User,
                "token_storage applies to late_interaction's token vectors: pass late_interaction= too".into(),
            ));
        }
        let source = Source { revision, local_files_only, cache_folder, token };
        let opened = py.detach(|| -> Result<_, Failure> {
            let place = Location::resolve(location, collection)?;
            let described = place.describe();
            let wanted = model.as_deref().map(|spec| model_id(spec, source.revision.as_deref()));
            let late_id =
                late_interaction.as_deref().map(|spec| model_id(spec, source.revision.as_deref()));
            let (index, embedder, late) = match place.open()? {
                Some(index) => {
                    if settings.is_some() || token_storage.is_some() {
                        return Err(Failure::user(format!(
                            "{described} already holds an index, and its settings are fixed when it is created; open it without settings, or create a new one"
                        )));
                    }
                    if let Some(wanted) = &wanted {
                        index.check_embedder(wanted)?;
                    }
                    index.check_late_model(late_id.as_deref())?;
                    (index, None, None)
                }
                None => {
                    let Some(embedder_id) = wanted else {
                        return Err(Failure::new(
                            ErrorKind::NotFound,
                            format!("{described} holds no index: pass model= (a bi-encoder) to create one"),
                        ));
                    };
                    let mut index_settings = tamis_engine::IndexSettings::new(embedder_id, 0);
                    overrides.apply(&mut index_settings);
                    index_settings.lexical.validate()?;
                    let embedder = load_embedder(&source, &index_settings.embedder_id, embed_runtime)?;
                    index_settings.dimension = embedder.dimension();
                    // Loaded before the index exists, so a bad model leaves nothing behind.
                    let late = match late_id {
                        Some(model_id) => {
                            let model = load_late(&source, &model_id, embed_runtime)?;
                            let dimension = model.dimension();
                            index_settings.late_interaction =
                                Some(LateInteractionSettings { model_id, dimension, storage });
                            Some(Arc::new(model))
                        }
                        None => None,
                    };
                    let index = place.create(index_settings, embedder.normalizes())?;
                    (index, Some(Arc::new(embedder)), late)
                }
            };
            Ok((index, embedder, late, described))
        });
        let (index, embedder, late, location) = opened.map_err(|err| err.raise(py))?;
        Ok(Index {
            index: RwLock::new(index),
            location,
            source,
            embed_runtime,
            rerank_runtime,
            embedder: Mutex::new(embedder),
            late: Mutex::new(late),
            rerankers: Mutex::new(HashMap::new()),
        })
    }

    /// Adds or replaces documents in all-or-nothing batches of `batch_docs` (unchanged
    /// ones are skipped); returns (written, unchanged, chunks).
    #[pyo3(signature = (documents, *, batch_docs=64))]
    fn add(
        &self,
        py: Python<'_>,
        documents: Vec<RawDocument>,
        batch_docs: usize,
    ) -> PyResult<(usize, usize, usize)> {
        if batch_docs == 0 {
            return Err(raise(py, ErrorKind::User, "batch_docs must be at least 1".into()));
        }
        let mut docs = Vec::with_capacity(documents.len());
        for (position, (id, title, text, metadata)) in documents.into_iter().enumerate() {
            let metadata = match metadata {
                Some(json) => Some(serde_json::from_str(&json).map_err(|err| {
                    raise(
                        py,
                        ErrorKind::User,
                        format!("document {position} ({id}): metadata: {err}"),
                    )
                })?),
                None => None,
            };
            docs.push(Document { id, title, text, metadata });
        }
        let report = py.detach(|| -> Result<_, Failure> {
            let embedder = self.embedder()?;
            let late = self.late()?;
            let models = IngestModels {
                late: late.as_deref().map(|model| model as &dyn tamis_core::TokenEmbedder),
                ..IngestModels::new(embedder.as_ref(), embedder.as_ref())
            };
            let mut index = self.write();
            Ok(tamis_engine::ingest(
                &mut index,
                docs.into_iter().map(Ok),
                models,
                IngestConfig { batch_docs },
                &mut tamis_engine::ingest::Silent,
            )?)
        });
        let report = report.map_err(|err| err.raise(py))?;
        Ok((report.written, report.unchanged, report.chunks))
    }

    /// Removes documents by id; returns the chunks removed.
    fn delete(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<usize> {
        let removed = py.detach(|| -> Result<_, Failure> {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut index = self.write();
            let removed = index.delete(&ids)?;
            index.flush()?;
            Ok(removed)
        });
        removed.map_err(|err| err.raise(py))
    }

    /// Removes the documents whose metadata passes `filter`; returns (documents, chunks).
    fn delete_where(&self, py: Python<'_>, filter: &str) -> PyResult<(usize, usize)> {
        let removed = py.detach(|| -> Result<_, Failure> {
            let filter = Filter::parse(filter)?;
            let mut index = self.write();
            let removed = index.delete_matching(&filter)?;
            index.flush()?;
            Ok(removed)
        });
        removed.map_err(|err| err.raise(py))
    }

    /// Stage 1 and the rerank stages: the CLI's `tamis search --json` answer, as JSON text.
    #[pyo3(signature = (query, *, k=10, mode="hybrid", candidates=100, filter=None, rerank=Vec::new(), rerank_candidates=Vec::new(), fusion="rrf", fusion_weights=vec![1.0, 1.0], rrf_k=60.0, fuse_stages=None, deadline_ms=None, min_score=None, raw_scores=false, ef_search=None))]
    #[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn search(
        &self,
        py: Python<'_>,
        query: &str,
        k: usize,
        mode: &str,
        candidates: usize,
        filter: Option<&str>,
        rerank: Vec<String>,
        rerank_candidates: Vec<usize>,
        fusion: &str,
        fusion_weights: Vec<f32>,
        rrf_k: f32,
        fuse_stages: Option<&str>,
        deadline_ms: Option<u64>,
        min_score: Option<f32>,
        raw_scores: bool,
        ef_search: Option<usize>,
    ) -> PyResult<String> {
        let answer = py.detach(|| -> Result<String, Failure> {
            let mode = match mode {
                "bm25" => SearchMode::Bm25,
                "dense" => SearchMode::Dense,
                "hybrid" => SearchMode::Hybrid,
                other => {
                    return Err(Failure::user(format!(
                        "unknown mode {other:?}: use bm25, dense or hybrid"
                    )));
                }
            };
            let windows = match (rerank_candidates.as_slice(), rerank.len()) {
                ([], 0) => Vec::new(),
                ([], 1) => vec![100],
                ([], n) => {
                    return Err(Failure::user(format!(
                        "a cascade of {n} rerankers needs rerank_candidates, one count per reranker"
                    )));
                }
                (given, n) if given.len() != n => {
                    return Err(Failure::user(format!(
                        "{} candidate counts for {n} rerankers: give one per reranker, in order",
                        given.len()
                    )));
                }
                (given, _) => given.to_vec(),
            };
            let stage_fusion = match fuse_stages {
                None => None,
                Some(method) => Some(self::fusion(method, vec![1.0, 1.0], 60.0)?),
            };
            let options = Options {
                k,
                mode,
                candidates,
                filter: filter.map(Filter::parse).transpose()?,
                rerank,
                windows,
                fusion: self::fusion(fusion, fusion_weights, rrf_k)?,
                stage_fusion,
                deadline: deadline_ms.map(Duration::from_millis),
                min_score,
                raw_scores,
                ef_search,
            };
            let response = self.run(query, options)?;
            Ok(response_json(&response).to_string())
        });
        answer.map_err(|err| err.raise(py))
    }

    /// Documents, chunks and the settings the index was created with, as JSON text.
    fn stats(&self, py: Python<'_>) -> PyResult<String> {
        let stats = py.detach(|| -> Result<_, Failure> {
            self.catch_up()?;
            let index = self.read();
            let stats = index.stats()?;
            let settings = index.settings();
            Ok(serde_json::json!({
                "documents": stats.documents,
                "chunks": stats.chunks,
                "embedder": settings.embedder_id,
                "dimension": settings.dimension,
                "late_interaction": settings.late_interaction.as_ref().map(|late| late.model_id.clone()),
            })
            .to_string())
        });
        stats.map_err(|err| err.raise(py))
    }

    /// Where the index is, for messages (no credentials).
    #[getter]
    fn location(&self) -> String {
        self.location.clone()
    }
}

impl Index {
    fn run(&self, query: &str, options: Options) -> Result<PipelineResponse, Failure> {
        self.catch_up()?;
        let embedder = match options.mode {
            SearchMode::Bm25 => None,
            SearchMode::Dense | SearchMode::Hybrid => Some(self.embedder()?),
        };
        let rerankers: Vec<Arc<Loaded>> =
            options.rerank.iter().map(|spec| self.reranker(spec)).collect::<Result<_, _>>()?;
        let mut search = SearchRequest::new(query, options.mode);
        search.depth = options.candidates;
        search.filter = options.filter.as_ref();
        search.fusion = options.fusion;
        search.ef_search = options.ef_search;
        let stages = rerankers
            .iter()
            .zip(&options.rerank)
            .zip(&options.windows)
            .map(|((reranker, name), &candidates)| reranker.stage(name, candidates))
            .collect();
        let stage1_k = options.windows.first().copied().unwrap_or(options.k).max(options.k);
        let mut request = PipelineRequest::new(search, stages);
        request.search.k = stage1_k;
        request.k = options.k;
        request.stage_fusion = options.stage_fusion;
        request.deadline = options.deadline;
        request.min_score = options.min_score;
        request.raw_scores = options.raw_scores;
        let index = self.read();
        let embedder = embedder.as_deref().map(|e| e as &dyn tamis_core::Embedder);
        Ok(index.search_and_rerank(&request, embedder)?)
    }
}

/// A pipeline answer as `tamis search --json` prints it, plus each stage's counts.
fn response_json(response: &PipelineResponse) -> serde_json::Value {
    let results: Vec<serde_json::Value> =
        response.hits.iter().map(|hit| serde_json::json!(hit)).collect();
    let stages: Vec<serde_json::Value> = response
        .stages
        .iter()
        .map(|stage| {
            serde_json::json!({
                "name": stage.name,
                "documents": stage.documents,
                "pairs": stage.pairs,
                "elapsed_ms": stage.elapsed.as_secs_f64() * 1e3,
                "stopped": stage.stopped,
            })
        })
        .collect();
    serde_json::json!({
        "results": results,
        "stages": stages,
        "deadline_exceeded": response.deadline_exceeded,
    })
}
