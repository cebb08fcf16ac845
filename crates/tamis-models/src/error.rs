//! Errors of the model runtime.

use std::path::PathBuf;

pub use tamis_core::ErrorKind;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A local model directory named by the user does not exist.
    #[error("model directory {} does not exist", path.display())]
    ModelDirNotFound {
        /// The path that was given.
        path: PathBuf,
    },
    /// The model name is neither an existing directory nor a valid hub id.
    #[error(
        "'{name}' is neither an existing directory nor a hub id of the form 'org/name' or 'name'"
    )]
    InvalidModelName {
        /// The name that was given.
        name: String,
    },
    /// A hub model is not in the local cache and could not be downloaded.
    #[error(
        "model '{repo}' (revision {revision}) is not in the Hugging Face cache and could not be downloaded: looked for {} in {}; {reason}; download it where the hub is reachable (e.g. `hf download {repo}`) or pass a local directory",
        files.join(", "), cache_dir.display()
    )]
    HubUnavailable {
        /// The hub repository id.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The cache directory searched.
        cache_dir: PathBuf,
        /// The files that were looked for.
        files: Vec<String>,
        /// Why the download did not happen (offline mode or the network error).
        reason: String,
    },
    /// A file the model needs is missing from its directory.
    #[error("{} is missing: {hint}", path.display())]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// What the file is for and how to get it.
        hint: &'static str,
    },
    /// Only PyTorch pickles were found, which tamis does not load.
    #[error(
        "{} holds only pytorch_model.bin, which tamis does not load (pickles can run code): convert it to model.safetensors, e.g. with the `safetensors` convert script or `model.save_pretrained(dir, safe_serialization=True)`",
        dir.display()
    )]
    PickleWeights {
        /// The model directory.
        dir: PathBuf,
    },
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A JSON configuration file could not be parsed.
    #[error("cannot parse {}: {source}", path.display())]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A configuration value is invalid or inconsistent.
    #[error("{}: {message}", path.display())]
    BadConfig {
        /// The file holding the value.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model's architecture is not one tamis runs.
    #[error(
        "unsupported architecture '{architecture}' in {}: tamis runs BERT (BertModel, BertForSequenceClassification), XLM-RoBERTa/RoBERTa (XLMRobertaModel, XLMRobertaForSequenceClassification), ModernBERT (ModernBertModel, ModernBertForSequenceClassification) and DeBERTa-v2/v3 (DebertaV2Model, DebertaV2ForSequenceClassification), as LLM rerankers Qwen3ForCausalLM and Qwen2ForCausalLM, and ColBERT models (HF_ColBERT, or a BertModel with a PyLate Dense projection)",
        path.display()
    )]
    UnsupportedArchitecture {
        /// The architecture or model type found.
        architecture: String,
        /// The config.json that declared it.
        path: PathBuf,
    },
    /// A cross-encoder was asked of a model without a classification head, or the reverse.
    #[error("{} is {found}, but {expected} is needed here", dir.display())]
    WrongModelKind {
        /// The model directory.
        dir: PathBuf,
        /// What the model is.
        found: &'static str,
        /// What the caller needs.
        expected: &'static str,
    },
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The tokenizer.json in use.
        path: PathBuf,
        /// The tokenizer library's message.
        message: String,
    },
    /// The weights file is malformed or lacks a tensor the architecture needs.
    #[error("weights in {}: {source}", dir.display())]
    Weights {
        /// The model directory.
        dir: PathBuf,
        /// The tensor library's error.
        source: candle_core::Error,
    },
    /// The tensor library failed while running the model.
    #[error("inference failed: {0}")]
    Inference(#[source] candle_core::Error),
    /// An option has a value outside its valid range.
    #[error("invalid option {name}: {message}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A causal language model was given as a reranker without a known prompt template.
    #[error(
        "{} is a causal language model with no known reranking template: pass --reranker-kind qwen3 (Qwen3-Reranker's prompt, yes/no) or --reranker-kind mxbai-v2 (mxbai-rerank-v2's prompt, 1/0)",
        dir.display()
    )]
    UnknownRerankerTemplate {
        /// The model directory.
        dir: PathBuf,
    },
    /// A prompt name was asked for that the model does not declare.
    #[error("the model declares no prompt named '{name}' (it has: {available})")]
    UnknownPrompt {
        /// The prompt name asked for.
        name: String,
        /// The prompt names the model has, comma-separated.
        available: String,
    },
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::HubUnavailable { .. } | Error::Io(_) => ErrorKind::Unavailable,
            Error::ModelDirNotFound { .. } | Error::MissingFile { .. } => ErrorKind::NotFound,
            Error::Inference(_) => ErrorKind::Internal,
            _ => ErrorKind::User,
        }
    }
}

impl From<Error> for tamis_core::Error {
    fn from(err: Error) -> Self {
        tamis_core::Error::Model { kind: err.kind(), source: Box::new(err) }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
