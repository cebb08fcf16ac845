//! How an index analyzes and lays out text, and the settings file that records it.
//!
//! The configuration is chosen once, by [`crate::Bm25Index::create`], and written to
//! [`SETTINGS_FILE`] in the index directory; [`crate::Bm25Index::open`] reads it back, so a
//! query is always analyzed exactly like the documents it is matched against.
//! The file is a few `key = value` lines:
//!
//! ```text
//! # tamis-lexical index settings, written by Bm25Index::create; do not edit
//! format = 2
//! stemming = true
//! stopwords = true
//! fields = multifield
//! k1 = 1.2
//! b = 0.75
//! title_weight = 0.5
//! ```
//!
//! Format 1 (written before the BM25 parameters were settable) has no `k1`, `b` or
//! `title_weight`: its indexes were scored with tantivy's fixed parameters, which
//! [`Bm25Params::LEGACY`] keeps.

use std::path::{Path, PathBuf};

use tamis_core::Bm25Params;

use crate::Error;

/// The name of the settings file inside an index directory.
pub const SETTINGS_FILE: &str = "tamis-lexical.cfg";

/// The version of the settings file (and of the schema it describes) that this crate writes.
const FORMAT: u64 = 2;

/// The version before the BM25 parameters were recorded; still read, as [`Bm25Params::LEGACY`].
const FORMAT_WITHOUT_PARAMS: u64 = 1;

/// Where a document's title and text are indexed.
///
/// Measured with the default analyzer and `k1 = 1.2`, `b = 0.75` on the test splits (see
/// `tests/it/quality.rs`; bm25s, with `k1 = 0.9`, `b = 0.4` and one concatenated field,
/// scores nDCG@10 0.3177 on NFCorpus and 0.3517 on Cranfield):
///
/// | mode | NFCorpus nDCG@10 | NFCorpus Recall@100 | Cranfield nDCG@10 | Cranfield Recall@100 |
/// |---|---|---|---|---|
/// | `Multifield`, title weight 0.5 (the default) | 0.3291 | 0.2474 | 0.3775 | 0.7501 |
/// | `Multifield`, title weight 1 | 0.3235 | 0.2524 | 0.3782 | 0.7435 |
/// | `Concatenated` | 0.3205 | 0.2466 | 0.3687 | 0.7360 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldMode {
    /// Title and text are indexed as two fields; every query term is looked up in both and the
    /// two BM25 scores are summed, each field with its own length normalization (BEIR's
    /// Anserini "multifield" runs). Measured the better of the two on NFCorpus and Cranfield.
    #[default]
    Multifield,
    /// `title + " " + text` is indexed as one field (what `bm25s` does in the dataset README).
    Concatenated,
}

impl FieldMode {
    /// The name used in the settings file (`multifield`, `concatenated`).
    pub fn name(self) -> &'static str {
        match self {
            FieldMode::Multifield => "multifield",
            FieldMode::Concatenated => "concatenated",
        }
    }

    /// The mode [`FieldMode::name`] names.
    pub fn from_name(name: &str) -> Option<FieldMode> {
        [FieldMode::Multifield, FieldMode::Concatenated]
            .into_iter()
            .find(|mode| mode.name() == name)
    }
}

/// How an index analyzes text, which fields it searches and how BM25 scores them.
///
/// Terms are the runs of alphanumeric characters (Unicode-aware), lowercased; terms longer
/// than [`crate::MAX_TERM_BYTES`] are dropped. See [`Bm25Config::terms`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Config {
    /// Reduce terms to their English stem (Snowball English / Porter2, as tantivy stems).
    pub stemming: bool,
    /// Drop tantivy's English stop words (Lucene's 33-word list) before stemming.
    pub stopwords: bool,
    /// Whether title and text are one field or two.
    pub fields: FieldMode,
    /// BM25's parameters, used by [`crate::Bm25Index::search`].
    pub params: Bm25Params,
}

impl Bm25Config {
    /// Checks [`Bm25Params::validate`].
    pub fn validate(&self) -> crate::Result<()> {
        Ok(self.params.validate()?)
    }
}

impl Default for Bm25Config {
    fn default() -> Self {
        Bm25Config {
            stemming: true,
            stopwords: true,
            fields: FieldMode::default(),
            params: Bm25Params::default(),
        }
    }
}

/// The settings file of the index in `dir`.
pub(crate) fn settings_path(dir: &Path) -> PathBuf {
    dir.join(SETTINGS_FILE)
}

