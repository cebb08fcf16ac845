#!/usr/bin/env bash
# Trains three tiny cross-encoders with `tamis train` and checks that each exported model loads
# in transformers and in sentence-transformers' CrossEncoder with every logit within 1e-4 of
# `tamis rerank --raw` (scripts/parity/check_export.py says what it checks).
# Usage: scripts/parity/check_export.sh [TAMIS_BINARY]   (default: target/debug/tamis)
# Needs python3 (a venv with scripts/parity/export-requirements.txt, about 4.2 GB, is made under
# $TMPDIR and removed) and the shared models (../shared or TAMIS_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."

tamis="${1:-target/debug/tamis}"
shared="${TAMIS_SHARED_DIR:-../shared}"
[ -x "$tamis" ] || { echo "check_export: $tamis not found (build it first: cargo build -p tamis-cli)" >&2; exit 1; }
for model in all-MiniLM-L6-v2 tamis-ce-minilm-l6-nfcorpus; do
    [ -d "$shared/models/$model" ] || { echo "check_export: $shared/models/$model not found (set TAMIS_SHARED_DIR)" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# --no-deps: the requirements are a complete lock that leaves out torch's unused CUDA wheels
# (see the file). No pip cache: the wheels are 2.5 GB, and CI's disk is the scarce resource.
# --no-compile: byte-compiling every module of torch and transformers took 40 % of the
# install's CPU time, for a venv that imports a fraction of them once.
"$work/venv/bin/pip" install --quiet --no-cache-dir --no-compile --no-deps \
    -r scripts/parity/export-requirements.txt

if ! "$work/venv/bin/python" scripts/parity/check_export.py --tamis "$tamis" --shared "$shared" --work "$work/check"; then
    # The work folder goes with the trap: show the end of what tamis wrote first.
    for log in "$work"/check/*.log; do
        [ -f "$log" ] && { echo "-- $(basename "$log"):" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
fi
