//! Cross-encoders and sentence encoders, loaded once and called from Python with the GIL
//! released while the model works.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tamis_core::ErrorKind;
use tamis_models::{
    BiEncoder, BiEncoderConfig, CrossEncoderConfig, EncoderKind, HubOptions, ModelDir, Precision,
    Prompt, RuntimeConfig, split_model_id,
};

use crate::errors::{Failure, invalid, raise};

/// Two matrices of one call, in the order the method's docs give.
type Matrices<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<f32>>);

/// Where and how a model runs, checked before anything is loaded.
pub(crate) fn runtime(
    py: Python<'_>,
    precision: &str,
    threads: Option<usize>,
    encoder: &str,
) -> PyResult<RuntimeConfig> {
    let precision = Precision::from_name(precision).ok_or_else(|| {
        invalid(
            py,
            format!("unknown precision {precision:?}: use fp32, int8, bf16, bf16x3 or auto"),
        )
    })?;
    let encoder = match encoder {
        "native" => EncoderKind::Native,
        "candle" => EncoderKind::Candle,
        other => {
            return Err(invalid(py, format!("unknown encoder {other:?}: use native or candle")));
        }
    };
    if threads == Some(0) {
        return Err(invalid(py, "threads must be at least 1 (or None for every core)"));
    }
    Ok(RuntimeConfig { encoder, threads, precision, ..Default::default() })
}

/// Where a hub id is looked for, as sentence-transformers' constructors take it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    pub(crate) revision: Option<String>,
    pub(crate) local_files_only: bool,
    pub(crate) cache_folder: Option<String>,
    pub(crate) token: Option<String>,
}

impl Source {
    /// A model directory from a path or a hub id, with the Hugging Face environment
    /// variables the `huggingface_hub` package reads (so both share one cache) under
    /// this source's own settings.
    pub(crate) fn resolve(self, name: &str) -> Result<ModelDir, Failure> {
        let offline = self.local_files_only
            || std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
                !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off")
            });
        let mut hub =
            HubOptions::from_vars(|name| std::env::var(name).ok(), self.revision, offline);
        if let Some(cache) = self.cache_folder {
            hub.cache_dir = cache.into();
        }
        if let Some(token) = self.token {
            hub.token = Some(token);
        }
        Ok(ModelDir::resolve(name, &hub)?)
    }

    /// The model an index records by id (a path, or a hub id with its pinned revision).
    pub(crate) fn resolve_id(&self, id: &str) -> Result<ModelDir, Failure> {
        let (name, revision) = split_model_id(id);
        Source { revision, ..self.clone() }.resolve(name)
    }

    /// `name` resolved and loaded by `load`, with the GIL released throughout.
    fn load<T: Send>(
        self,
        py: Python<'_>,
        name: &str,
        load: impl FnOnce(&ModelDir) -> Result<T, Failure> + Send,
    ) -> PyResult<T> {
        py.detach(|| load(&self.resolve(name)?)).map_err(|err| err.raise(py))
    }
}

/// Rows of equal width as a C-contiguous NumPy matrix, moved without a copy.
fn matrix<'py>(
    py: Python<'py>,
    rows: usize,
    width: usize,
    values: Vec<f32>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let array = Array2::from_shape_vec((rows, width), values)
        .map_err(|err| raise(py, ErrorKind::Internal, format!("result shape: {err}")))?;
    Ok(array.into_pyarray(py))
}

/// A cross-encoder: the engine's `tamis_models::CrossEncoder`.
#[pyclass(module = "tamis._tamis", frozen)]
pub(crate) struct CrossEncoder {
    model: tamis_models::CrossEncoder,
}

