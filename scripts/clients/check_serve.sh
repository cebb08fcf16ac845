#!/usr/bin/env bash
# Starts `tamis serve` on loopback with the shared models and an API key, runs the official
# cohere / openai / huggingface_hub SDKs against it (check_clients.py), and stops it.
# Usage: scripts/clients/check_serve.sh [TAMIS_BINARY]   (default: target/debug/tamis)
# Needs python3 (a venv with scripts/clients/requirements.txt is made under $TMPDIR) and the
# shared models (../shared or TAMIS_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."

tamis="${1:-target/debug/tamis}"
shared="${TAMIS_SHARED_DIR:-../shared}"
source scripts/lib/serve.sh
serve_setup check_serve "$tamis" "$shared"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -r scripts/clients/requirements.txt

key="check-$RANDOM-$RANDOM"
serve_start --model "$shared/models/all-MiniLM-L6-v2" \
    --reranker "$shared/models/tamis-ce-minilm-l6-nfcorpus" \
    --api-key "$key"
echo "tamis serve listening on $url"
"$work/venv/bin/python" scripts/clients/check_clients.py --base-url "$url" --api-key "$key" --shared "$shared"

# Graceful shutdown: SIGTERM, and the process must exit on its own.
serve_stop
