//! `tamis index`: build or update an index (a directory, or a PostgreSQL collection).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use tamis_engine::chunker::ChunkMode;
use tamis_engine::filter::Filter;
use tamis_engine::{
    Bm25Params, DocumentSource, Index, IndexSettings, IngestConfig, IngestModels, IngestProgress,
    IngestReport, LateInteractionSettings, SettingsOverrides, TokenStorage,
};
use tamis_models::LateInteractionModel;
use tamis_postgres::PgOptions;

use crate::exit::Failure;
use crate::filter_args::FilterLimitArgs;
use crate::jsonl::progress;
use crate::location::{IndexLocation, LocationArgs};
use crate::model_args::{EngineModelArgs, configure_threads};

/// Build or update an index: documents in, chunks embedded and indexed for BM25 and vectors.
///
/// By default the index is one directory. Its source of truth is a SQLite file (documents,
/// chunks, metadata, vectors); the BM25 (tantivy) and vector indexes are derived from it
/// and caught up automatically when reopened. Given a postgres:// URL and --collection,
/// the index is a collection in PostgreSQL with pgvector instead (tables created by
/// tamis: an HNSW index, and BM25 postings ranked as the embedded index ranks). Each
/// batch of documents is written all-or-nothing; re-running an interrupted ingest skips
/// documents already stored unchanged (by content hash), so nothing acknowledged is
/// embedded twice.
///
/// Inputs: a BEIR corpus.jsonl ({"_id", "title", "text", "metadata"}), generic JSON Lines
/// ({"id", "text", optional "title" and "metadata" object}), or a directory of .txt/.md
/// files (id = relative path). A document with an id already indexed is replaced.
///
/// Example:
///   tamis index ./nfcorpus-index --input corpus.jsonl --model sentence-transformers/all-MiniLM-L6-v2
///   tamis index postgres://tamis@db:5432/search --collection nfcorpus --input corpus.jsonl \
///     --model sentence-transformers/all-MiniLM-L6-v2
///   tamis index postgres://tamis@db:5432/search --collection nfcorpus --rebuild-lexical
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct IndexArgs {
    /// Where the index is created or updated.
    #[command(flatten)]
    location: LocationArgs,

    /// In PostgreSQL, store vectors as halfvec (16-bit floats): half the space, scores
    /// within about 1e-3 (fixed when the collection is created).
    #[arg(long)]
    halfvec: bool,

    /// Documents to add or replace.
    #[arg(long, short = 'i', value_name = "PATH", required_unless_present_any = ["delete", "delete_where", "rebuild_lexical"])]
    input: Option<PathBuf>,

    /// Delete these document ids instead of adding.
    #[arg(long, num_args = 1.., value_name = "ID", conflicts_with = "input")]
    delete: Vec<String>,

    /// Delete every document whose metadata matches this filter (same syntax as
    /// `tamis search --filter`, e.g. 'year < 2000').
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["input", "delete"])]
    delete_where: Option<String>,

    /// Give a PostgreSQL collection made before tamis ranked its text with BM25 (`tamis
    /// info` shows "lexical_scoring": "ts_rank") its BM25 postings, built from the stored
    /// chunks in one transaction: searches go on meanwhile, writes wait, and other nodes
    /// switch to BM25 when it commits. Nothing is re-embedded. A collection already
    /// ranked by BM25 but made before tamis kept a write sequence in PostgreSQL gets one
    /// (`tamis info` shows a "cache_note"): without it, its searches skip the result cache
    /// of `tamis serve`. A current collection is left as it is.
    #[arg(long, conflicts_with_all = ["input", "delete", "delete_where"])]
    rebuild_lexical: bool,

    /// Bounds on `--delete-where`, as on `tamis search --filter`.
    #[command(flatten)]
    filter_limits: FilterLimitArgs,

    #[command(flatten)]
    model: EngineModelArgs,

    #[command(flatten)]
    late: LateArgs,

    #[command(flatten)]
    creation: CreationArgs,

    /// Documents per all-or-nothing batch.
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch_docs: usize,

    /// Print one JSON line per durable batch on standard output, `{"committed": [ids…]}`,
    /// once the batch survives a crash (for scripts that resume or audit an ingest).
    #[arg(long)]
    ack_batches: bool,
}

