//! Metadata filters as PostgreSQL conditions over a `jsonb` column, so the database
//! selects the allowed rows (inside the HNSW scan, or before an exact one).
//!
//! The translation keeps [`Filter::matches`]' semantics exactly (the integration tests
//! compare the two on the same documents): one level of array elements is searched, numbers
//! compare as `float8` (Rust compares them as `f64`), text compares byte-wise (`COLLATE
//! "C"`, like Rust's `str`), booleans only compare for equality, a missing field never
//! matches. Every condition is true or false, never NULL, so `NOT` stays the complement.
//!
//! The SQL nests as the parsed tree does, which
//! [`FilterLimits`](tamis_engine::filter::FilterLimits) bound; a filter PostgreSQL refuses
//! anyway (its parser's stack, `max_stack_depth`) becomes
//! [`FilterTooComplex`](tamis_engine::Error::FilterTooComplex) in the backend.

use postgres::types::{ToSql, Type};
use serde_json::Value;
use tamis_engine::filter::{CompareOp, Filter};

/// A condition and its parameters with their types (so that a query needs no round trip
/// to prepare); placeholders are numbered from the `first` given to [`condition`].
#[derive(Debug)]
pub(crate) struct Condition {
    pub sql: String,
    pub params: Vec<(Box<dyn ToSql + Sync + Send>, Type)>,
    next: usize,
}

impl Condition {
    fn param(&mut self, value: impl ToSql + Sync + Send + 'static, ty: Type) -> String {
        self.params.push((Box::new(value), ty));
        let placeholder = format!("${}", self.next);
        self.next += 1;
        placeholder
    }

    /// The parameters as `query_typed` takes them.
    pub fn typed(&self) -> impl Iterator<Item = (&(dyn ToSql + Sync), Type)> {
        self.params.iter().map(|(value, ty)| (value.as_ref() as &(dyn ToSql + Sync), ty.clone()))
    }
}

/// `filter` as a condition on the jsonb expression `column`, with placeholders `$first`…
pub(crate) fn condition(filter: &Filter, column: &str, first: usize) -> Condition {
    let mut out = Condition { sql: String::new(), params: Vec::new(), next: first };
    write(filter, column, &mut out);
    out
}

fn write(filter: &Filter, column: &str, out: &mut Condition) {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            let joiner = if matches!(filter, Filter::And(..)) { " AND " } else { " OR " };
            out.sql.push('(');
            write(a, column, out);
            out.sql.push_str(joiner);
            write(b, column, out);
            out.sql.push(')');
        }
        Filter::Not(inner) => {
            out.sql.push_str("(NOT ");
            write(inner, column, out);
            out.sql.push(')');
        }
        Filter::Exists(path) => {
            let path = out.param(path.clone(), Type::TEXT_ARRAY);
            out.sql.push_str(&format!(
                "(coalesce(jsonb_typeof({column} #> {path}::text[]) <> 'null', false))"
            ));
        }
        Filter::Compare { path, op, value } => {
            element_match(path, column, out, |out| compare(*op, value, out));
        }
        Filter::In { path, values } => element_match(path, column, out, |out| {
            out.sql.push('(');
            for (value_idx, value) in values.iter().enumerate() {
                if value_idx > 0 {
                    out.sql.push_str(" OR ");
                }
                compare(CompareOp::Eq, value, out);
            }
            if values.is_empty() {
                out.sql.push_str("false");
            }
            out.sql.push(')');
        }),
    }
}

/// `EXISTS` over the field's value, or its elements when it is an array. A missing field
/// is `[null]`, which no comparison matches.
fn element_match(
    path: &[String],
    column: &str,
    out: &mut Condition,
    condition: impl FnOnce(&mut Condition),
) {
    let path = out.param(path.to_vec(), Type::TEXT_ARRAY);
    let field = format!("({column} #> {path}::text[])");
    out.sql.push_str(&format!(
        "(EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({field}) = 'array' \
         THEN {field} ELSE jsonb_build_array({field}) END) AS element(value) WHERE "
    ));
    condition(out);
    out.sql.push_str("))");
}

/// One element against one literal, with [`Filter::matches`]' typing rules.
fn compare(op: CompareOp, literal: &Value, out: &mut Condition) {
    let operator = match op {
        CompareOp::Eq => "=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    };
    match literal {
        Value::Number(number) => match number.as_f64() {
            Some(float) => {
                let param = out.param(float, Type::FLOAT8);
                // CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and
                // casting a string to float8 fails.
                out.sql.push_str(&format!(
                    "(CASE WHEN jsonb_typeof(element.value) = 'number' \
                     THEN (element.value)::float8 {operator} {param}::float8 ELSE false END)"
                ));
            }
            None => out.sql.push_str("false"),
        },
        Value::String(text) => {
            let param = out.param(text.clone(), Type::TEXT);
            out.sql.push_str(&format!(
                "(CASE WHEN jsonb_typeof(element.value) = 'string' \
                 THEN (element.value #>> '{{}}') COLLATE \"C\" {operator} {param}::text COLLATE \"C\" \
                 ELSE false END)"
            ));
        }
        Value::Bool(flag) if op == CompareOp::Eq => {
            out.sql.push_str(if *flag {
                "(element.value = 'true'::jsonb)"
            } else {
                "(element.value = 'false'::jsonb)"
            });
        }
        // Null, arrays, objects and ordered booleans never compare.
        _ => out.sql.push_str("false"),
    }
}
