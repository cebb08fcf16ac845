#!/usr/bin/env bash
# Builds the tamis Python package (python/, PyO3 + maturin) as a release wheel and installs it into the peers
# venv, for bench.py's tamis-py engine. Rebuild the CLI first (cargo build --release -p tamis-cli) when comparing
# the two: both builds share target/release.
#
# Usage: scripts/bench/peers/install_tamis_py.sh [DIST_DIR]
#   DIST_DIR  where the wheel is written (default target/peers-wheel)
# Environment: PEERS_VENV (default .venv-peers in the repo; it needs maturin, see requirements.txt)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${PEERS_VENV:-$repo/.venv-peers}"
dist="${1:-$repo/target/peers-wheel}"
[ -x "$venv/bin/maturin" ] || { echo "error: no maturin in $venv (pip install -r $here/requirements.txt)" >&2; exit 2; }
mkdir -p "$dist"
rm -f "$dist"/tamis-*.whl
(cd "$repo/python" && PATH="$venv/bin:$PATH" maturin build --release --out "$dist")
wheel="$(ls "$dist"/tamis-*.whl)"
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheel"
"$venv/bin/python" -m pip install --quiet numpy tqdm   # the package's own dependencies (already there with requirements.txt)
"$venv/bin/python" -c 'import tamis; print("installed tamis", tamis.__version__, "from", tamis.__file__)'
