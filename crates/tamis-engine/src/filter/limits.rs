//! How large a filter may be: checked while parsing, so that nothing after the parser
//! (evaluation, the SQL translations, dropping the tree) ever sees a tree it cannot take.

use crate::{Error, Result};

/// Bounds on a filter expression, enforced by [`Filter::parse_with`](super::Filter::parse_with)
/// before anything recurses over the parsed tree.
///
/// A filter comes from whoever may search (a read-only API key, a `--filter` flag), and
/// every walk over it (the parser, [`Filter::matches`](super::Filter::matches), the SQLite
/// and PostgreSQL translations, `Drop`) recurses once per level: without these bounds a
/// 4 KB body of parentheses overflows the thread's stack and aborts the process.
///
/// - `max_depth` (default 32) counts the nesting of parentheses and `not`: the parser's
///   own recursion. `and`/`or` chains do not nest: the parser builds them as balanced
///   trees, ⌈log2 n⌉ levels for n operands, and the SQL translations keep that shape.
/// - `max_terms` (default 1000) counts comparisons, `exists` and every value of an `in`
///   list: each is one condition (and up to two bound parameters) in SQL.
/// - `max_bytes` (default 65536) bounds the expression's length before it is read.
///
/// Why the defaults run in both backends: the parsed tree is at most
/// `max_depth + 2 × (max_depth + 1) × ⌈log2 max_terms⌉ + 2` levels deep (each level of
/// parentheses opens one `or` and one `and` chain, each at most ⌈log2 max_terms⌉ levels
/// deep; a `not` adds one level; a `!=` leaf is two), 32 + 66 × 10 + 2 = 694 with the
/// defaults. The SQLite translation costs one expression level per tree level and, for a
/// leaf, 13 (the `EXISTS` subquery over `json_each`, measured) plus ⌈log2 n⌉ for an `in`
/// list of n values (a balanced `OR`): at most 694 + 13 + 10 = 717 levels, below SQLite's
/// `SQLITE_MAX_EXPR_DEPTH` (1000).
/// PostgreSQL refuses an expression only when it exhausts `max_stack_depth` (2 MB by
/// default), thousands of levels; both are tested at the limits (`filters_at_the_limits_*`
/// in the embedded store's and the PostgreSQL backend's tests). At most 2 × `max_terms`
/// parameters are bound, far below SQLite's 32766 and PostgreSQL's 65535.
///
/// A filter a database still refuses (limits raised towards the [ceilings](Self::CEILING),
/// or a tree built by hand) is reported as [`Error::FilterTooComplex`], a user error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// Most levels of parentheses and `not`.
    pub max_depth: usize,
    /// Most comparisons, `exists` and `in` values.
    pub max_terms: usize,
    /// Longest expression, in bytes.
    pub max_bytes: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits { max_depth: 32, max_terms: 1000, max_bytes: 64 * 1024 }
    }
}

impl FilterLimits {
    /// The highest limits [`validate`](Self::validate) accepts. At these the parsed tree
    /// is at most 128 + 258 × 14 + 2 = 3742 levels deep, which every walk over it takes
    /// on a 1 MiB stack in a debug build (`the_ceilings_fit_a_small_stack` in the
    /// filter's tests); the bytes are not capped, since the length costs time, not stack.
    pub const CEILING: FilterLimits =
        FilterLimits { max_depth: 128, max_terms: 10_000, max_bytes: usize::MAX };

    /// Checks that every limit is between 1 and its [ceiling](Self::CEILING).
    pub fn validate(&self) -> Result<()> {
        for (limit, value, ceiling) in [
            (FilterLimit::Depth, self.max_depth, Self::CEILING.max_depth),
            (FilterLimit::Terms, self.max_terms, Self::CEILING.max_terms),
            (FilterLimit::Bytes, self.max_bytes, Self::CEILING.max_bytes),
        ] {
            if !(1..=ceiling).contains(&value) {
                return Err(Error::InvalidFilterLimit { limit, value, ceiling });
            }
        }
        Ok(())
    }

    /// The value of one limit.
    pub fn get(&self, limit: FilterLimit) -> usize {
        match limit {
            FilterLimit::Depth => self.max_depth,
            FilterLimit::Terms => self.max_terms,
            FilterLimit::Bytes => self.max_bytes,
        }
    }
}

/// One of the [`FilterLimits`], as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterLimit {
    /// [`FilterLimits::max_depth`].
    Depth,
    /// [`FilterLimits::max_terms`].
    Terms,
    /// [`FilterLimits::max_bytes`].
    Bytes,
}

impl FilterLimit {
    /// The setting's name, as in a configuration.
    pub fn name(self) -> &'static str {
        match self {
            FilterLimit::Depth => "max_filter_depth",
            FilterLimit::Terms => "max_filter_terms",
            FilterLimit::Bytes => "max_filter_bytes",
        }
    }

    /// The flag of `tamis serve` and `tamis search` that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            FilterLimit::Depth => "--max-filter-depth",
            FilterLimit::Terms => "--max-filter-terms",
            FilterLimit::Bytes => "--max-filter-bytes",
        }
    }

    /// What exceeding `max` means, for an error message.
    pub(crate) fn exceeded(self, max: usize) -> String {
        match self {
            FilterLimit::Depth => format!("nests parentheses and 'not' more than {max} deep"),
            FilterLimit::Terms => {
                format!("has more than {max} comparisons, counting each 'in' value")
            }
            FilterLimit::Bytes => format!("is longer than {max} bytes"),
        }
    }
}