#[pymethods]
impl CrossEncoder {
    #[new]
    #[pyo3(signature = (model, *, max_length=None, precision="auto", threads=None, encoder="native", revision=None, local_files_only=false, cache_folder=None, token=None))]
    #[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn new(
        py: Python<'_>,
        model: &str,
        max_length: Option<usize>,
        precision: &str,
        threads: Option<usize>,
        encoder: &str,
        revision: Option<String>,
        local_files_only: bool,
        cache_folder: Option<String>,
        token: Option<String>,
    ) -> PyResult<Self> {
        let source = Source { revision, local_files_only, cache_folder, token };
        let config = CrossEncoderConfig {
            runtime: runtime(py, precision, threads, encoder)?,
            max_length,
            ..Default::default()
        };
        let model =
            source.load(py, model, |dir| Ok(tamis_models::CrossEncoder::load(dir, &config)?))?;
        Ok(CrossEncoder { model })
    }

    /// Logits and scores (logits after the model's activation) of each pair, as two
    /// `(len(queries), num_labels)` float32 matrices.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        queries: Vec<String>,
        passages: Vec<String>,
    ) -> PyResult<Matrices<'py>> {
        if queries.len() != passages.len() {
            return Err(invalid(
                py,
                format!(
                    "{} queries for {} passages: give one query per passage",
                    queries.len(),
                    passages.len()
                ),
            ));
        }
        let pairs: Vec<(&str, &str)> =
            queries.iter().zip(&passages).map(|(q, p)| (q.as_str(), p.as_str())).collect();
        let predictions = py
            .detach(|| self.model.predict(&pairs).map_err(Failure::from))
            .map_err(|err| err.raise(py))?;
        let labels = self.model.num_labels();
        let mut logits = Vec::with_capacity(pairs.len() * labels);
        let mut scores = Vec::with_capacity(pairs.len() * labels);
        for prediction in predictions {
            logits.extend_from_slice(&prediction.logits);
            scores.extend_from_slice(&prediction.scores);
        }
        Ok((matrix(py, pairs.len(), labels, logits)?, matrix(py, pairs.len(), labels, scores)?))
    }

    /// Logits per pair.
    #[getter]
    fn num_labels(&self) -> usize {
        self.model.num_labels()
    }

    /// Most tokens per pair, special tokens included.
    #[getter]
    fn max_length(&self) -> usize {
        self.model.max_length()
    }

    /// The activation that turns logits into scores (`sigmoid`, `identity`, ...).
    #[getter]
    fn activation(&self) -> String {
        format!("{:?}", self.model.activation()).to_lowercase()
    }

    /// The arithmetic its dense layers run in.
    #[getter]
    fn precision(&self) -> &'static str {
        self.model.precision().name()
    }

    /// The model directory it was loaded from.
    #[getter]
    fn path(&self) -> String {
        self.model.dir().display().to_string()
    }
}

/// A bi-encoder: the engine's `tamis_models::BiEncoder`.
#[pyclass(module = "tamis._tamis", frozen)]
pub(crate) struct SentenceEncoder {
    model: BiEncoder,
}

#[pymethods]
impl SentenceEncoder {
    #[new]
    #[pyo3(signature = (model, *, max_length=None, precision="auto", threads=None, encoder="native", revision=None, local_files_only=false, cache_folder=None, token=None))]
    #[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn new(
        py: Python<'_>,
        model: &str,
        max_length: Option<usize>,
        precision: &str,
        threads: Option<usize>,
        encoder: &str,
        revision: Option<String>,
        local_files_only: bool,
        cache_folder: Option<String>,
        token: Option<String>,
    ) -> PyResult<Self> {
        let source = Source { revision, local_files_only, cache_folder, token };
        let config = BiEncoderConfig {
            runtime: runtime(py, precision, threads, encoder)?,
            max_length,
            ..Default::default()
        };
        let model = source.load(py, model, |dir| Ok(BiEncoder::load(dir, &config)?))?;
        Ok(SentenceEncoder { model })
    }

    /// The embeddings of `texts` as a `(len(texts), dimension)` float32 matrix, after the
    /// model's own pipeline (normalized when the model has a `Normalize` module). `prompt`
    /// is a literal prefix, `prompt_name` one of the model's prompts; neither: the model's
    /// default prompt, if it declares one.
    #[pyo3(signature = (texts, *, prompt=None, prompt_name=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        prompt: Option<String>,
        prompt_name: Option<String>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let prompt = match (&prompt, &prompt_name) {
            (Some(text), _) => Prompt::Text(text),
            (None, Some(name)) => Prompt::Named(name),
            (None, None) => Prompt::Default,
        };
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = py
            .detach(|| self.model.encode(&texts, prompt).map_err(Failure::from))
            .map_err(|err| err.raise(py))?;
        let dimension = self.model.dimension();
        matrix(py, texts.len(), dimension, vectors.into_iter().flatten().collect())
    }

    /// Length of each embedding.
    #[getter]
    fn dimension(&self) -> usize {
        self.model.dimension()
    }

    /// Most tokens per text, special tokens included.
    #[getter]
    fn max_length(&self) -> usize {
        self.model.max_length()
    }

    /// Whether the model normalizes its embeddings to unit length.
    #[getter]
    fn normalizes(&self) -> bool {
        self.model.normalizes()
    }

    /// The prompts the model declares, by name.
    #[getter]
    fn prompts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let prompts = PyDict::new(py);
        for (name, text) in self.model.prompts() {
            prompts.set_item(name, text)?;
        }
        Ok(prompts)
    }

    /// The arithmetic its dense layers run in.
    #[getter]
    fn precision(&self) -> &'static str {
        self.model.precision().name()
    }

    /// The model directory it was loaded from.
    #[getter]
    fn path(&self) -> String {
        self.model.dir().display().to_string()
    }
}
