//! Ingestion: documents cut into chunks, embedded and written in all-or-nothing batches.
//!
//! A batch goes through three steps, so that only the last one needs the index for
//! writing:
//! 1. [`Index::pending`] (reads only): the last version of each id, less the documents
//!    stored unchanged (same content hash), so nothing acknowledged is embedded twice;
//! 2. [`PendingBatch::embed`] (needs no index at all, only its settings): chunking and
//!    one embedding call for every chunk of the batch;
//! 3. [`Index::write_embedded`]: the all-or-nothing write.
//!
//! A server holds its collection's write lock for step 3 only, so searches go on while
//! a long upsert embeds. [`ingest`] streams a whole source through the steps, embedding
//! the next batch on a second thread while the current one is written.

use std::collections::HashSet;
use std::sync::{PoisonError, RwLock, mpsc};

use tamis_core::{Embedder, TextRole, TokenEmbedder, Tokenize, expect_count};

use crate::chunker::chunk_text;
use crate::{Document, NewChunk};
use crate::{Error, Index, IndexSettings, Result};

/// The models an ingest needs.
#[derive(Clone, Copy)]
pub struct IngestModels<'a> {
    /// Embeds chunks.
    pub embedder: &'a dyn Embedder,
    /// Tokenizes documents into chunks (the bi-encoder's own tokenizer).
    pub tokenizer: &'a dyn Tokenize,
    /// Computes each chunk's token vectors where the index stores a late-interaction
    /// model's ([`IndexSettings::late_interaction`]); required there, unused elsewhere.
    pub late: Option<&'a dyn TokenEmbedder>,
}

impl<'a> IngestModels<'a> {
    /// A bi-encoder that also tokenizes, and no late-interaction model.
    pub const fn new(embedder: &'a dyn Embedder, tokenizer: &'a dyn Tokenize) -> Self {
        IngestModels { embedder, tokenizer, late: None }
    }
}

impl std::fmt::Debug for IngestModels<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestModels")
    }
}

/// Counts of one ingest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Documents written (new or changed).
    pub written: usize,
    /// Documents skipped because their content hash was unchanged.
    pub unchanged: usize,
    /// Chunks written.
    pub chunks: usize,
}

impl std::ops::AddAssign for IngestReport {
    fn add_assign(&mut self, other: IngestReport) {
        self.written += other.written;
        self.unchanged += other.unchanged;
        self.chunks += other.chunks;
    }
}

/// The documents of a batch that a write would change, not yet embedded.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    documents: Vec<Document>,
    unchanged: usize,
}

/// A batch cut into chunks and embedded, ready for [`Index::write_embedded`].
#[derive(Debug, Clone)]
pub struct EmbeddedBatch {
    documents: Vec<(Document, Vec<NewChunk>)>,
    unchanged: usize,
}

