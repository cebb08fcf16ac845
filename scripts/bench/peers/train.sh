#!/usr/bin/env bash
# Side-by-side CPU training-speed benchmark: tamis' training step against sentence-transformers' CrossEncoder
# on PyTorch, same groups, same batch shape, same threads, engines alternating run by run.
#
# Usage: scripts/bench/peers/train.sh TAMIS_BIN SHARED_DIR [THREADS]
#   TAMIS_BIN  a built tamis binary with `bench train` (e.g. target/release/tamis)
#   SHARED_DIR the shared directory with models/ and datasets/ (e.g. ../shared)
#   THREADS    threads for both engines (default 2; also env THREADS)
#
# Environment (all optional):
#   PEERS_VENV    virtual environment to create/use (default .venv-peers in the repo, as run.sh)
#   OUT_DIR       results (default target/peers-results/train-<UTC date-time>)
#   DATASET       dataset under SHARED_DIR/datasets (default nfcorpus); SPLIT its qrels split (default train)
#   MODEL         base model under SHARED_DIR/models (default all-MiniLM-L6-v2: a new head, as tamis train)
#   ROUNDS        runs of each engine, alternating tamis, st, tamis, st, ... (default 3)
#   STEPS         timed steps a run (default 40); WARMUP untimed steps before them (default 3)
#   BATCH         groups a step (default 2); NEGATIVES negatives a group (default 7)
#   MAX_LENGTH    token limit of a pair (default 160); SEED (default 0)
#   ENGINES       engines and their order within a round (default "tamis st")
set -euo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
[ -d "$2" ] || { echo "error: shared directory $2 not found" >&2; exit 2; }
tamis="$(abs "$1")"
shared="$(cd "$2" && pwd)"
threads="${3:-${THREADS:-2}}"
venv="${PEERS_VENV:-$repo/.venv-peers}"
out_dir="${OUT_DIR:-$repo/target/peers-results/train-$(date -u +%Y%m%dT%H%M%SZ)}"
dataset="$shared/datasets/${DATASET:-nfcorpus}"
split="${SPLIT:-train}"
model="$shared/models/${MODEL:-all-MiniLM-L6-v2}"
rounds="${ROUNDS:-3}" steps="${STEPS:-40}" warmup="${WARMUP:-3}" batch="${BATCH:-2}"
negatives="${NEGATIVES:-7}" max_length="${MAX_LENGTH:-160}" seed="${SEED:-0}"
engines="${ENGINES:-tamis st}"

for engine in $engines; do
    case "$engine" in
        tamis) [ -x "$tamis" ] && [ -f "$tamis" ] ||
                   { echo "error: tamis binary $tamis not found or not executable (cargo build --release)" >&2; exit 2; } ;;
        st) ;;
        *) echo "error: unknown engine $engine in ENGINES (tamis, st)" >&2; exit 2 ;;
    esac
done
[ -f "$dataset/corpus.jsonl" ] || { echo "error: dataset $dataset not found (no corpus.jsonl)" >&2; exit 2; }
[ -f "$dataset/qrels/$split.tsv" ] || { echo "error: $dataset/qrels/$split.tsv not found" >&2; exit 2; }
[ -f "$model/config.json" ] || { echo "error: model $model not found (no config.json)" >&2; exit 2; }
mkdir -p "$out_dir"

# --- virtual environment, reinstalled only when requirements.txt changes (as run.sh)
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

# --- workload: every run starts at the file's first group, so one run's groups are enough
groups="$out_dir/groups.jsonl"
"$py" "$here/train_workload.py" --dataset "$dataset" --split "$split" --groups $(((steps + warmup) * batch)) \
    --negatives "$negatives" --seed "$seed" --out "$groups"

# --- runs, alternating engines; one JSON object a run
lscpu > "$out_dir/lscpu.txt" 2>/dev/null || true
results="$out_dir/train.jsonl"
: > "$results"
common=(--groups "$groups" --model "$model" --batch-size "$batch" --max-length "$max_length" --steps "$steps"
        --warmup-steps "$warmup" --threads "$threads" --seed "$seed")
echo "=== train: $rounds round(s) of [$engines], $steps steps (+$warmup untimed) of $batch x $((negatives + 1)) pairs, max_length $max_length, $threads threads ==="
for round in $(seq 1 "$rounds"); do
    for engine in $engines; do
        case "$engine" in
            tamis) more=(--engine tamis --tamis "$tamis") ;;
            st) more=(--engine sentence-transformers) ;;
        esac
        echo "round $round/$rounds: $engine"
        line="$("$py" "$here/train_speed.py" "${more[@]}" "${common[@]}")" ||
            { echo "error: the $engine run of round $round failed (see above)" >&2; exit 1; }
        echo "$line" | tee -a "$results"
    done
done

echo
"$py" "$here/train_speed.py" --table "$results" | tee "$out_dir/train.md"
echo "results in $out_dir"
