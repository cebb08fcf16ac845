#!/usr/bin/env bash
# Speed of each encoder family in `tamis bench rerank` (GFLOP/s against the FMA peak, pairs/s), and
# ModernBERT's long context: 100 pairs of about 2,000 tokens, with the run's peak RSS.
#
# Usage: scripts/bench/families/run.sh OUT_DIR [TAMIS_BINARY] [SHARED_DIR]
#   OUT_DIR      where the models (about 2 GB), the workloads and one JSON result per run go
#   TAMIS_BINARY default target/release/tamis (build it with `cargo build --release` first)
#   SHARED_DIR   default $TAMIS_SHARED_DIR, else ../shared
# Needs a Python with transformers and safetensors (scripts/parity/requirements.txt): PYTHON=path/to/python.
# Models are random weights at each family's real shape (make_models.py says why that measures the real work).
set -euo pipefail

out=${1:?usage: run.sh OUT_DIR [TAMIS_BINARY] [SHARED_DIR]}
tamis=${2:-target/release/tamis}
shared=${3:-${TAMIS_SHARED_DIR:-../shared}}
python=${PYTHON:-python3}
threads=${THREADS:-2}
here=$(cd "$(dirname "$0")" && pwd)

[ -x "$tamis" ] || { echo "error: $tamis is not an executable (cargo build --release)" >&2; exit 1; }
[ -d "$shared/models/all-MiniLM-L6-v2" ] || { echo "error: $shared/models/all-MiniLM-L6-v2 not found (pass SHARED_DIR)" >&2; exit 1; }
mkdir -p "$out"
"$python" "$here/make_models.py" --shared "$shared" --out "$out/models"

# The families at base size on one workload (8 queries x 32 NFCorpus passages, max 512 tokens), then the
# small ones, then the trained MiniLM cross-encoder of the shared directory as the reference point.
# MODELS=... runs a subset (names under OUT_DIR/models, or directories); LONG=0 skips the long-context run.
models=${MODELS:-bert-base jina-reranker-v2-base modernbert-base deberta-v3-base deberta-v3-xsmall $shared/models/tamis-ce-minilm-l6-nfcorpus}
for model in $models; do
  dir=$model
  [ -d "$dir" ] || dir="$out/models/$model"
  name=$(basename "$dir")
  echo "== $name" >&2
  "$tamis" bench rerank --model "$dir" --workload "$out/models/rerank.jsonl" --max-length 512 \
    --threads "$threads" --json > "$out/$name.json"
done

# ModernBERT at 2,048 tokens: 4 queries x 25 passages, each pair a full 2,048 tokens.
[ "${LONG:-1}" = 0 ] && exit 0
echo "== modernbert-base, 100 pairs of 2048 tokens" >&2
"$tamis" bench rerank --model "$out/models/modernbert-base" --workload "$out/models/long.jsonl" \
  --max-length 2048 --threads "$threads" --warmup 0 --json > "$out/modernbert-base-long.json"
echo "results: $out/*.json" >&2
