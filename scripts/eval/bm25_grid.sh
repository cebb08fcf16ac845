#!/usr/bin/env bash
# Sweeps BM25's k1, b and title weight on the shared datasets with `tamis eval` (one index
# per dataset, built once; the parameters apply at query time) and writes the JSON of each
# run, every row's metrics (grid.csv) and a summary table (summary.md) to OUT_DIR.
#
#   scripts/eval/bm25_grid.sh BIN SHARED OUT_DIR
#
# BIN is a release `tamis`, SHARED the shared data folder (models/, datasets/). Set
# K1, B, TITLE (comma lists), MODES ("bm25 hybrid"), CHUNKING (whole) and DATASETS
# ("nfcorpus cranfield") to change the grid; TAMIS_EVAL_CACHE to keep the indexes.
set -euo pipefail
if [[ $# -ne 3 ]]; then
    echo "usage: $0 BIN SHARED OUT_DIR" >&2
    exit 2
fi
bin=$1 shared=$2 out=$3
K1=${K1:-0.5,0.7,0.9,1.2,1.5,2.0}
B=${B:-0.2,0.3,0.4,0.5,0.6,0.75,0.9}
TITLE=${TITLE:-0.25,0.5,0.75,1,1.5,2}
MODES=${MODES:-bm25 hybrid}
CHUNKING=${CHUNKING:-whole}
DATASETS=${DATASETS:-nfcorpus cranfield}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
mode_args=()
for mode in $MODES; do mode_args+=(--mode "$mode"); done
for dataset in $DATASETS; do
    echo "== $dataset: k1 {$K1} × b {$B} × title {$TITLE}, modes $MODES, chunking $CHUNKING" >&2
    "$bin" eval --dataset "$shared/datasets/$dataset" --model "$shared/models/all-MiniLM-L6-v2" \
        --chunking "$CHUNKING" "${mode_args[@]}" --bm25-k1 "$K1" --bm25-b "$B" \
        --title-weight "$TITLE" --threads 2 --json >"$out/$dataset.json"
done
{
    echo "# BM25 parameter grid"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$here" rev-parse --short HEAD)"
    echo "- cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "- command: \`K1=$K1 B=$B TITLE=$TITLE MODES=\"$MODES\" CHUNKING=$CHUNKING DATASETS=\"$DATASETS\" scripts/eval/bm25_grid.sh BIN SHARED OUT_DIR\`"
    echo
    python3 "$here/bm25_grid.py" "$out" $DATASETS
} >"$out/summary.md"
echo "wrote $out/summary.md" >&2
