//! Errors of training.

/// Everything that can go wrong preparing or running a training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model could not be read (boxed: the models' error is large, and training
    /// returns results in its inner loops).
    #[error(transparent)]
    Model(Box<tamis_models::Error>),
    /// The model is of a kind training does not handle.
    #[error("{0}")]
    Unsupported(String),
}

impl From<tamis_models::Error> for Error {
    fn from(err: tamis_models::Error) -> Self {
        Error::Model(Box::new(err))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
