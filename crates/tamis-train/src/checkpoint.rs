//! Training checkpoints that survive `kill -9`, and the trained model in Hugging Face
//! layout.
//!
//! A checkpoint is a directory: `params.safetensors` (the parameters under their
//! training names, QKV fused), `optimizer.safetensors` (AdamW's moments) and
//! `state.json` (the step and whatever the caller needs to resume, e.g. its position in
//! the data). It is written beside its final name and renamed into place, so a crash
//! leaves either the previous checkpoint or the new one, never a mix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::model::{CrossEncoderModel, Params};
use crate::optim::AdamW;
use crate::{Error, Result};

#[cfg(test)]
mod tests;

/// Writes `model`'s parameters, `optimizer`'s state and `state` (any JSON the caller
/// resumes from) as the checkpoint directory `dir`, replacing the previous one whole.
pub fn save(
    dir: &Path,
    model: &CrossEncoderModel,
    optimizer: &AdamW,
    state: &serde_json::Value,
) -> Result<()> {
    let staging = sibling(dir, "new");
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir_all(&staging)?;
    write_tensors(&staging.join("params.safetensors"), &named(&model.params, ""))?;
    let mut moments = named(&optimizer.first, "first/");
    moments.extend(named(&optimizer.second, "second/"));
    write_tensors(&staging.join("optimizer.safetensors"), &moments)?;
    let state = serde_json::json!({"steps": optimizer.steps, "state": state});
    write_synced(&staging.join("state.json"), serde_json::to_string_pretty(&state)?.as_bytes())?;
    sync_dir(&staging)?;
    // `load` falls back to the checkpoint set aside when a crash comes between renames.
    replace_dir(&staging, dir, "old")
}

/// Whether `dir` (or the checkpoint a crash left aside) holds a checkpoint to resume.
pub fn exists(dir: &Path) -> bool {
    dir.join("state.json").is_file() || sibling(dir, "old").join("state.json").is_file()
}

/// Reads the checkpoint `dir` (or the one a crash left aside) into `model` and
/// `optimizer`, which must be shaped as when it was saved; returns the caller's state,
/// or `None` when there is no checkpoint.
pub fn load(
    dir: &Path,
    model: &mut CrossEncoderModel,
    optimizer: &mut AdamW,
) -> Result<Option<serde_json::Value>> {
    let dir = if dir.join("state.json").is_file() {
        dir.to_path_buf()
    } else if sibling(dir, "old").join("state.json").is_file() {
        sibling(dir, "old")
    } else {
        return Ok(None);
    };
    let params = fs_err::read(dir.join("params.safetensors"))?;
    read_into(&dir.join("params.safetensors"), &params, "", &mut model.params)?;
    let moments = fs_err::read(dir.join("optimizer.safetensors"))?;
    read_into(&dir.join("optimizer.safetensors"), &moments, "first/", &mut optimizer.first)?;
    read_into(&dir.join("optimizer.safetensors"), &moments, "second/", &mut optimizer.second)?;
    let state: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join("state.json"))?)?;
    optimizer.steps =
        state["steps"].as_u64().ok_or_else(|| damaged(&dir, "state.json has no step count"))?;
    Ok(Some(state["state"].clone()))
}

/// Moves the complete directory `staging` to `target`: an existing `target` is first
/// renamed to its `aside` sibling, removed once `staging` has its name, so a crash leaves
/// the old directory or the new one under one of the two names, never a mix.
pub(crate) fn replace_dir(staging: &Path, target: &Path, aside: &str) -> Result<()> {
    let aside = sibling(target, aside);
    if aside.exists() {
        fs_err::remove_dir_all(&aside)?;
    }
    if target.exists() {
        fs_err::rename(target, &aside)?;
    }
    fs_err::rename(staging, target)?;
    // A bare relative name (`--output model`) has an empty parent: the current directory.
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
        _ => sync_dir(Path::new("."))?,
    }
    if aside.exists() {
        fs_err::remove_dir_all(&aside)?;
    }
    Ok(())
}

/// `dir` with `.suffix` appended to its name.
pub fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

fn damaged(path: &Path, message: &str) -> Error {
    Error::Checkpoint { path: path.to_owned(), message: message.to_owned() }
}

/// Every tensor of `params` as (`prefix` + name, shape, values); shapes are flat: a
/// checkpoint is only ever read back into parameters of the same model.
fn named(params: &Params, prefix: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    params
        .tensors()
        .into_iter()
        .map(|(name, values)| (format!("{prefix}{name}"), vec![values.len()], values))
        .collect()
}

fn read_into(path: &Path, bytes: &[u8], prefix: &str, params: &mut Params) -> Result<()> {
    let file = SafeTensors::deserialize(bytes).map_err(|err| damaged(path, &err.to_string()))?;
    let names = params.names();
    for (name, values) in names.iter().zip(params.tensors_mut()) {
        let key = format!("{prefix}{name}");
        let view = file.tensor(&key).map_err(|_| damaged(path, &format!("no tensor {key}")))?;
        if view.dtype() != Dtype::F32 || view.data().len() != 4 * values.len() {
            return Err(damaged(
                path,
                &format!("{key} is not {} f32 values: not this model's checkpoint", values.len()),
            ));
        }
        for (value, bytes) in values.iter_mut().zip(view.data().chunks_exact(4)) {
            *value = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
    }
    Ok(())
}

/// Writes `tensors` as one safetensors file, synced to disk.
pub(crate) fn write_tensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<()> {
    let bytes: Vec<(&str, &[usize], Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            (name.as_str(), shape.as_slice(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| Ok((*name, TensorView::new(Dtype::F32, shape.to_vec(), data)?)))
        .collect::<std::result::Result<HashMap<_, _>, safetensors::SafeTensorError>>()
        .map_err(|err| Error::Checkpoint { path: path.to_owned(), message: err.to_string() })?;
    let serialized = safetensors::serialize(views, None)
        .map_err(|err| Error::Checkpoint { path: path.to_owned(), message: err.to_string() })?;
    write_synced(path, &serialized)
}

/// Writes `bytes` to `path` and syncs the file.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = fs_err::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Syncs a directory, so that the entries just created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs_err::File::open(dir)?.sync_all()?;
    Ok(())
}
