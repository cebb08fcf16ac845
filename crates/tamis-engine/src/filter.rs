//! Metadata filters: parsed once from an expression, evaluated per document.
//!
//! Syntax (keywords case-insensitive, `and` binds tighter than `or`):
//!
//! ```text
//! expr   := and ("or" and)*
//! and    := unary ("and" unary)*
//! unary  := "not" unary | "(" expr ")" | "exists(" path ")" | path op value | path "in" "[" value ("," value)* "]"
//! op     := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//! path   := name ("." name)*          value := "string" | 'string' | number | true | false
//! ```
//!
//! Equality against an array field matches when any element equals (`tags = "x"`).
//! Ranges compare numbers with numbers and strings with strings (ISO dates sort as text);
//! a missing field never matches a comparison, and `!=` is `not (=)`.
//!
//! [`FilterLimits`] bound an expression's nesting, comparisons and length while it is
//! parsed; `and`/`or` chains become balanced trees, so every walk over a parsed filter
//! recurses at most a few hundred levels with the default limits.

use serde_json::Value;

use crate::{Error, Result};

mod limits;

pub use limits::{FilterLimit, FilterLimits};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both sides match.
    And(Box<Filter>, Box<Filter>),
    /// Either side matches.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not match.
    Not(Box<Filter>),
    /// The field is present and not null.
    Exists(Vec<String>),
    /// The field compares to the value.
    Compare {
        /// Path into the metadata object.
        path: Vec<String>,
        /// The comparison.
        op: CompareOp,
        /// The literal.
        value: Value,
    },
    /// The field equals one of the values.
    In {
        /// Path into the metadata object.
        path: Vec<String>,
        /// The literals.
        values: Vec<Value>,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=` / `==`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Filter {
    /// Parses an expression such as `lang = "en" and (year >= 2010 or tags in ["a", "b"])`
    /// within the default [`FilterLimits`].
    pub fn parse(expression: &str) -> Result<Filter> {
        Filter::parse_with(expression, &FilterLimits::default())
    }

    /// Parses an expression within `limits` (validated here too, so that no caller can
    /// lift the bound on recursion): [`Error::FilterTooLarge`] beyond them.
    pub fn parse_with(expression: &str, limits: &FilterLimits) -> Result<Filter> {
        limits.validate()?;
        if expression.len() > limits.max_bytes {
            return Err(Error::FilterTooLarge { limit: FilterLimit::Bytes, max: limits.max_bytes });
        }
        let tokens = lex(expression)?;
        let mut parser = Parser {
            tokens,
            position: 0,
            end: expression.chars().count(),
            limits: *limits,
            depth: 0,
            terms: 0,
        };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some((at, token)) => Err(parser.error(at, format!("unexpected {}", token.describe()))),
        }
    }

    /// Whether a document with `metadata` (a JSON object, or null when it has none) passes.
    pub fn matches(&self, metadata: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(metadata) && b.matches(metadata),
            Filter::Or(a, b) => a.matches(metadata) || b.matches(metadata),
            Filter::Not(inner) => !inner.matches(metadata),
            Filter::Exists(path) => lookup(metadata, path).is_some_and(|v| !v.is_null()),
            Filter::Compare { path, op, value } => {
                lookup(metadata, path).is_some_and(|field| compare_any(field, *op, value))
            }
            Filter::In { path, values } => lookup(metadata, path)
                .is_some_and(|field| values.iter().any(|v| compare_any(field, CompareOp::Eq, v))),
        }
    }
}

fn lookup<'a>(metadata: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(metadata, |value, name| value.get(name))
}

/// Compares a field to a literal; an array field matches when any element does.
fn compare_any(field: &Value, op: CompareOp, literal: &Value) -> bool {
    match field {
        Value::Array(items) => items.iter().any(|item| compare(item, op, literal)),
        _ => compare(field, op, literal),
    }
}

fn compare(field: &Value, op: CompareOp, literal: &Value) -> bool {
    let ordering = match (field, literal) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if op == CompareOp::Eq => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ordering) = ordering else { return false };
    use std::cmp::Ordering::*;
    match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Literal(Value),
    Op(&'static str),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Name(name) => format!("'{name}'"),
            Token::Literal(value) => format!("value {value}"),
            Token::Op(op) => format!("'{op}'"),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::OpenBracket => "'['".into(),
            Token::CloseBracket => "']'".into(),
            Token::Comma => "','".into(),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Name(name) if name.eq_ignore_ascii_case(keyword))
    }
}

/// Splits the expression into tokens with their character positions.
fn lex(expression: &str) -> Result<Vec<(usize, Token)>> {
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let error =
        |position, message: &str| Error::InvalidFilter { position, message: message.into() };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let token = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Token::Open,
            ')' => Token::Close,
            '[' => Token::OpenBracket,
            ']' => Token::CloseBracket,
            ',' => Token::Comma,
            '"' | '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(error(start, "unterminated string")),
                        Some('\\') => {
                            text.extend(chars.get(i + 1));
                            i += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&other) => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                Token::Literal(Value::String(text))
            }
            '=' | '!' | '<' | '>' => {
                let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = match two.as_str() {
                    "==" => "==",
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => match c {
                        '=' => "=",
                        '<' => "<",
                        '>' => ">",
                        _ => return Err(error(start, "expected '!='")),
                    },
                };
                i += op.chars().count() - 1;
                Token::Op(op)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut end = i + 1;
                while end < chars.len()
                    && (chars[end].is_ascii_alphanumeric() || ".+-".contains(chars[end]))
                {
                    end += 1;
                }
                let text: String = chars[i..end].iter().collect();
                let number: serde_json::Number =
                    text.parse().map_err(|_| error(start, &format!("'{text}' is not a number")))?;
                i = end - 1;
                Token::Literal(Value::Number(number))
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut end = i + 1;
                while end < chars.len()
                    && (chars[end].is_alphanumeric() || "_.-".contains(chars[end]))
                {
                    end += 1;
                }
                let word: String = chars[i..end].iter().collect();
                i = end - 1;
                match word.as_str() {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    _ => Token::Name(word),
                }
            }
            other => return Err(error(start, &format!("unexpected character '{other}'"))),
        };
        tokens.push((start, token));
        i += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    position: usize,
    /// Length of the expression, reported when it ends too early.
    end: usize,
    limits: FilterLimits,
    /// Parentheses and `not`s open around the current token.
    depth: usize,
    /// Comparisons, `exists` and `in` values read so far.
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<(usize, &Token)> {
        self.tokens.get(self.position).map(|(at, t)| (*at, t))
    }

    fn next(&mut self, expected: &str) -> Result<(usize, Token)> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token.ok_or_else(|| self.error(self.end, format!("expected {expected}, found the end")))
    }

    fn error(&self, position: usize, message: String) -> Error {
        Error::InvalidFilter { position, message }
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek().is_some_and(|(_, t)| t.is_keyword(keyword));
        self.position += usize::from(found);
        found
    }

    fn expect(&mut self, wanted: Token) -> Result<()> {
        let (at, token) = self.next(&wanted.describe())?;
        if token == wanted {
            Ok(())
        } else {
            Err(self
                .error(at, format!("expected {}, found {}", wanted.describe(), token.describe())))
        }
    }

    fn or(&mut self) -> Result<Filter> {
        let mut operands = vec![self.and()?];
        while self.eat_keyword("or") {
            operands.push(self.and()?);
        }
        Ok(balanced(operands, Filter::Or))
    }

    fn and(&mut self) -> Result<Filter> {
        let mut operands = vec![self.unary()?];
        while self.eat_keyword("and") {
            operands.push(self.unary()?);
        }
        Ok(balanced(operands, Filter::And))
    }

    /// Opens a level of parentheses or `not`, before the parser recurses into it.
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(Error::FilterTooLarge {
                limit: FilterLimit::Depth,
                max: self.limits.max_depth,
            });
        }
        Ok(())
    }

    /// Counts one more comparison, `exists` or `in` value.
    fn count_term(&mut self) -> Result<()> {
        self.terms += 1;
        if self.terms > self.limits.max_terms {
            return Err(Error::FilterTooLarge {
                limit: FilterLimit::Terms,
                max: self.limits.max_terms,
            });
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Filter> {
        if self.eat_keyword("not") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        let (at, token) = self.next("a field name, 'not', 'exists' or '('")?;
        match token {
            Token::Open => {
                self.enter()?;
                let inner = self.or()?;
                self.expect(Token::Close)?;
                self.depth -= 1;
                Ok(inner)
            }
            Token::Name(name) if name.eq_ignore_ascii_case("exists") => {
                self.expect(Token::Open)?;
                let path = self.path()?;
                self.expect(Token::Close)?;
                self.count_term()?;
                Ok(Filter::Exists(path))
            }
            Token::Name(name) => {
                let path = split_path(&name, at)?;
                self.comparison(path)
            }
            other => {
                Err(self.error(at, format!("expected a field name, found {}", other.describe())))
            }
        }
    }

    fn path(&mut self) -> Result<Vec<String>> {
        match self.next("a field name")? {
            (at, Token::Name(name)) => split_path(&name, at),
            (at, other) => {
                Err(self.error(at, format!("expected a field name, found {}", other.describe())))
            }
        }
    }

    fn comparison(&mut self, path: Vec<String>) -> Result<Filter> {
        if self.eat_keyword("in") {
            self.expect(Token::OpenBracket)?;
            self.count_term()?;
            let mut values = vec![self.literal()?];
            loop {
                match self.next("',' or ']'")? {
                    (_, Token::Comma) => {
                        self.count_term()?;
                        values.push(self.literal()?);
                    }
                    (_, Token::CloseBracket) => break,
                    (at, other) => {
                        return Err(self.error(
                            at,
                            format!("expected ',' or ']', found {}", other.describe()),
                        ));
                    }
                }
            }
            return Ok(Filter::In { path, values });
        }
        let (at, token) = self.next("a comparison such as '=' or 'in'")?;
        self.count_term()?;
        let op = match token {
            Token::Op("=" | "==") => CompareOp::Eq,
            Token::Op("!=") => {
                let value = self.literal()?;
                return Ok(Filter::Not(Box::new(Filter::Compare {
                    path,
                    op: CompareOp::Eq,
                    value,
                })));
            }
            Token::Op("<") => CompareOp::Lt,
            Token::Op("<=") => CompareOp::Le,
            Token::Op(">") => CompareOp::Gt,
            Token::Op(">=") => CompareOp::Ge,
            other => {
                return Err(self.error(
                    at,
                    format!(
                        "expected a comparison such as '=' or 'in', found {}",
                        other.describe()
                    ),
                ));
            }
        };
        Ok(Filter::Compare { path, op, value: self.literal()? })
    }

    fn literal(&mut self) -> Result<Value> {
        match self.next("a value")? {
            (_, Token::Literal(value)) => Ok(value),
            (at, other) => Err(self.error(
                at,
                format!(
                    "expected a value (a quoted string, a number, true or false), found {}",
                    other.describe()
                ),
            )),
        }
    }
}

/// `operands` joined pairwise, level by level: ⌈log2 n⌉ levels deep rather than n, so a
/// long chain adds little depth to the walks over the tree and to the SQL it becomes.
/// The operands keep their order (`and` and `or` are associative, and evaluation has no
/// side effects, so the grouping changes no result).
fn balanced(mut operands: Vec<Filter>, join: fn(Box<Filter>, Box<Filter>) -> Filter) -> Filter {
    while operands.len() > 1 {
        let mut joined = Vec::with_capacity(operands.len().div_ceil(2));
        let mut rest = operands.into_iter();
        while let Some(left) = rest.next() {
            joined.push(match rest.next() {
                Some(right) => join(Box::new(left), Box::new(right)),
                None => left,
            });
        }
        operands = joined;
    }
    operands.pop().expect("a chain has at least one operand: this is a bug")
}

fn split_path(name: &str, at: usize) -> Result<Vec<String>> {
    let parts: Vec<String> = name.split('.').map(str::to_string).collect();
    if parts.iter().any(String::is_empty) {
        return Err(Error::InvalidFilter {
            position: at,
            message: format!("'{name}' is not a field path"),
        });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests;