/// The late-interaction model an index stores token vectors of, chosen at creation.
#[derive(Debug, Default, Args)]
pub struct LateArgs {
    /// A late-interaction (ColBERT) model (directory or hub id) whose token vectors each
    /// chunk stores beside its embedding, so that `--rerank MODEL` scores candidates by
    /// MaxSim without encoding them. Fixed when the index is created; later runs compute
    /// the vectors with it by themselves.
    #[arg(long, value_name = "DIR|ID")]
    pub late_interaction: Option<String>,

    /// How --late-interaction token vectors are stored: `f16` (2 bytes per value) or
    /// `int8` (1 byte per value and 4 per vector: about half the space, MaxSim within
    /// about 1 % of f16's) [default: f16].
    #[arg(long, value_enum, value_name = "HOW", requires = "late_interaction")]
    token_storage: Option<TokenStorageArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TokenStorageArg {
    F16,
    Int8,
}

impl LateArgs {
    /// Loads the --late-interaction model, with the settings a new index records for it.
    pub fn load(
        &self,
        model: &EngineModelArgs,
    ) -> anyhow::Result<Option<(LateInteractionModel, LateInteractionSettings)>> {
        let Some(spec) = &self.late_interaction else {
            return Ok(None);
        };
        let model_id = model.embedder_id(spec);
        let late = model.load_late(&model_id)?;
        let storage = match self.token_storage {
            Some(TokenStorageArg::Int8) => TokenStorage::Int8,
            Some(TokenStorageArg::F16) | None => TokenStorage::F16,
        };
        let dimension = late.dimension();
        Ok(Some((late, LateInteractionSettings { model_id, dimension, storage })))
    }

    /// The model an existing index stores token vectors of, loaded to compute them for
    /// new chunks; fails when --late-interaction names another one, or when the index
    /// stores none.
    pub fn load_for(
        &self,
        index: &Index,
        model: &EngineModelArgs,
    ) -> anyhow::Result<Option<LateInteractionModel>> {
        let requested = self.late_interaction.as_ref().map(|spec| model.embedder_id(spec));
        index.check_late_model(requested.as_deref())?;
        Ok(match &index.settings().late_interaction {
            Some(stored) => Some(model.load_late(&stored.model_id)?),
            None => None,
        })
    }
}

/// Streams `input` into `index` through the engine's ingest (batches of `batch_docs`, the
/// next one embedded while the last is written) with a progress bar of `n_docs`; with
/// `ack`, prints each durable batch's ids on standard output.
pub fn ingest(
    index: &mut Index,
    input: &Path,
    n_docs: usize,
    models: IngestModels<'_>,
    batch_docs: usize,
    ack: bool,
) -> anyhow::Result<IngestReport> {
    let source = DocumentSource::open(input)?;
    let mut progress = BatchProgress { bar: progress(n_docs, "docs"), ack };
    let config = IngestConfig { batch_docs };
    let totals = tamis_engine::ingest(index, source, models, config, &mut progress)?;
    progress.bar.finish_and_clear();
    Ok(totals)
}

/// The progress bar, and the acknowledgements `--ack-batches` asks for.
struct BatchProgress {
    bar: indicatif::ProgressBar,
    ack: bool,
}

impl IngestProgress for BatchProgress {
    fn batch_written(
        &mut self,
        ids: &[String],
        _report: &IngestReport,
    ) -> tamis_engine::Result<()> {
        if self.ack {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", serde_json::json!({ "committed": ids }))
                .and_then(|()| stdout.flush())
                .map_err(tamis_engine::Error::Io)?;
        }
        self.bar.inc(ids.len() as u64);
        Ok(())
    }
}

/// Settings fixed when an index is created.
#[derive(Debug, Args)]
pub struct CreationArgs {
    /// How long documents become chunks: `windows` cuts them into overlapping token
    /// windows and ranks a document by its best chunk; `whole` keeps one chunk per
    /// document, embedded as the model truncates it (sentence-transformers' behaviour),
    /// with BM25 over all of it.
    #[arg(long, value_enum, value_name = "MODE")]
    chunking: Option<ChunkModeArg>,

