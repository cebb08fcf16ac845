#!/usr/bin/env bash
# One command for the side-by-side CPU benchmark of tamis against ONNX Runtime and sentence-transformers.
#
# Usage: scripts/bench/peers/run.sh TAMIS_BIN SHARED_DIR [RUN_FILE|auto] [THREADS]
#   TAMIS_BIN  a built tamis binary (e.g. target/release/tamis)
#   SHARED_DIR the shared directory with models/ and datasets/ (e.g. ../shared)
#   RUN_FILE   TREC run of the first stage on the dataset's test queries; `auto` (the
#              default) makes it with `tamis eval --mode hybrid --run-output` (all-MiniLM-L6-v2,
#              whole documents), which builds or reuses its evaluation index
#   THREADS    threads for every engine (default 2; also env THREADS)
#
# Environment (all optional):
#   PEERS_VENV    virtual environment to create/use (default .venv-peers in the repo)
#   ONNX_DIR      ONNX export cache (default target/peers-onnx)
#   OUT_DIR       results (default target/peers-results/<UTC date-time>)
#   DATASET       dataset under SHARED_DIR/datasets (default nfcorpus)
#   DEPTH         passages per query in the rerank workload (default 100)
#   LIMIT         rerank: first N queries only (default: all)
#   EMBED_LIMIT   embed: first M corpus documents only (default: all)
#   EMBED_BLOCK   documents per embed call (default 32)
#   ROUNDS BLOCK ENGINES   passed to bench.py (defaults 1, 5, tamis,ort,ort-opt,ort-int8,st)
#   TASKS         which benchmarks to run (default "rerank embed")
#   BENCH_ARGS    extra bench.py arguments for both tasks (e.g. "--calibrate 0 --batch-sizes 32")
set -euo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
tamis="$(abs "$1")"
shared="$(cd "$2" && pwd)"
run_arg="${3:-auto}"
threads="${4:-${THREADS:-2}}"
venv="${PEERS_VENV:-$repo/.venv-peers}"
onnx_dir="${ONNX_DIR:-$repo/target/peers-onnx}"
out_dir="${OUT_DIR:-$repo/target/peers-results/$(date -u +%Y%m%dT%H%M%SZ)}"
dataset="$shared/datasets/${DATASET:-nfcorpus}"
tasks="${TASKS:-rerank embed}"

[ -x "$tamis" ] || { echo "error: tamis binary $tamis not found or not executable (cargo build --release)" >&2; exit 2; }
[ -d "$dataset" ] || { echo "error: dataset $dataset not found" >&2; exit 2; }
mkdir -p "$out_dir"
if [ "$run_arg" = auto ]; then
    run_file="$out_dir/stage1-hybrid.run"
    echo "stage 1: tamis eval --mode hybrid on $dataset -> $run_file"
    "$tamis" eval --dataset "$dataset" --model "$shared/models/all-MiniLM-L6-v2" --chunking whole \
        --mode hybrid --depth "${DEPTH:-100}" --threads "$threads" --run-output "$run_file"
else
    run_file="$(abs "$run_arg")"
    [ -f "$run_file" ] || { echo "error: run file $run_file not found (make one with tamis eval --run-output, or pass auto)" >&2; exit 2; }
fi

# --- virtual environment, reinstalled only when requirements.txt changes
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
stamp="$venv/.peers-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing $here/requirements.txt into $venv"
    "$py" -m pip install --quiet -r "$here/requirements.txt"
    echo "$want" > "$stamp"
fi

# --- ONNX export (cached: skipped when the files exist)
"$py" "$here/export_onnx.py" --shared "$shared" --out "$onnx_dir"

# --- workloads
"$py" "$here/rerank_workload.py" --dataset "$dataset" --run "$run_file" --depth "${DEPTH:-100}" \
    --out "$out_dir/rerank.jsonl" ${LIMIT:+--limit "$LIMIT"}
"$py" "$here/embed_workload.py" --dataset "$dataset" --block "${EMBED_BLOCK:-32}" \
    --out "$out_dir/embed.jsonl" ${EMBED_LIMIT:+--limit "$EMBED_LIMIT"}

# --- benchmarks, one at a time
common=(--onnx-dir "$onnx_dir" --tamis "$tamis" --threads "$threads" --rounds "${ROUNDS:-1}" --block "${BLOCK:-5}"
        --engines "${ENGINES:-tamis,ort,ort-opt,ort-int8,st}")
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})
status=0
for task in $tasks; do
    case "$task" in
        rerank) model="$shared/models/tamis-ce-minilm-l6-nfcorpus"; more=(--qrels "$dataset/qrels/test.tsv") ;;
        embed) model="$shared/models/all-MiniLM-L6-v2"; more=() ;;
        *) echo "error: unknown task $task in TASKS" >&2; exit 2 ;;
    esac
    echo "=== $task ($threads threads) ==="
    rc=0
    "$py" "$here/bench.py" "$task" --workload "$out_dir/$task.jsonl" --model "$model" "${common[@]}" "${more[@]}" \
        "${extra[@]}" --json "$out_dir/$task.json" 2>&1 | tee "$out_dir/$task.txt" || rc=$?
    [ "$rc" -eq 3 ] && echo "warning: $task: an fp32 engine disagrees with the reference (see above)" >&2
    [ "$rc" -ne 0 ] && status=$rc
done
echo "results in $out_dir"
exit "$status"
