#!/usr/bin/env bash
# One command for the CPU benchmark of tamis' LLM rerankers (Qwen3-Reranker, mxbai-rerank-v2) against
# transformers / mxbai-rerank on PyTorch, on random-weight models at the real shapes.
#
# Usage: scripts/bench/peers/llm.sh TAMIS_BIN [SHARED_DIR]
#   TAMIS_BIN  a built tamis binary (e.g. target/release/tamis)
#   SHARED_DIR the shared directory with datasets/nfcorpus (default ../shared, or $TAMIS_SHARED_DIR)
#
# Environment (all optional):
#   PEERS_VENV   virtual environment with torch, transformers, mxbai-rerank (default .venv-peers in the repo;
#                created from requirements.txt + scripts/parity/llm-requirements.txt when missing)
#   MODELS_DIR   where llm_models.py builds the two random-weight models (default target/llm-models; ~2.2 GB)
#   OUT_DIR      results (default target/peers-results/llm-<UTC date-time>)
#   THREADS      threads for every engine (default 2)
#   QUERIES DOCS DOC_TOKENS ROUNDS BLOCK ENGINES   passed to llm_bench.py (defaults 8, 20, 250, 1, 2, all)
#   BENCH_ARGS   extra llm_bench.py arguments (e.g. "--batch-sizes 4 --calibrate 0 --no-rss")
set -euo pipefail
if [ $# -lt 1 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
tamis="$(abs "$1")"
shared_arg="${2:-${TAMIS_SHARED_DIR:-$repo/../shared}}"
[ -d "$shared_arg" ] || { echo "error: shared directory $shared_arg not found" >&2; exit 2; }
shared="$(cd "$shared_arg" && pwd)"
venv="${PEERS_VENV:-$repo/.venv-peers}"
models="${MODELS_DIR:-$repo/target/llm-models}"
out_dir="${OUT_DIR:-$repo/target/peers-results/llm-$(date -u +%Y%m%dT%H%M%SZ)}"
threads="${THREADS:-2}"
dataset="$shared/datasets/nfcorpus"

[ -x "$tamis" ] || { echo "error: tamis binary $tamis not found or not executable (cargo build --release)" >&2; exit 2; }
[ -d "$dataset" ] || { echo "error: dataset $dataset not found" >&2; exit 2; }

# --- virtual environment: the peers' requirements plus mxbai-rerank (the parity scripts' LLM pins)
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c "import torch, transformers, mxbai_rerank, accelerate" 2>/dev/null; then
    echo "installing requirements.txt + scripts/parity/llm-requirements.txt into $venv"
    "$py" -m pip install --quiet -r "$here/requirements.txt" -r "$repo/scripts/parity/llm-requirements.txt"
fi

# --- the two random-weight models (kept when already built)
"$py" "$here/llm_models.py" --out "$models"

# --- the benchmark
mkdir -p "$out_dir"
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})
rc=0
"$py" "$here/llm_bench.py" --tamis "$tamis" --dataset "$dataset" \
    --qwen3-model "$models/qwen3-reranker-0.6b-random" --mxbai-model "$models/mxbai-rerank-base-v2-random" \
    --threads "$threads" --queries "${QUERIES:-8}" --docs "${DOCS:-20}" --doc-tokens "${DOC_TOKENS:-250}" \
    --rounds "${ROUNDS:-1}" --block "${BLOCK:-2}" ${ENGINES:+--engines "$ENGINES"} \
    --workload-out "$out_dir/llm-workload.jsonl" --json "$out_dir/llm.json" "${extra[@]}" 2>&1 \
    | tee "$out_dir/llm.txt" || rc=$?
[ "$rc" -eq 3 ] && echo "warning: an engine disagrees with the PyTorch reference (see above)" >&2
echo "results in $out_dir"
exit "$rc"