impl PendingBatch {
    /// Documents to embed and write.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether every document was stored unchanged.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// Cuts every document into chunks as `settings` say and embeds all of the batch's
    /// chunks in one call, so the embedder can fill its passes across documents.
    pub fn embed(
        self,
        settings: &IndexSettings,
        models: IngestModels<'_>,
    ) -> Result<EmbeddedBatch> {
        let mut inputs: Vec<String> = Vec::new();
        let mut texts_per_doc: Vec<Vec<String>> = Vec::with_capacity(self.documents.len());
        for doc in &self.documents {
            let (texts, doc_inputs) = chunk_document(doc, settings, models.tokenizer)?;
            inputs.extend(doc_inputs);
            texts_per_doc.push(texts);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let vectors = if refs.is_empty() {
            Vec::new()
        } else {
            let vectors = models.embedder.embed(&refs, TextRole::Document);
            vectors.and_then(|v| expect_count(v, refs.len())).map_err(Error::Model)?
        };
        if let Some(v) = vectors.iter().find(|v| v.len() != settings.dimension) {
            return Err(Error::DimensionMismatch { expected: settings.dimension, got: v.len() });
        }
        let mut tokens = token_vectors(&refs, settings, models.late)?.into_iter();
        let mut vectors = vectors.into_iter();
        let documents = self
            .documents
            .into_iter()
            .zip(texts_per_doc)
            .map(|(doc, texts)| {
                let chunks = texts
                    .into_iter()
                    .zip(vectors.by_ref())
                    .map(|(text, vector)| NewChunk { text, vector, tokens: tokens.next() })
                    .collect();
                (doc, chunks)
            })
            .collect();
        Ok(EmbeddedBatch { documents, unchanged: self.unchanged })
    }
}

/// The stored token vectors of each input where the index keeps a late-interaction
/// model's; none otherwise.
fn token_vectors(
    inputs: &[&str],
    settings: &IndexSettings,
    late: Option<&dyn TokenEmbedder>,
) -> Result<Vec<Vec<u8>>> {
    let Some(stored) = &settings.late_interaction else {
        return Ok(Vec::new());
    };
    let model =
        late.ok_or_else(|| Error::LateModelRequired { model_id: stored.model_id.clone() })?;
    if model.dimension() != stored.dimension {
        return Err(Error::TokenDimensionMismatch {
            expected: stored.dimension,
            got: model.dimension(),
        });
    }
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let matrices = model
        .embed_tokens(inputs, TextRole::Document)
        .and_then(|m| expect_count(m, inputs.len()))
        .map_err(Error::Model)?;
    matrices
        .iter()
        .map(|matrix| {
            if matrix.dim != stored.dimension {
                return Err(Error::TokenDimensionMismatch {
                    expected: stored.dimension,
                    got: matrix.dim,
                });
            }
            Ok(stored.storage.encode(matrix))
        })
        .collect()
}

/// Token vectors go only into an index that stores them, as whole rows of its dimension,
/// so that no backend holds vectors it cannot read back.
fn check_tokens(settings: &IndexSettings, batch: &[(Document, Vec<NewChunk>)]) -> Result<()> {
    for (doc, chunks) in batch {
        for tokens in chunks.iter().filter_map(|chunk| chunk.tokens.as_deref()) {
            let reason = match &settings.late_interaction {
                None => "token vectors given for an index that stores none".to_string(),
                Some(late)
                    if tokens.len().is_multiple_of(late.storage.row_bytes(late.dimension)) =>
                {
                    continue;
                }
                Some(late) => tamis_core::BadTokenBytes {
                    len: tokens.len(),
                    storage: late.storage,
                    dim: late.dimension,
                }
                .to_string(),
            };
            return Err(Error::BadInput { location: format!("document {}", doc.id), reason });
        }
    }
    Ok(())
}

/// What an ingest embeds for `doc`: its chunks, each with the title prepended when the
/// settings say so (for benchmarks that time the embedding of exactly these texts).
pub fn embedding_inputs(
    doc: &Document,
    settings: &IndexSettings,
    tokenizer: &dyn Tokenize,
) -> Result<Vec<String>> {
    Ok(chunk_document(doc, settings, tokenizer)?.1)
}

/// A document's chunk texts and what is embedded for each (the title prepended when the
/// settings say so).
fn chunk_document(
    doc: &Document,
    settings: &IndexSettings,
    tokenizer: &dyn Tokenize,
) -> Result<(Vec<String>, Vec<String>)> {
    let chunking = &settings.chunking;
    let title = doc.title.trim();
    let title_tokens = if chunking.prepend_title && !title.is_empty() {
        tokenizer.token_offsets(title).map_err(Error::Model)?.len()
    } else {
        0
    };
    let texts = chunk_text(&doc.text, title_tokens, chunking, tokenizer)?;
    let inputs = texts
        .iter()
        .map(|t| if title_tokens > 0 { format!("{title} {t}") } else { t.clone() })
        .collect();
    Ok((texts, inputs))
}

impl Index {
    /// The documents of `docs` that a write would change: the last version of each id
    /// (a batch naming a document twice keeps its last version, in every backend), less
    /// those stored with the same content hash. Only reads the index.
    pub fn pending(&self, docs: Vec<Document>) -> Result<PendingBatch> {
        let mut seen = HashSet::new();
        let mut docs: Vec<Document> =
            docs.into_iter().rev().filter(|d| seen.insert(d.id.clone())).collect();
        docs.reverse();
        let hashes: Vec<String> = docs.iter().map(Document::content_hash).collect();
        let pairs: Vec<(&str, &str)> =
            docs.iter().zip(&hashes).map(|(d, h)| (d.id.as_str(), h.as_str())).collect();
        let unchanged = self.backend().unchanged(&pairs)?;
        let n_unchanged = unchanged.len();
        let documents = docs.into_iter().filter(|d| !unchanged.contains(&d.id)).collect();
        Ok(PendingBatch { documents, unchanged: n_unchanged })
    }

