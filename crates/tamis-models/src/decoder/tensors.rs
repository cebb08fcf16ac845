//! A decoder checkpoint's tensors, kept in the precision of the file: bfloat16 weights
//! stay bfloat16 in memory (half the size of `f32`) and are widened where they are used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use tamis_kernels::Linear;

use crate::Result;
use crate::weights::weights_error;

/// One tensor's values.
#[derive(Debug)]
pub(crate) enum Values {
    F32(Vec<f32>),
    /// bfloat16 bit patterns.
    Bf16(Vec<u16>),
}

impl Values {
    /// The values as `f32` (exact: bfloat16 widens without rounding).
    pub(crate) fn into_f32(self) -> Vec<f32> {
        match self {
            Values::F32(v) => v,
            Values::Bf16(v) => v.into_iter().map(widen).collect(),
        }
    }

    /// Row `row` of a matrix `width` wide, as `f32`, into `out`.
    pub(crate) fn row_into(&self, row: usize, width: usize, out: &mut [f32]) {
        match self {
            Values::F32(v) => out.copy_from_slice(&v[row * width..][..width]),
            Values::Bf16(v) => {
                out.iter_mut().zip(&v[row * width..][..width]).for_each(|(o, &b)| *o = widen(b))
            }
        }
    }
}

/// bfloat16 bits to `f32`: the bits shifted into the high half, exactly.
pub(crate) fn widen(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// Every tensor of a checkpoint, by name, with its shape.
#[derive(Debug)]
pub(crate) struct Tensors {
    dir: PathBuf,
    map: HashMap<String, (Vec<usize>, Values)>,
}

impl Tensors {
    /// Reads the single or sharded safetensors of the model in `dir` tensor by tensor
    /// ([`crate::weights::read_tensors`]), never a whole file at once.
    pub(crate) fn load(dir: &Path) -> Result<Tensors> {
        let mut map = HashMap::new();
        crate::weights::read_tensors(dir, |name, info, tensor| {
            let values = match info.dtype {
                Dtype::F32 => Values::F32(tensor.values(|b: &[u8; 4]| f32::from_le_bytes(*b))?),
                Dtype::BF16 => Values::Bf16(tensor.values(|b: &[u8; 2]| u16::from_le_bytes(*b))?),
                Dtype::F16 => {
                    Values::F32(tensor.values(|b: &[u8; 2]| half::f16::from_le_bytes(*b).to_f32())?)
                }
                other => {
                    return Err(weights_error(
                        dir,
                        format!("tensor {name} is {other:?}; tamis reads F32, BF16 and F16"),
                    ));
                }
            };
            map.insert(name, (info.shape.clone(), values));
            Ok(())
        })?;
        Ok(Tensors { dir: dir.to_path_buf(), map })
    }

    /// Removes tensor `name`, checked to have `shape`.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Values> {
        let (found, values) = self
            .map
            .remove(name)
            .ok_or_else(|| weights_error(&self.dir, format!("no tensor named {name}")))?;
        if found != shape {
            return Err(weights_error(
                &self.dir,
                format!("tensor {name} has shape {found:?}, config.json implies {shape:?}"),
            ));
        }
        Ok(values)
    }

    /// Removes tensor `name` (shape `[len]`) as `f32`.
    pub(crate) fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>> {
        Ok(self.take(name, &[len])?.into_f32())
    }

    /// One dense layer from the weights (and biases, when `bias`) of `parts`, stacked
    /// along the outputs in order (e.g. Q, K and V into one fused projection), each
    /// `[outs, in_features]`. Stays bfloat16 when every part is.
    pub(crate) fn linear(
        &mut self,
        parts: &[(&str, usize)],
        in_features: usize,
        bias: bool,
    ) -> Result<Linear> {
        let mut weights = Vec::with_capacity(parts.len());
        let mut biases = Vec::new();
        for &(prefix, outs) in parts {
            weights.push(self.take(&format!("{prefix}.weight"), &[outs, in_features])?);
            if bias {
                biases.extend(self.vector(&format!("{prefix}.bias"), outs)?);
            }
        }
        let out_features: usize = parts.iter().map(|(_, outs)| outs).sum();
        let bias = bias.then_some(&biases[..]);
        if weights.iter().all(|w| matches!(w, Values::Bf16(_))) {
            let mut bits = Vec::with_capacity(out_features * in_features);
            for w in weights {
                if let Values::Bf16(w) = w {
                    bits.extend(w);
                }
            }
            Ok(Linear::from_torch_bf16(bits, bias, out_features, in_features))
        } else {
            let values: Vec<f32> = weights.into_iter().flat_map(Values::into_f32).collect();
            Ok(Linear::from_torch(&values, bias, out_features, in_features))
        }
    }
}

#[cfg(test)]
mod tests;
