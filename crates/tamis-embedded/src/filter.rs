//! Filters as SQLite conditions over `documents.metadata`, so a filtered search reads
//! only the matching rows' keys instead of parsing every document's metadata in Rust.
//!
//! The translation keeps [`Filter::matches`]' semantics exactly (the tests compare the
//! two on the same documents): one level of array elements is searched with `json_each`,
//! numbers compare with numbers and text with text (SQLite's binary collation orders UTF-8
//! like Rust's `str`), booleans only compare for equality, a missing field never matches.
//! Every condition yields 0 or 1, never NULL, so `NOT` stays the complement.
//!
//! The SQL nests exactly as the parsed tree does (plus a few levels per comparison), so
//! [`FilterLimits`](tamis_engine::filter::FilterLimits) keep it within SQLite's expression
//! depth limit; what SQLite refuses anyway becomes
//! [`FilterTooComplex`](tamis_engine::Error::FilterTooComplex) in the store.

use rusqlite::types::Value as SqlValue;
use serde_json::Value;
use tamis_engine::filter::{CompareOp, Filter};

/// A condition on the `documents` table and its parameters, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SqlCondition {
    /// Refers to the table as `documents`.
    pub sql: String,
    /// Bound to the `?` placeholders in order.
    pub params: Vec<SqlValue>,
}

/// `filter` as a SQL condition, or `None` when a path cannot be written as a JSON path
/// (only filters built by hand can hold such names; the parser never makes them).
pub(crate) fn condition(filter: &Filter) -> Option<SqlCondition> {
    let mut condition = SqlCondition { sql: String::new(), params: Vec::new() };
    write(filter, &mut condition)?;
    Some(condition)
}

fn write(filter: &Filter, out: &mut SqlCondition) -> Option<()> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            let joiner = if matches!(filter, Filter::And(..)) { " AND " } else { " OR " };
            out.sql.push('(');
            write(a, out)?;
            out.sql.push_str(joiner);
            write(b, out)?;
            out.sql.push(')');
        }
        Filter::Not(inner) => {
            out.sql.push_str("(NOT ");
            write(inner, out)?;
            out.sql.push(')');
        }
        Filter::Exists(path) => {
            out.sql.push_str("(IFNULL(json_type(documents.metadata, ?) <> 'null', 0))");
            out.params.push(SqlValue::Text(json_path(path)?));
        }
        Filter::Compare { path, op, value } => {
            element_match(path, out, |out| compare(*op, value, out))?;
        }
        Filter::In { path, values } => {
            element_match(path, out, |out| any_of(values, out))?;
        }
    }
    Some(())
}

/// `EXISTS` over the field's value, or its elements when it is an array: `json_each` of
/// a scalar is that scalar with a NULL key; members of an object (text keys) never match.
fn element_match(
    path: &[String],
    out: &mut SqlCondition,
    condition: impl FnOnce(&mut SqlCondition),
) -> Option<()> {
    out.sql.push_str(
        "(EXISTS (SELECT 1 FROM json_each(documents.metadata, ?) AS element \
         WHERE (element.key IS NULL OR typeof(element.key) = 'integer') AND ",
    );
    out.params.push(SqlValue::Text(json_path(path)?));
    condition(out);
    out.sql.push_str("))");
    Some(())
}

/// The element equals one of `values`, as a balanced tree of `OR`s: SQLite parses a flat
/// `a OR b OR …` into one expression level per operand, and its depth limit (1000)
/// would refuse an `in` list of a thousand values.
fn any_of(values: &[Value], out: &mut SqlCondition) {
    match values {
        [] => out.sql.push('0'),
        [value] => compare(CompareOp::Eq, value, out),
        _ => {
            let (left, right) = values.split_at(values.len() / 2);
            out.sql.push('(');
            any_of(left, out);
            out.sql.push_str(" OR ");
            any_of(right, out);
            out.sql.push(')');
        }
    }
}

/// One element against one literal, with [`Filter::matches`]' typing rules.
fn compare(op: CompareOp, literal: &Value, out: &mut SqlCondition) {
    let operator = match op {
        CompareOp::Eq => "=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    };
    match literal {
        Value::Number(number) => {
            let param = match (number.as_i64(), number.as_f64()) {
                (Some(int), _) => SqlValue::Integer(int),
                (None, Some(float)) => SqlValue::Real(float),
                (None, None) => {
                    out.sql.push('0');
                    return;
                }
            };
            out.sql.push_str(&format!(
                "(element.type IN ('integer', 'real') AND element.atom {operator} ?)"
            ));
            out.params.push(param);
        }
        Value::String(text) => {
            out.sql.push_str(&format!("(element.type = 'text' AND element.atom {operator} ?)"));
            out.params.push(SqlValue::Text(text.clone()));
        }
        Value::Bool(flag) if op == CompareOp::Eq => {
            out.sql.push_str(if *flag {
                "(element.type = 'true')"
            } else {
                "(element.type = 'false')"
            });
        }
        // Null, arrays, objects and ordered booleans never compare.
        _ => out.sql.push('0'),
    }
}

/// `$."a"."b"`: quoted labels, so names with dots' neighbours (`-`, Unicode) are literal.
fn json_path(path: &[String]) -> Option<String> {
    let mut json_path = String::from("$");
    for name in path {
        if name.is_empty() || name.contains('"') {
            return None;
        }
        json_path.push_str(&format!(".\"{name}\""));
    }
    Some(json_path)
}
