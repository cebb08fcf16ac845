#!/usr/bin/env bash
# Latency of `tamis serve` answering searches from its result cache, beside the full
# pipeline (scripts/bench/result_cache_serve.py), with the shared models. Usage:
#   scripts/bench/result_cache_serve.sh [TAMIS_BINARY] > report.md
# Build first: cargo build --release -p tamis-cli
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shared="${TAMIS_SHARED_DIR:-$root/../shared}"
# shellcheck source=../lib/serve.sh
source "$root/scripts/lib/serve.sh"
serve_setup result-cache-serve "${1:-$root/target/release/tamis}" "$shared"
serve_start --model "$shared/models/all-MiniLM-L6-v2" \
    --reranker "$shared/models/tamis-ce-minilm-l6-nfcorpus" --data-dir "$work/data"
echo "CPU: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) threads; $("$tamis" --version)"
echo
python3 "$here/result_cache_serve.py" "$url" "$shared/datasets/nfcorpus" "${@:2}"
serve_stop >&2
