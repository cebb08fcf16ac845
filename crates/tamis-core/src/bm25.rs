//! BM25's parameters, shared by every backend that scores with BM25.

/// How BM25 scores a document: the term-frequency saturation `k1`, the length
/// normalization `b` and the weight of the title field.
///
/// A query term `t` found `tf` times in a field of `dl` tokens scores
///
/// ```text
/// weight · idf(t) · (k1 + 1) · tf / (tf + k1 · (1 − b + b · dl / avgdl))
/// idf(t) = ln(1 + (N − n + 0.5) / (n + 0.5))
/// ```
///
/// with `N` the documents in the index, `n` those containing `t` in that field, `avgdl`
/// the field's mean length over all `N` documents, and `weight` the field's weight
/// (`title_weight` for the title, 1 for the text); a document's score is the sum over the
/// query's terms (a repeated term counts again) and fields. This is Robertson's form, as
/// tantivy writes it: Lucene and `bm25s` leave out the `(k1 + 1)` factor, which scales
/// every score alike and changes no ranking. `dl` is stored rounded down to one of 256
/// lengths (exact up to 40 tokens, then within 11 %), as Lucene and tantivy do.
///
/// The parameters are applied at query time, so a search can try others on the same
/// index (what `tamis eval` sweeps do).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bm25Params {
    /// Term-frequency saturation, `≥ 0` (0: a term counts once however often it occurs).
    pub k1: f32,
    /// Length normalization, in `[0, 1]` (0: length is ignored; 1: fully normalized).
    pub b: f32,
    /// The title field's weight against the text field's 1, `> 0`. Only an index that keeps
    /// title and text apart has a title field: one that concatenates them scores its one
    /// field with weight 1 and does not use this.
    pub title_weight: f32,
}

impl Bm25Params {
    /// tantivy's fixed `k1 = 1.2`, `b = 0.75`, with equal field weights: what indexes made
    /// before the parameters were settable are scored with.
    pub const LEGACY: Bm25Params = Bm25Params { k1: 1.2, b: 0.75, title_weight: 1.0 };

    /// These parameters with each one given replaced; `None` when none is given (a
    /// search's overrides of an index's parameters).
    pub fn overridden(
        &self,
        k1: Option<f32>,
        b: Option<f32>,
        title_weight: Option<f32>,
    ) -> Option<Bm25Params> {
        if k1.is_none() && b.is_none() && title_weight.is_none() {
            return None;
        }
        Some(Bm25Params {
            k1: k1.unwrap_or(self.k1),
            b: b.unwrap_or(self.b),
            title_weight: title_weight.unwrap_or(self.title_weight),
        })
    }

    /// Checks the ranges: `k1 ≥ 0`, `0 ≤ b ≤ 1`, `title_weight > 0`, all finite.
    pub fn validate(&self) -> Result<(), InvalidBm25Param> {
        let invalid = |name: &'static str, value: f32, expected: &'static str| {
            Err(InvalidBm25Param { name, value, expected })
        };
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return invalid("k1", self.k1, "a finite number ≥ 0, such as 0.9 or 1.2");
        }
        if !(0.0..=1.0).contains(&self.b) {
            return invalid("b", self.b, "a number from 0 to 1, such as 0.4 or 0.75");
        }
        if !(self.title_weight.is_finite() && self.title_weight > 0.0) {
            return invalid("title_weight", self.title_weight, "a finite number > 0, such as 2");
        }
        Ok(())
    }
}

/// `k1 = 1.2`, `b = 0.75`, `title_weight = 0.5`: chosen by a grid over k1, b and the title
/// weight on NFCorpus and Cranfield (`bench/runs/2026-12-05-epyc-2core/bm25-params.md`).
/// k1 and b are Lucene's and tantivy's: nothing else in the grid did better on both
/// datasets by more than the spread between queries. Halving the title's weight did: the
/// title's terms mostly repeat the text's, and at full weight they count twice.
impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75, title_weight: 0.5 }
    }
}

/// `{"k1": …, "b": …, "title_weight": …}`, each written as the shortest decimal that reads
/// back as the same `f32` (0.9, not the 0.8999999761581421 a widening to `f64` gives).
impl serde::Serialize for Bm25Params {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let decimal = |value: f32| value.to_string().parse::<f64>().unwrap_or(f64::from(value));
        let mut out = serializer.serialize_struct("Bm25Params", 3)?;
        out.serialize_field("k1", &decimal(self.k1))?;
        out.serialize_field("b", &decimal(self.b))?;
        out.serialize_field("title_weight", &decimal(self.title_weight))?;
        out.end()
    }
}

/// The length BM25 sees for a field of `len` terms: `len` rounded down to one of 256 values,
/// so that an index stores it in one byte. Exact up to 40, then 8 values per doubling (42,
/// 44, …, 56, 60, …), so at most 11 % below `len`; the largest is 2,013,265,944.
///
/// This is Lucene's `SmallFloat.intToByte4` / `byte4ToInt`, which tantivy stores field
/// norms with; every backend scores with it, so that scores agree across backends.
///
/// ```
/// use tamis_core::stored_length;
///
/// assert_eq!(stored_length(40), 40);
/// assert_eq!((stored_length(41), stored_length(59), stored_length(60)), (40, 56, 60));
/// ```
pub fn stored_length(len: u32) -> u32 {
    // The largest code whose value does not exceed `len` (values grow with the code).
    let code = (0..=u8::MAX).rev().find(|&code| decode_length(code) <= len).unwrap_or(0);
    decode_length(code)
}

/// The length a one-byte code stands for: codes below 24 stand for themselves, the others
/// for 24 plus a 4-bit float (3 mantissa bits, an implicit leading one, 5 exponent bits).
fn decode_length(code: u8) -> u32 {
    const EXACT: u8 = 24;
    if code < EXACT {
        return u32::from(code);
    }
    let packed = u32::from(code - EXACT);
    let mantissa = packed & 7;
    let value = match (packed >> 3).checked_sub(1) {
        None => mantissa,
        Some(shift) => (mantissa | 8) << shift,
    };
    value + u32::from(EXACT)
}

/// A BM25 parameter out of its range (see [`Bm25Params::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("BM25 {name} = {value} is invalid: expected {expected}")]
pub struct InvalidBm25Param {
    /// The parameter (`k1`, `b`, `title_weight`).
    pub name: &'static str,
    /// The value given.
    pub value: f32,
    /// What it may be.
    pub expected: &'static str,
}