    /// Most tokens per chunk window [default: what the bi-encoder takes, less the title].
    #[arg(long, value_name = "N")]
    chunk_tokens: Option<usize>,

    /// Tokens shared by consecutive windows of a long document [default: 32].
    #[arg(long, value_name = "N")]
    overlap: Option<usize>,

    /// Do not prepend the title to each chunk before embedding.
    #[arg(long)]
    no_title: bool,

    /// BM25 without English stemming.
    #[arg(long)]
    no_stemming: bool,

    /// BM25 keeping English stop words.
    #[arg(long)]
    no_stopwords: bool,

    /// BM25 term-frequency saturation k1, at least 0: higher lets repeated terms count for
    /// more [default: 1.2]. `tamis eval` takes a comma list and sweeps every combination
    /// of the three BM25 flags on one index.
    #[arg(long, value_name = "K1", value_delimiter = ',', allow_negative_numbers = true)]
    bm25_k1: Vec<f32>,

    /// BM25 length normalization b, 0 to 1: 0 ignores a field's length, 1 normalizes it
    /// fully [default: 0.75]. A comma list in `tamis eval`.
    #[arg(long, value_name = "B", value_delimiter = ',', allow_negative_numbers = true)]
    bm25_b: Vec<f32>,

    /// BM25 weight of the title field against the text's 1, above 0 (Elasticsearch's
    /// `title^2` is 2) [default: 1]. A comma list in `tamis eval`.
    #[arg(long, value_name = "W", value_delimiter = ',', allow_negative_numbers = true)]
    title_weight: Vec<f32>,

    /// Below this many chunks vectors are searched exactly; above, an HNSW graph is built
    /// [default: 20000].
    #[arg(long, value_name = "N")]
    exact_below: Option<usize>,

    /// HNSW `M`, links per node: more raise recall, memory and build time [default: 16].
    #[arg(long, value_name = "N")]
    hnsw_m: Option<usize>,

    /// HNSW `ef_construction`, candidates per insertion: a better graph, built more slowly
    /// [default: 128].
    #[arg(long, value_name = "N")]
    hnsw_ef_construction: Option<usize>,

    /// HNSW `ef` at search time (`hnsw.ef_search` in PostgreSQL), at least the candidates
    /// asked for: the recall/latency trade-off [default: 64].
    #[arg(long, value_name = "N")]
    hnsw_ef_search: Option<usize>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ChunkModeArg {
    Windows,
    Whole,
}

impl CreationArgs {
    /// The settings these flags change; none given changes nothing. Fails when a BM25 flag
    /// has several values (only `tamis eval` sweeps them: see [`CreationArgs::bm25_grid`]).
    pub fn overrides(&self) -> anyhow::Result<SettingsOverrides> {
        let single = |values: &[f32], flag: &str| match values {
            [] => Ok(None),
            [value] => Ok(Some(*value)),
            _ => anyhow::bail!(
                "--{flag} takes one value when an index is created; `tamis eval` sweeps \
                 several on one index"
            ),
        };
        Ok(SettingsOverrides {
            bm25_k1: single(&self.bm25_k1, "bm25-k1")?,
            bm25_b: single(&self.bm25_b, "bm25-b")?,
            title_weight: single(&self.title_weight, "title-weight")?,
            ..self.overrides_but_bm25()
        })
    }

    /// Every flag but the BM25 parameters.
    fn overrides_but_bm25(&self) -> SettingsOverrides {
        SettingsOverrides {
            chunking: self.chunking.map(|mode| match mode {
                ChunkModeArg::Windows => ChunkMode::Windows,
                ChunkModeArg::Whole => ChunkMode::Whole,
            }),
            chunk_tokens: self.chunk_tokens,
            overlap: self.overlap,
            prepend_title: self.no_title.then_some(false),
            stemming: self.no_stemming.then_some(false),
            stopwords: self.no_stopwords.then_some(false),
            exact_below: self.exact_below,
            hnsw_m: self.hnsw_m,
            hnsw_ef_construction: self.hnsw_ef_construction,
            hnsw_ef_search: self.hnsw_ef_search,
            bm25_k1: None,
            bm25_b: None,
            title_weight: None,
        }
    }

