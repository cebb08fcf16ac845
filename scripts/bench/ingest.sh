#!/usr/bin/env bash
# Measures `tamis index` on a BEIR corpus with the real bi-encoder: documents/s and chunks/s
# for a fresh index, then the cost of re-running the same ingest (every document unchanged).
# Usage: scripts/bench/ingest.sh [THREADS] [CHUNKING] [DATASET]
#   THREADS  model threads (default 2); CHUNKING windows|whole (default windows);
#   DATASET  a folder under ../shared/datasets (default nfcorpus).
# Needs a release build (cargo build --release) and ../shared (or TAMIS_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared="${TAMIS_SHARED_DIR:-../shared}"
threads="${1:-2}"
chunking="${2:-windows}"
dataset="${3:-nfcorpus}"
tamis=target/release/tamis
corpus="$shared/datasets/$dataset/corpus.jsonl"
model="$shared/models/all-MiniLM-L6-v2"
[ -x "$tamis" ] || { echo "ingest.sh: $tamis is missing: run cargo build --release" >&2; exit 1; }
[ -f "$corpus" ] || { echo "ingest.sh: $corpus is missing (set TAMIS_SHARED_DIR)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

seconds() { date +%s.%N; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "commit: $(git rev-parse --short HEAD)  dataset: $dataset  chunking: $chunking  threads: $threads"

start=$(seconds)
"$tamis" index "$work/index" --input "$corpus" --model "$model" --threads "$threads" \
    --chunking "$chunking" 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
end=$(seconds)
info=$("$tamis" info "$work/index" --json)
python3 - "$start" "$end" "$info" <<'PY'
import json, sys
start, end, info = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
elapsed = end - start
docs, chunks = info["documents"], info["chunks"]
size = sum(info["bytes"].values()) / 2**20
print(f"fresh ingest: {docs} documents, {chunks} chunks in {elapsed:.1f} s = "
      f"{docs / elapsed:.2f} docs/s, {chunks / elapsed:.2f} chunks/s; index {size:.1f} MiB")
PY

start=$(seconds)
"$tamis" index "$work/index" --input "$corpus" --threads "$threads" 2>"$work/log"
end=$(seconds)
echo "re-ingest, all unchanged: $(python3 -c "print(f'{$end - $start:.1f}')") s ($(tail -1 "$work/log"))"
