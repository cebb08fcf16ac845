#!/usr/bin/env bash
# Starts `tamis serve` on loopback with the shared models, a data directory and an API key,
# and runs schemathesis against its own /openapi.json: no 5xx, every status declared, every
# response of its declared content type and schema (errors included: `{"error", "error_type"}`).
# Usage: scripts/clients/check_schema.sh [TAMIS_BINARY]   (default: target/debug/tamis)
# Needs python3 (a venv with scripts/clients/schema-requirements.txt is made under $TMPDIR) and
# the shared models (../shared or TAMIS_SHARED_DIR). The example budget and the seed are fixed
# (SCHEMA_MAX_EXAMPLES, SCHEMA_SEED to change them), so a run is reproducible and bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

tamis="${1:-target/debug/tamis}"
shared="${TAMIS_SHARED_DIR:-../shared}"
max_examples="${SCHEMA_MAX_EXAMPLES:-100}"
seed="${SCHEMA_SEED:-18}"
source scripts/lib/serve.sh
serve_setup check_schema "$tamis" "$shared"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -r scripts/clients/schema-requirements.txt

key="check-$RANDOM-$RANDOM"
serve_start --model "$shared/models/all-MiniLM-L6-v2" \
    --reranker "$shared/models/tamis-ce-minilm-l6-nfcorpus" \
    --data-dir "$work/data" --api-key "$key"
echo "tamis serve listening on $url"

# The document needs the key like every route but /health: fetched once, then read from disk.
"$work/venv/bin/python" - "$url/openapi.json" "$key" "$work/openapi.json" <<'PY'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {sys.argv[2]}"})
with urllib.request.urlopen(request, timeout=30) as response, open(sys.argv[3], "wb") as out:
    out.write(response.read())
PY

# One worker: with a fixed seed the same cases run in the same order on every machine. Run
# from the temporary directory, where schemathesis leaves its cache (`.schemathesis/`).
start=$SECONDS
status=0
(cd "$work" && "$work/venv/bin/schemathesis" run "$work/openapi.json" --url "$url" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$max_examples" --seed "$seed" --workers 1 \
    --request-timeout 60 --suppress-health-check all --no-color) || status=$?
echo "check_schema: schemathesis ran $((SECONDS - start)) s (max examples $max_examples, seed $seed)"
if [ "$status" -ne 0 ]; then
    echo "check_schema: schemathesis found failures (status $status); server log:" >&2
    tail -n 40 "$work/serve.err" >&2
    exit 1
fi
