//! The tantivy schema: a fast `key` field and one or two analyzed text fields.
//!
//! Nothing is stored: the engine keeps the texts, this index only needs postings, term
//! frequencies and field norms for BM25, plus the key as a fast field (read per matching
//! document by the collector) that is also indexed (so `upsert` and `delete` can delete by
//! key term). Positions are not indexed, since queries are bags of terms, never phrases.

use std::path::Path;

use tantivy::schema::{
    FAST, Field, FieldType, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};

use crate::analyzer::tokenizer_name;
use crate::collector::KEY_FIELD;
use crate::{Bm25Config, Bm25Params, Error, FieldMode};

/// The one text field of [`FieldMode::Concatenated`]: `title + " " + text`.
pub(crate) const BODY_FIELD: &str = "body";
/// The title field of [`FieldMode::Multifield`].
pub(crate) const TITLE_FIELD: &str = "title";
/// The text field of [`FieldMode::Multifield`].
pub(crate) const TEXT_FIELD: &str = "text";

/// The fields of an index, resolved against its schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// The chunk key (`u64`, fast and indexed).
    pub(crate) key: Field,
    /// Where title and text go.
    pub(crate) text: TextFields,
}

/// The text fields of an index, by [`FieldMode`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum TextFields {
    /// One field holding `title + " " + text`.
    Concatenated {
        /// The field.
        body: Field,
    },
    /// Title and text apart.
    Multifield {
        /// The title field.
        title: Field,
        /// The text field.
        text: Field,
    },
}

impl TextFields {
    /// The fields every query term is looked up in, each with its BM25 weight.
    pub(crate) fn searched(&self, params: &Bm25Params) -> Vec<(Field, f32)> {
        match *self {
            TextFields::Concatenated { body } => vec![(body, 1.0)],
            TextFields::Multifield { title, text } => {
                vec![(title, params.title_weight), (text, 1.0)]
            }
        }
    }
}

/// The schema of a new index with `config`.
pub(crate) fn build_schema(config: &Bm25Config) -> Schema {
    let mut builder = Schema::builder();
    builder.add_u64_field(KEY_FIELD, INDEXED | FAST);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer_name(config))
        .set_index_option(IndexRecordOption::WithFreqs)
        .set_fieldnorms(true);
    let text_options = TextOptions::default().set_indexing_options(indexing);
    match config.fields {
        FieldMode::Concatenated => {
            builder.add_text_field(BODY_FIELD, text_options);
        }
        FieldMode::Multifield => {
            builder.add_text_field(TITLE_FIELD, text_options.clone());
            builder.add_text_field(TEXT_FIELD, text_options);
        }
    }
    builder.build()
}

/// Finds the fields that `config` calls for in `schema`, checking that each has the right
/// type and, for text, the analyzer of `config`; `dir` is only for error messages.
pub(crate) fn resolve_fields(
    schema: &Schema,
    config: &Bm25Config,
    dir: &Path,
) -> crate::Result<Fields> {
    let key = lookup(schema, KEY_FIELD, dir, |field_type| match field_type {
        FieldType::U64(options) => options.is_fast() && options.is_indexed(),
        _ => false,
    })?;
    let tokenizer = tokenizer_name(config);
    let is_our_text = |field_type: &FieldType| match field_type {
        FieldType::Str(options) => {
            options.get_indexing_options().is_some_and(|indexing| indexing.tokenizer() == tokenizer)
        }
        _ => false,
    };
    let text = match config.fields {
        FieldMode::Concatenated => {
            TextFields::Concatenated { body: lookup(schema, BODY_FIELD, dir, is_our_text)? }
        }
        FieldMode::Multifield => TextFields::Multifield {
            title: lookup(schema, TITLE_FIELD, dir, is_our_text)?,
            text: lookup(schema, TEXT_FIELD, dir, is_our_text)?,
        },
    };
    Ok(Fields { key, text })
}

fn lookup(
    schema: &Schema,
    name: &'static str,
    dir: &Path,
    is_expected: impl Fn(&FieldType) -> bool,
) -> crate::Result<Field> {
    let mismatch = || Error::SchemaMismatch { path: dir.to_path_buf(), field: name };
    let field = schema.get_field(name).map_err(|_| mismatch())?;
    if is_expected(schema.get_field_entry(field).field_type()) {
        Ok(field)
    } else {
        Err(mismatch())
    }
}
