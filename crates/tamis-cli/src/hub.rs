//! Hugging Face cache and hub settings, read from the process environment the way
//! `huggingface_hub` reads them, so Python and tamis share one cache.

use tamis_models::HubOptions;

/// Hub options from the environment (see [`HubOptions::from_vars`]).
pub fn options_from_env(revision: Option<String>, offline: bool) -> HubOptions {
    HubOptions::from_vars(|name| std::env::var(name).ok(), revision, offline)
}