    /// Writes an embedded batch, all-or-nothing.
    pub fn write_embedded(&mut self, batch: EmbeddedBatch) -> Result<IngestReport> {
        let report = IngestReport {
            written: batch.documents.len(),
            unchanged: batch.unchanged,
            chunks: batch.documents.iter().map(|(_, chunks)| chunks.len()).sum(),
        };
        if !batch.documents.is_empty() {
            check_tokens(self.settings(), &batch.documents)?;
            self.backend_mut().write_batch(&batch.documents)?;
        }
        Ok(report)
    }

    /// Adds or replaces `docs` as one all-or-nothing batch: [`Index::pending`],
    /// [`PendingBatch::embed`] and [`Index::write_embedded`] in a row. Unchanged
    /// documents (same content hash) are skipped, so re-running an interrupted ingest
    /// redoes nothing that was acknowledged, and nothing is embedded twice.
    pub fn ingest_batch(
        &mut self,
        docs: &[Document],
        models: IngestModels<'_>,
    ) -> Result<IngestReport> {
        let pending = self.pending(docs.to_vec())?;
        let embedded = pending.embed(self.settings(), models)?;
        self.write_embedded(embedded)
    }
}

/// How [`ingest`] cuts its source into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestConfig {
    /// Documents per all-or-nothing batch (at least 1).
    pub batch_docs: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { batch_docs: 64 }
    }
}

/// What [`ingest`] tells its caller as it goes.
pub trait IngestProgress {
    /// A batch is durable: `ids` are its documents (written or found unchanged), in input
    /// order; `report` counts this batch alone.
    fn batch_written(&mut self, ids: &[String], report: &IngestReport) -> Result<()>;
}

/// An [`IngestProgress`] that wants to hear nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl IngestProgress for Silent {
    fn batch_written(&mut self, _ids: &[String], _report: &IngestReport) -> Result<()> {
        Ok(())
    }
}

/// Streams `documents` into `index` in all-or-nothing batches of `config.batch_docs`,
/// then [`Index::flush`]es it. The next batch is chunked and embedded on a second thread
/// while the current one is written, so the BM25 and vector updates overlap embedding.
///
/// A document that fails to read stops the ingest with its error; the batches written
/// before it stay (each was reported to `progress` as durable).
pub fn ingest<I>(
    index: &mut Index,
    documents: I,
    models: IngestModels<'_>,
    config: IngestConfig,
    progress: &mut dyn IngestProgress,
) -> Result<IngestReport>
where
    I: Iterator<Item = Result<Document>>,
{
    let settings = index.settings().clone();
    let totals = pipeline(&mut Exclusive(index), &settings, documents, models, config, progress)?;
    index.flush()?;
    Ok(totals)
}

