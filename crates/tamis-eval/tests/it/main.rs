//! Integration tests of tamis-eval: parity with pytrec_eval on committed fixtures, and the
//! shared BEIR datasets loaded whole.
//!
//! The fixtures come from `scripts/eval/generate_fixture.py`; the datasets from
//! `shared/datasets/`, found by `tamis_testkit` (a test fails saying where it looked when
//! they are missing).

// Test helpers fail by panicking, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod datasets;
mod pytrec;
