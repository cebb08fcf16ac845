#!/usr/bin/env bash
# One command for the side-by-side CPU benchmark of ColBERT reranking from STORED token vectors: tamis (indexes
# built with --late-interaction, f16 and int8, and one without) against PyLate (candidates' embeddings computed
# beforehand), same model, same candidates, same threads. See colbert_stored.py's docstring.
#
# Usage: scripts/bench/peers/colbert_stored.sh [TAMIS_BIN] [SHARED_DIR] [THREADS]
#   TAMIS_BIN  a built tamis binary (default target/release/tamis; cargo build --release -p tamis-cli)
#   SHARED_DIR the shared directory with models/ and datasets/ (default ../shared)
#   THREADS    threads for both engines and for building the indexes (default 2; also env THREADS)
#
# Environment (all optional):
#   PYLATE_VENV       venv with pylate 1.6.0 and torch (default /tmp/pylate-venv, where
#                     scripts/parity/colbert-requirements.txt puts it); created and installed from that
#                     lock file when it does not exist
#   WORK_DIR          the built model and the three indexes (default target/peers-colbert)
#   OUT_DIR           results (default target/peers-results/colbert-stored-<UTC date-time>)
#   MODEL             an existing ColBERT directory instead of the one built from all-MiniLM-L6-v2
#   DATASET           dataset under SHARED_DIR/datasets (default nfcorpus)
#   QUERIES           queries (default 20)
#   CANDIDATES        candidates per query (default 100)
#   UNSTORED_QUERIES  queries also run by PyLate without stored vectors (default 5)
#   ROUNDS            passes over the queries (default 1)
#   REUSE_INDEXES     1: keep the indexes of an earlier run with the same binary and settings (default 0)
#   BENCH_ARGS        extra colbert_stored.py arguments (e.g. "--tamis-calls batch --pause-ms 50", or
#                     "--tamis-precision int8" with wider --tolerance-* to time the int8 query encoder)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
die() { echo "error: $*" >&2; exit 2; }
invocation="$0 $*"

tamis_arg="${1:-$repo/target/release/tamis}"
shared_arg="${2:-$repo/../shared}"
threads="${3:-${THREADS:-2}}"
[ -d "$(dirname "$tamis_arg")" ] || die "tamis binary $tamis_arg not found (cargo build --release -p tamis-cli)"
tamis="$(abs "$tamis_arg")"
[ -x "$tamis" ] || die "tamis binary $tamis not found or not executable (cargo build --release -p tamis-cli)"
[ -d "$shared_arg" ] || die "shared directory $shared_arg not found (give it as the second argument)"
shared="$(cd "$shared_arg" && pwd)"
dataset="$shared/datasets/${DATASET:-nfcorpus}"
[ -f "$dataset/corpus.jsonl" ] || die "dataset $dataset not found (no corpus.jsonl; DATASET names a folder of $shared/datasets)"
[ -f "$shared/models/all-MiniLM-L6-v2/config.json" ] || die "$shared/models/all-MiniLM-L6-v2 not found: the indexes' bi-encoder (and the ColBERT model's base)"
if [ -n "${MODEL:-}" ]; then
    [ -f "$MODEL/config_sentence_transformers.json" ] || die "MODEL=$MODEL is not a PyLate ColBERT directory"
fi
case "$threads" in ''|*[!0-9]*|0) die "THREADS must be a positive integer, got '$threads'" ;; esac
for knob in QUERIES CANDIDATES UNSTORED_QUERIES ROUNDS; do
    case "${!knob:-1}" in ''|*[!0-9]*) die "$knob must be a non-negative integer, got '${!knob}'" ;; esac
done
if [[ "$tamis" == */debug/* ]]; then
    echo "warning: $tamis is a debug build: its timings mean nothing (use target/release/tamis)" >&2
fi
"$tamis" index --help 2>/dev/null | grep -q -- '--late-interaction' \
    || die "$tamis has no \`index --late-interaction\`: rebuild it (cargo build --release -p tamis-cli)"

# --- the PyLate venv (see scripts/parity/colbert-requirements.txt for why --no-deps)
venv="${PYLATE_VENV:-/tmp/pylate-venv}"
lock="$repo/scripts/parity/colbert-requirements.txt"
if [ ! -x "$venv/bin/python" ]; then
    [ -n "${PYLATE_VENV:-}" ] && die "PYLATE_VENV=$venv has no bin/python (unset it to create /tmp/pylate-venv)"
    echo "creating $venv and installing $lock (torch, pylate: a few GB)"
    python3 -m venv "$venv" || die "python3 -m venv $venv failed (needs Python 3.11 with venv)"
    "$venv/bin/pip" install --quiet --no-cache-dir --no-deps -r "$lock" || die "installing $lock into $venv failed"
fi
py="$venv/bin/python"
if ! "$py" -c 'import pylate.models, pylate.rank, torch' 2>/dev/null; then
    die "$venv cannot import pylate and torch; install them: $venv/bin/pip install --no-cache-dir --no-deps -r $lock"
fi
got="$("$py" -c 'import importlib.metadata as m; print(m.version("pylate"))')"
[ "$got" = 1.6.0 ] || echo "warning: $venv has pylate $got; the lock file pins 1.6.0" >&2

work_dir="${WORK_DIR:-$repo/target/peers-colbert}"
out_dir="${OUT_DIR:-$repo/target/peers-results/colbert-stored-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work_dir" "$out_dir"
args=(--tamis "$tamis" --shared "$shared" --work "$work_dir" --dataset "$dataset" --threads "$threads"
      --queries "${QUERIES:-20}" --candidates "${CANDIDATES:-100}" --unstored-queries "${UNSTORED_QUERIES:-5}"
      --rounds "${ROUNDS:-1}" --invocation "$invocation"
      --json "$out_dir/colbert-stored.json" --out "$out_dir/colbert-stored.md")
[ -n "${MODEL:-}" ] && args+=(--model "$MODEL")
[ "${REUSE_INDEXES:-0}" = 1 ] && args+=(--reuse-indexes)
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})
echo "=== ColBERT rerank from stored token vectors: tamis vs PyLate ($threads threads) -> $out_dir ==="
rc=0
"$py" "$here/colbert_stored.py" "${args[@]}" "${extra[@]}" 2>&1 | tee "$out_dir/colbert-stored.txt" || rc=$?
[ "$rc" -eq 3 ] && echo "error: tamis and PyLate disagree on the scores beyond the tolerances (see above)" >&2
echo "results in $out_dir (colbert-stored.json, colbert-stored.md, colbert-stored.txt)"
exit "$rc"
