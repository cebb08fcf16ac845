//! The capabilities the engine needs from models.

use crate::{PairScore, Result, ScoreContract, TokenMatrix, TokenStorage};

/// Whether a text is a query or a document: asymmetric models (e5, bge) embed them
/// with different prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextRole {
    /// A search query.
    Query,
    /// A passage of the corpus.
    Document,
}

/// Turns texts into fixed-size vectors (stage 1).
pub trait Embedder: Send + Sync {
    /// Length of every vector this embedder returns.
    fn dimension(&self) -> usize;

    /// Embeds `texts`, returning one vector per text in input order.
    fn embed(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>>;

    /// What the model reads of `query` as a query: two queries with equal keys get equal
    /// vectors (their token ids, prompt and truncation included, usually). `None` when
    /// the model cannot say; a result cache then keys on the query text itself.
    fn query_key(&self, query: &str) -> Result<Option<Vec<u32>>> {
        let _ = query;
        Ok(None)
    }
}

/// Scores (query, passage) pairs jointly (stage 2).
pub trait Reranker: Send + Sync {
    /// What the scores returned by [`Reranker::score`] mean.
    fn score_contract(&self) -> ScoreContract;

    /// Scores each passage against `query`, returning one score per passage in input order.
    fn score(&self, query: &str, passages: &[&str]) -> Result<Vec<PairScore>>;

    /// What the model reads of `query`: two queries with equal keys get equal scores
    /// against every passage (the query's token ids, usually). `None` when the model
    /// cannot say; a result cache then keys on the query text itself.
    fn query_key(&self, query: &str) -> Result<Option<Vec<u32>>> {
        let _ = query;
        Ok(None)
    }
}

/// Turns texts into a vector per token, scored by MaxSim (late interaction, ColBERT):
/// documents' vectors can be computed once at index time, so scoring a candidate costs
/// one query encoding and a few small products, not a model pass per pair.
pub trait TokenEmbedder: Send + Sync {
    /// Width of every token vector.
    fn dimension(&self) -> usize;

    /// Each text's token vectors (unit rows), in input order.
    fn embed_tokens(&self, texts: &[&str], role: TextRole) -> Result<Vec<TokenMatrix>>;

    /// MaxSim of `query` against each document, whose rows lie end to end in
    /// `documents` (`rows[d]` of them for document `d`): for every query row its best
    /// dot product with one of the document's rows, summed; 0 for a document without
    /// rows. One score per document, in order.
    fn max_sim(&self, query: &TokenMatrix, documents: &[f32], rows: &[usize]) -> Result<Vec<f32>>;

    /// [`TokenEmbedder::max_sim`] against documents in their stored form (`storage`, this
    /// model's width), one byte slice per document. The default decodes them all into one
    /// buffer first; a model may decode as it scores.
    fn max_sim_stored(
        &self,
        query: &TokenMatrix,
        storage: TokenStorage,
        documents: &[&[u8]],
    ) -> Result<Vec<f32>> {
        let mut decoded = Vec::new();
        let mut rows = Vec::with_capacity(documents.len());
        for bytes in documents {
            let n = storage.decode_into(bytes, self.dimension(), &mut decoded).map_err(|err| {
                crate::Error::Model { kind: crate::ErrorKind::Internal, source: Box::new(err) }
            })?;
            rows.push(n);
        }
        self.max_sim(query, &decoded, &rows)
    }

    /// What the model reads of `query` (see [`Embedder::query_key`]).
    fn query_key(&self, query: &str) -> Result<Option<Vec<u32>>> {
        let _ = query;
        Ok(None)
    }
}

/// Splits text into the tokens of a model's tokenizer, so text can be chunked by tokens.
pub trait Tokenize: Send + Sync {
    /// Byte ranges of `text`'s tokens, in order, without special tokens.
    fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>>;

    /// The most tokens one input may have, special tokens included.
    fn max_tokens(&self) -> usize;
}

// Shared models: a server hands one loaded model to many users through an `Arc`.
impl<T: Embedder + ?Sized> Embedder for std::sync::Arc<T> {
    fn dimension(&self) -> usize {
        (**self).dimension()
    }

    fn embed(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts, role)
    }

    fn query_key(&self, query: &str) -> Result<Option<Vec<u32>>> {
        (**self).query_key(query)
    }
}

impl<T: Reranker + ?Sized> Reranker for std::sync::Arc<T> {
    fn score_contract(&self) -> ScoreContract {
        (**self).score_contract()
    }

    fn score(&self, query: &str, passages: &[&str]) -> Result<Vec<PairScore>> {
        (**self).score(query, passages)
    }

    fn query_key(&self, query: &str) -> Result<Option<Vec<u32>>> {
        (**self).query_key(query)
    }
}

impl<T: TokenEmbedder + ?Sized> TokenEmbedder for std::sync::Arc<T> {
    fn dimension(&self) -> usize {
        (**self).dimension()
    }

    fn embed_tokens(&self, texts: &[&str], role: TextRole) -> Result<Vec<TokenMatrix>> {
        (**self).embed_tokens(texts, role)
    }

    fn max_sim(&self, query: &TokenMatrix, documents: &[f32], rows: &[usize]) -> Result<Vec<f32>> {
        (**self).max_sim(query, documents, rows)
    }

    fn max_sim_stored(
        &self,
        query: &TokenMatrix,
        storage: TokenStorage,
        documents: &[&[u8]],
    ) -> Result<Vec<f32>> {
        (**self).max_sim_stored(query, storage, documents)
    }

    fn query_key(&self, query: &str) -> Result<Option<Vec<u32>>> {
        (**self).query_key(query)
    }
}

impl<T: Tokenize + ?Sized> Tokenize for std::sync::Arc<T> {
    fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        (**self).token_offsets(text)
    }

    fn max_tokens(&self) -> usize {
        (**self).max_tokens()
    }
}
