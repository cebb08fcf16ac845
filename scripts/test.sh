#!/usr/bin/env bash
# The project's test command (README "Test", run by CI): the workspace's Rust tests and the
# Python package's tests, with a throw-away PostgreSQL server for both (with-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/postgres/with-postgres.sh bash -c 'cargo test --workspace --locked && scripts/python/check.sh'
