#!/usr/bin/env bash
# Starts `tamis serve` on loopback with the shared models and an API key, runs the official
# cohere / openai / huggingface_hub SDKs against it (check_clients.py), and stops it.
# Usage: scripts/clients/check_serve.sh [TAMIS_BINARY]   (default: target/debug/tamis)
# Needs python3 (a venv with scripts/clients/requirements.txt is made under $TMPDIR) and the
# shared models (../shared or TAMIS_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."

tamis="${1:-target/debug/tamis}"
shared="${TAMIS_SHARED_DIR:-../shared}"
[ -x "$tamis" ] || { echo "check_serve: $tamis not found (build it first: cargo build -p tamis-cli)" >&2; exit 1; }
[ -d "$shared/models" ] || { echo "check_serve: $shared/models not found (set TAMIS_SHARED_DIR)" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -r scripts/clients/requirements.txt

key="check-$RANDOM-$RANDOM"
"$tamis" serve --model "$shared/models/all-MiniLM-L6-v2" \
    --reranker "$shared/models/tamis-ce-minilm-l6-nfcorpus" \
    --bind 127.0.0.1:0 --api-key "$key" > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
url=""
for _ in $(seq 1 240); do
    url="$(sed -n 's/^listening on //p' "$work/serve.out")"
    [ -n "$url" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "check_serve: tamis serve exited before listening:" >&2
        cat "$work/serve.err" >&2
        exit 1
    fi
    sleep 0.5
done
[ -n "$url" ] || { echo "check_serve: tamis serve did not start listening within 120 s" >&2; cat "$work/serve.err" >&2; exit 1; }
echo "tamis serve listening on $url"
"$work/venv/bin/python" scripts/clients/check_clients.py --base-url "$url" --api-key "$key" --shared "$shared"

# Graceful shutdown: SIGTERM, and the process must exit on its own.
kill -TERM "$server_pid"
for _ in $(seq 1 40); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.25
done
if kill -0 "$server_pid" 2>/dev/null; then
    echo "check_serve: tamis serve did not stop within 10 s of SIGTERM" >&2
    exit 1
fi
wait "$server_pid" || { echo "check_serve: tamis serve exited with status $? after SIGTERM" >&2; exit 1; }
server_pid=""
echo "tamis serve stopped cleanly on SIGTERM"