/// Writes the settings of a new index into `dir`, atomically (a temporary file, then a rename).
pub(crate) fn write_settings(dir: &Path, config: &Bm25Config) -> crate::Result<()> {
    let text = format!(
        "# tamis-lexical index settings, written by Bm25Index::create; do not edit\n\
         format = {FORMAT}\nstemming = {}\nstopwords = {}\nfields = {}\n\
         k1 = {}\nb = {}\ntitle_weight = {}\n",
        config.stemming,
        config.stopwords,
        config.fields.name(),
        config.params.k1,
        config.params.b,
        config.params.title_weight,
    );
    let path = settings_path(dir);
    let tmp_path = dir.join(format!("{SETTINGS_FILE}.tmp"));
    fs_err::write(&tmp_path, text)?;
    fs_err::rename(&tmp_path, &path)?;
    Ok(())
}

/// Reads the settings of the index in `dir`.
pub(crate) fn read_settings(dir: &Path) -> crate::Result<Bm25Config> {
    let path = settings_path(dir);
    if !path.is_file() {
        return Err(Error::NotAnIndex { path: dir.to_path_buf(), config: path });
    }
    let bytes = fs_err::read(&path)?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(corrupt(&path, 0, "the file is not UTF-8 text".to_owned()));
    };
    parse_settings(&path, &text)
}

/// Parses the text of a settings file; `path` is only for error messages.
pub(crate) fn parse_settings(path: &Path, text: &str) -> crate::Result<Bm25Config> {
    let mut format = None;
    let mut stemming = None;
    let mut stopwords = None;
    let mut fields = None;
    let (mut k1, mut b, mut title_weight) = (None, None, None);
    for (line_idx, raw_line) in text.lines().enumerate() {
        let line_no = line_idx + 1;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(corrupt(path, line_no, format!("expected 'key = value', found '{line}'")));
        };
        let (key, value) = (key.trim(), value.trim());
        let parsed_ok = match key {
            "format" => set_once(&mut format, value.parse::<u64>().ok()),
            "stemming" => set_once(&mut stemming, parse_bool(value)),
            "stopwords" => set_once(&mut stopwords, parse_bool(value)),
            "fields" => set_once(&mut fields, FieldMode::from_name(value)),
            "k1" => set_once(&mut k1, value.parse::<f32>().ok()),
            "b" => set_once(&mut b, value.parse::<f32>().ok()),
            "title_weight" => set_once(&mut title_weight, value.parse::<f32>().ok()),
            _ => return Err(corrupt(path, line_no, format!("unknown setting '{key}'"))),
        };
        match parsed_ok {
            SetOnce::Set => {}
            SetOnce::Invalid => {
                return Err(corrupt(path, line_no, format!("invalid value '{value}' for '{key}'")));
            }
            SetOnce::Repeated => {
                return Err(corrupt(path, line_no, format!("'{key}' is set twice")));
            }
        }
    }
    let Some(format) = format else {
        return Err(corrupt(path, 0, "'format' is missing".to_owned()));
    };
    let params = match format {
        FORMAT => match (k1, b, title_weight) {
            (Some(k1), Some(b), Some(title_weight)) => Bm25Params { k1, b, title_weight },
            (None, _, _) => return Err(missing(path, "k1")),
            (_, None, _) => return Err(missing(path, "b")),
            (_, _, None) => return Err(missing(path, "title_weight")),
        },
        FORMAT_WITHOUT_PARAMS => {
            if let Some(key) = [(k1, "k1"), (b, "b"), (title_weight, "title_weight")]
                .into_iter()
                .find_map(|(value, key)| value.map(|_| key))
            {
                return Err(corrupt(path, 0, format!("'{key}' needs format {FORMAT}")));
            }
            Bm25Params::LEGACY
        }
        _ => {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                found: format,
                supported: FORMAT,
            });
        }
    };
    let config = match (stemming, stopwords, fields) {
        (Some(stemming), Some(stopwords), Some(fields)) => {
            Bm25Config { stemming, stopwords, fields, params }
        }
        (None, _, _) => return Err(missing(path, "stemming")),
        (_, None, _) => return Err(missing(path, "stopwords")),
        (_, _, None) => return Err(missing(path, "fields")),
    };
    config.validate().map_err(|err| corrupt(path, 0, err.to_string()))?;
    Ok(config)
}

fn missing(path: &Path, key: &str) -> Error {
    corrupt(path, 0, format!("'{key}' is missing"))
}

/// The outcome of reading one setting.
enum SetOnce {
    Set,
    Invalid,
    Repeated,
}

fn set_once<T>(slot: &mut Option<T>, value: Option<T>) -> SetOnce {
    match (slot.is_some(), value) {
        (true, _) => SetOnce::Repeated,
        (false, None) => SetOnce::Invalid,
        (false, Some(value)) => {
            *slot = Some(value);
            SetOnce::Set
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn corrupt(path: &Path, line: usize, problem: String) -> Error {
    Error::CorruptConfig { path: path.to_path_buf(), line, problem }
}

#[cfg(test)]
mod tests;
