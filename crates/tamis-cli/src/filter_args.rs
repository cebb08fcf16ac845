//! Flags that bound a filter expression, shared by `tamis search` and `tamis serve`.

use clap::Args;
use tamis_engine::filter::FilterLimits;

/// Bounds on `--filter` (and on the server's `filter` fields): a filter beyond them is
/// refused before it is evaluated (the CLI exits 65, the server answers 400).
#[derive(Debug, Args)]
pub struct FilterLimitArgs {
    /// Most levels of parentheses and `not` in a filter (1 to 128); `and`/`or` chains do
    /// not count. The default keeps every accepted filter within SQLite's and
    /// PostgreSQL's expression limits.
    #[arg(long, default_value_t = FilterLimits::default().max_depth, value_name = "N")]
    max_filter_depth: usize,

    /// Most comparisons in a filter, each `exists` and each value of an `in` list counting
    /// one (1 to 10000).
    #[arg(long, default_value_t = FilterLimits::default().max_terms, value_name = "N")]
    max_filter_terms: usize,

    /// Longest filter expression, in bytes.
    #[arg(long, default_value_t = FilterLimits::default().max_bytes, value_name = "BYTES")]
    max_filter_bytes: usize,
}

impl FilterLimitArgs {
    /// The limits as given; [`FilterLimits::validate`] checks them.
    pub fn limits(&self) -> FilterLimits {
        FilterLimits {
            max_depth: self.max_filter_depth,
            max_terms: self.max_filter_terms,
            max_bytes: self.max_filter_bytes,
        }
    }
}
