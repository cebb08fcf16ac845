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
[ -x "$tamis" ] || { echo "check_overload: $tamis not found (build it first: cargo build -p tamis-cli)" >&2; exit 1; }
[ -d "$shared/models" ] || { echo "check_overload: $shared/models not found (set TAMIS_SHARED_DIR)" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

venv="${LOAD_VENV:-$work/venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import aiohttp' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/bench/requirements-load.txt
fi

"$tamis" serve --model "$shared/models/all-MiniLM-L6-v2" \
    --reranker "$shared/models/tamis-ce-minilm-l6-nfcorpus" \
    --data-dir "$work/data" --max-concurrent-requests "$limit" \
    --bind 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
url=""
for _ in $(seq 1 240); do
    url="$(sed -n 's/^listening on //p' "$work/serve.out")"
    [ -n "$url" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "check_overload: tamis serve exited before listening:" >&2
        cat "$work/serve.err" >&2
        exit 1
    fi
    sleep 0.5
done
[ -n "$url" ] || { echo "check_overload: tamis serve did not start listening within 120 s" >&2; cat "$work/serve.err" >&2; exit 1; }
echo "tamis serve ($tamis) listening on $url, pid $server_pid, --max-concurrent-requests $limit"

# The peak RSS bound is about 4x the debug build's measured peak under this run (386 MiB).
"$venv/bin/python" scripts/bench/overload.py --base-url "$url" --pid "$server_pid" \
    --collection overload --admission-limit "$limit" --dataset "$shared/datasets/nfcorpus" \
    --duration 20 --setup-docs 64 --rerank-docs 8 --embed-inputs 4 --upsert-docs 2 --max-chars 400 \
    --max-rss-mib 1536 "$@"

# Healthy to the end: SIGTERM, and the process must exit on its own, with status 0.
kill -TERM "$server_pid"
for _ in $(seq 1 40); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.25
done
if kill -0 "$server_pid" 2>/dev/null; then
    echo "check_overload: tamis serve did not stop within 10 s of SIGTERM" >&2
    exit 1
fi
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" = 0 ] || { echo "check_overload: tamis serve exited with status $status after SIGTERM" >&2; exit 1; }
echo "tamis serve stopped cleanly on SIGTERM"
