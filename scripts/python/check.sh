#!/usr/bin/env bash
# Installs the Python package from the source tree as a user would (`pip install ./python`:
# maturin builds crates/tamis-py into a wheel and pip installs it) into a fresh venv, with
# sentence-transformers from PyPI beside it, and runs the package's tests (python/tests),
# which compare tamis with sentence-transformers on the shared models.
# Usage: scripts/python/check.sh   (needs python3 >= 3.9, cargo, ../shared or TAMIS_SHARED_DIR, the CLI
# built (target/debug/tamis, or TAMIS_BIN: the index tests compare with it) and TAMIS_PG_URL: run it
# as scripts/test.sh does, under scripts/postgres/with-postgres.sh after `cargo test`)
# The wheel is built in cargo's dev profile (dependencies optimized, as the workspace sets it),
# reusing what `cargo test` compiled; `pip install ./python` alone builds the release profile.
set -euo pipefail
cd "$(dirname "$0")/../.."

shared="${TAMIS_SHARED_DIR:-../shared}"
[ -d "$shared/models" ] || { echo "python check: $shared/models not found (set TAMIS_SHARED_DIR)" >&2; exit 1; }
export TAMIS_SHARED_DIR="$(cd "$shared" && pwd)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# As if activated: maturin's build backend runs the `maturin` it finds on PATH.
export PATH="$work/venv/bin:$PATH"
pip="$work/venv/bin/pip"
# The reference stack, locked and without torch's CUDA wheels (see the file); no cache, no
# byte-compiling: CI's disk and time are the scarce resources.
"$pip" install --quiet --no-cache-dir --no-compile --no-deps -r scripts/parity/export-requirements.txt
"$pip" install --quiet --no-cache-dir -r python/tests/requirements.txt

echo "-- pip install ./python"
MATURIN_PEP517_ARGS="--profile dev" "$pip" install --no-cache-dir --no-build-isolation ./python

echo "-- pytest python/tests"
# From the work folder, so `import tamis` finds the installed wheel and not the source tree.
cd "$work"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/python/tests"
