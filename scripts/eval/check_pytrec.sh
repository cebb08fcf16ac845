#!/usr/bin/env bash
# End-to-end metric check: `tamis eval` on Cranfield (bm25, dense, hybrid) with real
# all-MiniLM-L6-v2, then pytrec_eval on the run files it wrote, query by query (1e-6).
# Usage: scripts/eval/check_pytrec.sh [TAMIS_BINARY]   (default: target/debug/tamis)
# Needs python3 (a venv with scripts/eval/requirements.txt is made under $TMPDIR) and the
# shared data (../shared or TAMIS_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."

tamis="${1:-target/debug/tamis}"
shared="${TAMIS_SHARED_DIR:-../shared}"
[ -x "$tamis" ] || { echo "check_pytrec: $tamis not found (build it first: cargo build -p tamis-cli)" >&2; exit 1; }
[ -d "$shared/datasets/cranfield" ] || { echo "check_pytrec: $shared/datasets/cranfield not found (set TAMIS_SHARED_DIR)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -r scripts/eval/requirements.txt

"$tamis" eval --dataset "$shared/datasets/cranfield" --model "$shared/models/all-MiniLM-L6-v2" \
    --chunking whole --cache-dir "$work/cache" --json --run-output "$work/run.trec" \
    > "$work/report.json"
"$work/venv/bin/python" scripts/eval/check_run.py --dataset "$shared/datasets/cranfield" "$work/report.json"
