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
    /// A checkpoint or model file is damaged, or belongs to another model.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Training data that cannot be used as given.
    #[error("{0}")]
    Data(String),
    /// The loss stopped being a number: the learning rate is too high for this model.
    #[error("the loss became {loss} at step {step}: lower the learning rate (--lr)")]
    Diverged {
        /// The step.
        step: u64,
        /// The loss.
        loss: f32,
    },
    /// The output directory exists and overwriting was not asked for.
    #[error("{} already exists: choose another output directory, or pass --overwrite", path.display())]
    OutputExists {
        /// The directory.
        path: std::path::PathBuf,
    },
    /// Reading or writing a file failed (the message names the file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A JSON file could not be read or written.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Whose fault the error is: bad data, options or files are the user's; a missing
    /// file is not found; other I/O may succeed on retry.
    pub fn kind(&self) -> tamis_core::ErrorKind {
        use tamis_core::ErrorKind;
        match self {
            Error::Model(err) => err.kind(),
            Error::Io(err) if err.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            Error::Io(_) => ErrorKind::Unavailable,
            _ => ErrorKind::User,
        }
    }
}

impl From<tamis_models::Error> for Error {
    fn from(err: tamis_models::Error) -> Self {
        Error::Model(Box::new(err))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