    fn any(&self) -> bool {
        !self.overrides_but_bm25().is_empty() || self.any_bm25()
    }

    /// Whether a BM25 parameter flag was given.
    pub fn any_bm25(&self) -> bool {
        !(self.bm25_k1.is_empty() && self.bm25_b.is_empty() && self.title_weight.is_empty())
    }

    /// Sets the flags given in `settings`; fails on a BM25 flag with several values.
    pub fn apply(&self, settings: &mut IndexSettings) -> anyhow::Result<()> {
        self.overrides()?.apply(settings);
        Ok(())
    }

    /// Sets every flag but the BM25 parameters, which [`CreationArgs::bm25_grid`] gives.
    pub fn apply_but_bm25(&self, settings: &mut IndexSettings) {
        self.overrides_but_bm25().apply(settings);
    }

    /// Every combination of the BM25 flags' values (`base`'s where a flag is not given),
    /// k1 slowest, each checked: what `tamis eval` runs.
    pub fn bm25_grid(&self, base: Bm25Params) -> anyhow::Result<Vec<Bm25Params>> {
        let or_base = |values: &[f32], base: f32| {
            if values.is_empty() { vec![base] } else { values.to_vec() }
        };
        let mut grid = Vec::new();
        for &k1 in &or_base(&self.bm25_k1, base.k1) {
            for &b in &or_base(&self.bm25_b, base.b) {
                for &title_weight in &or_base(&self.title_weight, base.title_weight) {
                    let params = Bm25Params { k1, b, title_weight };
                    params.validate()?;
                    grid.push(params);
                }
            }
        }
        Ok(grid)
    }
}

/// Creates the index, or, when another process created it since `exists` was checked,
/// opens it as a second writer would have: two `tamis index` runs started together on a
/// new location both succeed (or one is told the index is busy), as they would one after
/// the other.
fn create_or_join(
    store: &IndexLocation,
    settings: IndexSettings,
    options: PgOptions,
) -> anyhow::Result<Index> {
    let err = match store.create(settings.clone(), options) {
        Ok(index) => return Ok(index),
        Err(err) => err,
    };
    let lost_race = matches!(
        err.downcast_ref::<tamis_engine::Error>(),
        Some(
            tamis_engine::Error::IndexExists { .. } | tamis_engine::Error::CollectionExists { .. }
        )
    );
    if !lost_race {
        return Err(err);
    }
    let index = store.open()?;
    anyhow::ensure!(
        index.settings() == &settings,
        "{} was created by another process meanwhile, with other settings; index into it without creation flags, or build a new one",
        store.describe()
    );
    Ok(index)
}

/// `--rebuild-lexical`: a PostgreSQL collection's postings built from its chunks.
fn rebuild_lexical(store: &IndexLocation) -> anyhow::Result<()> {
    let IndexLocation::Postgres { catalog, collection } = store else {
        anyhow::bail!(
            "--rebuild-lexical builds BM25 postings for a PostgreSQL collection made before \
             tamis ranked PostgreSQL text with BM25; {} is an embedded index, which has \
             always ranked with BM25",
            store.describe()
        );
    };
    let bar = progress(0, "chunks");
    let started = std::time::Instant::now();
    let done = catalog.rebuild_lexical(collection, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if done.from_version == done.to_version {
        eprintln!("{} already ranks text with BM25: nothing to rebuild", store.describe());
    } else if !done.built_postings {
        eprintln!(
            "{} already ranked text with BM25; schema version {} -> {} (the write sequence \
             result caches key their answers by)",
            store.describe(),
            done.from_version,
            done.to_version
        );
    } else {
        eprintln!(
            "{}: BM25 postings built for {} chunk(s) ({} postings) in {:.1} s; schema version {} -> {}",
            store.describe(),
            done.chunks,
            done.postings,
            started.elapsed().as_secs_f64(),
            done.from_version,
            done.to_version
        );
    }
    Ok(())
}

pub fn run(args: &IndexArgs) -> anyhow::Result<()> {
    configure_threads(args.model.source.threads);
    anyhow::ensure!(args.batch_docs > 0, "--batch-docs must be at least 1");
    let store = args.location.resolve()?;
    anyhow::ensure!(
        !(args.halfvec && matches!(store, IndexLocation::Dir(_))),
        "--halfvec is a PostgreSQL storage option; the embedded index keeps 32-bit vectors"
    );
    if args.rebuild_lexical {
        anyhow::ensure!(
            !args.creation.any() && !args.halfvec,
            "--rebuild-lexical builds postings with the collection's recorded settings; \
             settings flags apply when an index is created (`tamis search` takes BM25 \
             parameters per query)"
        );
        return rebuild_lexical(&store);
    }
    let exists = store.exists()?;
    if !args.delete.is_empty() {
        if !exists {
            return Err(Failure::not_found(format!(
                "{} holds no index to delete from",
                store.describe()
            )));
        }
        let mut index = store.open()?;
        let ids: Vec<&str> = args.delete.iter().map(String::as_str).collect();
        let removed = index.delete(&ids)?;
        index.flush()?;
        eprintln!("deleted {} chunk(s) of {} id(s)", removed, ids.len());
        return Ok(());
    }
    if let Some(expression) = &args.delete_where {
        if !exists {
            return Err(Failure::not_found(format!(
                "{} holds no index to delete from",
                store.describe()
            )));
        }
        let limits = args.filter_limits.limits();
        limits.validate()?;
        let filter = Filter::parse_with(expression, &limits)?;
        let mut index = store.open()?;
        let (documents, chunks) = index.delete_matching(&filter)?;
        index.flush()?;
        eprintln!("deleted {documents} document(s) ({chunks} chunk(s)) matching the filter");
        return Ok(());
    }
    let input = args.input.as_ref().context("--input is required")?;
    // Bad input stops the command before any model work.
    let n_docs = DocumentSource::check(input)?;
    let (mut index, embedder, late) = if exists {
        anyhow::ensure!(
            !args.creation.any() && !args.halfvec && args.late.token_storage.is_none(),
            "{} already holds an index, and chunking and search settings are fixed when an index is created; build a new one to change them",
            store.describe()
        );
        let index = store.open()?;
        if let Some(spec) = &args.model.model {
            index.check_embedder(&args.model.embedder_id(spec))?;
        }
        let late = args.late.load_for(&index, &args.model)?;
        let embedder = args.model.load_embedder(&index.settings().embedder_id)?;
        (index, embedder, late)
    } else {
        let spec = args
            .model
            .model
            .as_deref()
            .context("a new index needs --model (the bi-encoder to embed with)")?;
        let embedder_id = args.model.embedder_id(spec);
        // Flags out of range stop the command before the model loads.
        let mut settings = IndexSettings::new(embedder_id, 0);
        args.creation.apply(&mut settings)?;
        settings.lexical.validate()?;
        let embedder = args.model.load_embedder(&settings.embedder_id)?;
        settings.dimension = embedder.dimension();
        let late = args.late.load(&args.model)?.map(|(model, late_settings)| {
            settings.late_interaction = Some(late_settings);
            model
        });
        // Unit-length embeddings let pgvector use inner product, cheaper than cosine.
        let options = PgOptions { halfvec: args.halfvec, normalized: embedder.normalizes() };
        (create_or_join(&store, settings, options)?, embedder, late)
    };
    let models = IngestModels {
        late: late.as_ref().map(|model| model as &dyn tamis_core::TokenEmbedder),
        ..IngestModels::new(&embedder, &embedder)
    };
    let totals = ingest(&mut index, input, n_docs, models, args.batch_docs, args.ack_batches)?;
    let stats = index.stats()?;
    eprintln!(
        "indexed {} document(s) ({} chunk(s)), {} unchanged; the index holds {} document(s), {} chunk(s)",
        totals.written, totals.chunks, totals.unchanged, stats.documents, stats.chunks
    );
    if let Some(tokens) = stats.token_vectors {
        eprintln!(
            "token vectors: {} of {} chunk(s), {} vector(s), {:.1} MiB ({} bytes per chunk)",
            tokens.chunks,
            stats.chunks,
            tokens.vectors,
            tokens.bytes as f64 / (1024.0 * 1024.0),
            tokens.bytes.checked_div(tokens.chunks).unwrap_or(0)
        );
    }
    Ok(())
}
