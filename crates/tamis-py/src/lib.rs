//! The Rust half of the `tamis` Python package: the engine's models, loaded and run
//! in-process, behind a thin PyO3 layer.
//!
//! The Python half (`python/tamis/`) gives these classes the APIs Python users already
//! type (sentence-transformers' `CrossEncoder.predict` / `rank`, `SentenceTransformer.encode`)
//! and holds the exception hierarchy; this crate only converts arguments, releases the
//! GIL around model work and maps the engine's typed errors onto that hierarchy.
//!
//! - `models::CrossEncoder`: logits and scores of (query, passage) pairs as NumPy arrays.
//! - `models::SentenceEncoder`: embeddings as a NumPy matrix.
//! - `index::Index`: an embedded or PostgreSQL index: add, delete, two-stage search.
//!
//! Built by maturin (`python/pyproject.toml`) into `tamis._tamis`.

mod errors;
mod index;
mod models;

use pyo3::prelude::*;

/// The extension module, imported by the Python package as `tamis._tamis`.
#[pymodule]
fn _tamis(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<models::CrossEncoder>()?;
    module.add_class::<models::SentenceEncoder>()?;
    module.add_class::<index::Index>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