/// [`ingest`] into an index that searches share: each batch is checked for unchanged
/// documents under the read lock, embedded under no lock, and written under the write
/// lock, so searches (read lock) answer between batches however long the embedding takes.
/// A poisoned lock is used as it is: every write is all-or-nothing, so the index is whole.
pub fn ingest_shared<I>(
    index: &RwLock<Index>,
    documents: I,
    models: IngestModels<'_>,
    config: IngestConfig,
    progress: &mut dyn IngestProgress,
) -> Result<IngestReport>
where
    I: Iterator<Item = Result<Document>>,
{
    let settings = index.read().unwrap_or_else(PoisonError::into_inner).settings().clone();
    let totals = pipeline(&mut Shared(index), &settings, documents, models, config, progress)?;
    index.write().unwrap_or_else(PoisonError::into_inner).flush()?;
    Ok(totals)
}

/// The two index accesses a batch needs, whoever holds the index.
trait Target {
    fn pending(&mut self, docs: Vec<Document>) -> Result<PendingBatch>;
    fn write(&mut self, batch: EmbeddedBatch) -> Result<IngestReport>;
}

/// An index this ingest has to itself.
struct Exclusive<'a>(&'a mut Index);

impl Target for Exclusive<'_> {
    fn pending(&mut self, docs: Vec<Document>) -> Result<PendingBatch> {
        self.0.pending(docs)
    }

    fn write(&mut self, batch: EmbeddedBatch) -> Result<IngestReport> {
        self.0.write_embedded(batch)
    }
}

/// An index shared with searches, each lock held for one step.
struct Shared<'a>(&'a RwLock<Index>);

impl Target for Shared<'_> {
    fn pending(&mut self, docs: Vec<Document>) -> Result<PendingBatch> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).pending(docs)
    }

    fn write(&mut self, batch: EmbeddedBatch) -> Result<IngestReport> {
        self.0.write().unwrap_or_else(PoisonError::into_inner).write_embedded(batch)
    }
}

/// Batches `documents`, embeds each on a second thread while this one checks the next and
/// writes the last.
fn pipeline<I>(
    target: &mut dyn Target,
    settings: &IndexSettings,
    documents: I,
    models: IngestModels<'_>,
    config: IngestConfig,
    progress: &mut dyn IngestProgress,
) -> Result<IngestReport>
where
    I: Iterator<Item = Result<Document>>,
{
    let batch_docs = config.batch_docs.max(1);
    let mut totals = IngestReport::default();
    std::thread::scope(|scope| -> Result<()> {
        // One batch embedding while one is written; the bound keeps memory to two batches.
        let (to_embed, embed_queue) = mpsc::sync_channel::<(Vec<String>, PendingBatch)>(1);
        let (embedded_tx, embedded) = mpsc::sync_channel::<Result<(Vec<String>, EmbeddedBatch)>>(1);
        scope.spawn(move || {
            for (ids, pending) in embed_queue {
                let result = pending.embed(settings, models).map(|batch| (ids, batch));
                if embedded_tx.send(result).is_err() {
                    break;
                }
            }
        });
        let mut documents = documents.fuse();
        let mut in_flight = 0;
        loop {
            let batch: Vec<Document> =
                documents.by_ref().take(batch_docs).collect::<Result<_>>()?;
            if !batch.is_empty() {
                let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
                let pending = target.pending(batch)?;
                to_embed.send((ids, pending)).map_err(|_| embed_thread_gone())?;
                in_flight += 1;
                // Keep one batch embedding while the previous one is written.
                if in_flight < 2 {
                    continue;
                }
            } else if in_flight == 0 {
                return Ok(());
            }
            let (ids, batch) = embedded.recv().map_err(|_| embed_thread_gone())??;
            in_flight -= 1;
            let report = target.write(batch)?;
            totals += report;
            progress.batch_written(&ids, &report)?;
        }
    })?;
    Ok(totals)
}

fn embed_thread_gone() -> Error {
    Error::Model(tamis_core::Error::Model {
        kind: tamis_core::ErrorKind::Internal,
        source: "the embedding thread stopped: this is a bug".into(),
    })
}
