//! Saving an [`HnswIndex`] to one file and loading it back.
//!
//! The file is `usearch`'s own format: a header (dimension, metric, scalar type,
//! counts), the vectors and the graph. The search-time knobs (`expansion_*`, `threads`)
//! are not part of a graph and are not stored; [`HnswIndex::load_with`] takes them.
//!
//! usearch trusts the file it loads: a damaged graph (a neighbour id out of range) makes
//! a later search read out of bounds and crash the process, found by the
//! `store_corruption` fuzz target. [`HnswIndex::save`] therefore returns the file's CRC-32,
//! and [`HnswIndex::load_checked`] refuses a file that does not match it before usearch
//! reads a byte of it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use tamis_core::ChunkKey;

use super::{HnswIndex, RETIRED_KEYS};
use crate::{Error, HnswParams, Metric};

impl HnswIndex {
    /// Writes the index to `path`, replacing the file if it exists.
    ///
    /// The index is written to a sibling temporary file first and renamed over `path`,
    /// so a crash mid-write never leaves a truncated index under the real name. Returns the
    /// CRC-32 of the file written, for [`load_checked`](Self::load_checked).
    pub fn save(&self, path: impl AsRef<Path>) -> crate::Result<u32> {
        let path = path.as_ref();
        let mut temporary = OsString::from(path.as_os_str());
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let written = self
            .index
            .save(utf8(&temporary)?)
            .map_err(|err| Error::Save { path: path.to_owned(), reason: err.what().to_owned() });
        if let Err(err) = written {
            // Best effort: the save already failed, and that error is the one to report.
            let _ = fs_err::remove_file(&temporary);
            return Err(err);
        }
        let checksum = file_checksum(&temporary)?;
        fs_err::rename(&temporary, path)?;
        Ok(checksum)
    }

    /// Like [`load_with`](Self::load_with), but first checks that the file's CRC-32 is
    /// `checksum`, the value [`save`](Self::save) returned, and fails with
    /// [`Error::Checksum`] if it is not: usearch never sees a damaged file.
    pub fn load_checked(
        path: impl AsRef<Path>,
        params: HnswParams,
        checksum: u32,
    ) -> crate::Result<Self> {
        let path = path.as_ref();
        let found = file_checksum(path)?;
        if found != checksum {
            return Err(Error::Checksum { path: path.to_owned(), expected: checksum, found });
        }
        HnswIndex::load_with(path, params)
    }

    /// Reads an index saved by [`save`](Self::save), with the default search knobs.
    pub fn load(path: impl AsRef<Path>) -> crate::Result<Self> {
        HnswIndex::load_with(path, HnswParams::default())
    }

    /// Reads an index saved by [`save`](Self::save), trusting its bytes: prefer
    /// [`load_checked`](Self::load_checked) for a file that may be damaged. `params.expansion_add`,
    /// `params.expansion_search` and `params.threads` apply from now on;
    /// `params.connectivity` is ignored, because the graph was built with its own,
    /// which [`params`](Self::params) then reports.
    pub fn load_with(path: impl AsRef<Path>, params: HnswParams) -> crate::Result<Self> {
        let path = path.as_ref();
        params.validate()?;
        let path_str = utf8(path)?;
        // `usearch` reports a missing file as a bare "can't open"; ask the file system
        // first so that the error is an `io::Error` naming the path.
        fs_err::metadata(path)?;
        let load_error = |reason: String| Error::Load { path: path.to_owned(), reason };

        let header = Index::metadata(path_str).map_err(|err| load_error(err.what().to_owned()))?;
        let metric = match header.metric {
            MetricKind::IP => Metric::InnerProduct,
            MetricKind::Cos => Metric::Cosine,
            other => {
                return Err(load_error(format!(
                    "it uses the metric {other:?}, not inner product or cosine"
                )));
            }
        };
        if header.quantization != ScalarKind::F32 {
            return Err(load_error(format!(
                "it stores {:?} scalars, not f32",
                header.quantization
            )));
        }
        if header.multi {
            return Err(load_error("it allows several vectors per key".to_owned()));
        }
        if header.dimensions == 0 {
            return Err(load_error("its dimension is 0".to_owned()));
        }
        let dimensions = usize::try_from(header.dimensions)
            .map_err(|_| load_error(format!("its dimension {} is too large", header.dimensions)))?;

        let options = IndexOptions {
            dimensions,
            metric: header.metric,
            quantization: ScalarKind::F32,
            // Zero lets the loader take the connectivity the graph was built with.
            connectivity: 0,
            expansion_add: params.expansion_add,
            expansion_search: super::USEARCH_EXPANSION_SEARCH,
            multi: false,
        };
        let index = Index::new(&options).map_err(|err| Error::backend("create an index", err))?;
        index.load(path_str).map_err(|err| load_error(err.what().to_owned()))?;
        let params = HnswParams { connectivity: index.connectivity(), ..params };
        let mut hnsw = HnswIndex::wrap(index, metric, params)?;
        hnsw.retired = count_retired(&hnsw.index);
        // A graph saved before retirement (see *Removal* on `HnswIndex`) may hold slots
        // freed by `usearch`'s own removal, which the next insertion would reuse.
        if hnsw.index.stats().nodes > hnsw.index.size() {
            hnsw.rebuild()?;
        }
        Ok(hnsw)
    }
}

/// How many retired vectors a loaded graph holds. Their keys are `RETIRED_KEYS + i` for
/// every `i` below the count, so the count is found by an exponential then a binary
/// search over `contains`.
fn count_retired(index: &Index) -> usize {
    let retired = |i: usize| index.contains(RETIRED_KEYS + i as ChunkKey);
    if !retired(0) {
        return 0;
    }
    // `retired(low)` holds and `retired(high)` does not.
    let (mut low, mut high) = (0, 1);
    while retired(high) {
        low = high;
        high *= 2;
    }
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if retired(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    high
}

/// The CRC-32 of the file at `path`, read in blocks (a graph can be gigabytes).
fn file_checksum(path: &Path) -> crate::Result<u32> {
    use std::io::Read;
    let mut file = fs_err::File::open(path)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut block)?;
        if read == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&block[..read]);
    }
}

/// The path as the `&str` that `usearch` takes.
fn utf8(path: &Path) -> crate::Result<&str> {
    path.to_str().ok_or_else(|| Error::NonUtf8Path { path: path.to_owned() })
}
