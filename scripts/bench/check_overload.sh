#!/usr/bin/env bash
# Overloads `tamis serve` with mixed traffic (scripts/bench/overload.py): rerank, embed,
# search and upsert from 20x as many clients as it admits, then checks that it answered
# only 200 and well-formed 429, kept every acknowledged upsert, is ready and searches
# afterwards, and stops cleanly on SIGTERM. Loopback only; see scripts/bench/LOAD.md.
#
#   scripts/bench/check_overload.sh [TAMIS_BINARY [OVERLOAD_PY_ARGS...]]
#
# TAMIS_BINARY defaults to target/debug/tamis. The defaults are CI's short run (20 s, small
# requests, 64 documents indexed first); arguments after the binary go to overload.py and
# override them, e.g. the full run: `... target/release/tamis --duration 300 --setup-docs 500
# --rerank-docs 20 --embed-inputs 8 --upsert-docs 4 --max-chars 1000 --json out.json`.
# Environment: OVERLOAD_LIMIT (--max-concurrent-requests, 4; the clients are 20x it),
# LOAD_VENV (a venv with scripts/bench/requirements-load.txt; made under $TMPDIR when unset).
set -euo pipefail
cd "$(dirname "$0")/../.."

tamis="${1:-target/debug/tamis}"
[ $# -gt 0 ] && shift
shared="${TAMIS_SHARED_DIR:-../shared}"
limit="${OVERLOAD_LIMIT:-4}"
source scripts/lib/serve.sh
serve_setup check_overload "$tamis" "$shared"

venv="${LOAD_VENV:-$work/venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import aiohttp' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/bench/requirements-load.txt
fi

serve_start --model "$shared/models/all-MiniLM-L6-v2" \
    --reranker "$shared/models/tamis-ce-minilm-l6-nfcorpus" \
    --data-dir "$work/data" --max-concurrent-requests "$limit"
echo "tamis serve ($tamis) listening on $url, pid $server_pid, --max-concurrent-requests $limit"

# The peak RSS bound is about 4x the debug build's measured peak under this run (386 MiB).
"$venv/bin/python" scripts/bench/overload.py --base-url "$url" --pid "$server_pid" \
    --collection overload --admission-limit "$limit" --dataset "$shared/datasets/nfcorpus" \
    --duration 20 --setup-docs 64 --rerank-docs 8 --embed-inputs 4 --upsert-docs 2 --max-chars 400 \
    --max-rss-mib 1536 "$@"

# Healthy to the end: SIGTERM, and the process must exit on its own, with status 0.
serve_stop
