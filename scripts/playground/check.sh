#!/usr/bin/env bash
# The search playground in a real browser: starts `tamis serve` on loopback with the shared
# bi-encoder and cross-encoder, a data directory, a full key and a read-only key, and runs
# scripts/playground/test_playground.py (pytest + Selenium) against it in headless Chromium.
# Usage: scripts/playground/check.sh [TAMIS_BINARY]   (default: target/debug/tamis)
# Needs Debian's `chromium` and `chromium-driver` (apt-get install chromium chromium-driver;
# CHROMIUM and CHROMEDRIVER name other binaries), python3 (a venv with requirements.txt is
# made under $TMPDIR) and the shared data (../shared or TAMIS_SHARED_DIR).
# PLAYGROUND_SCREENSHOT=PATH also writes the README's screenshot (docs/playground.png: stage 1 | final).
set -euo pipefail
cd "$(dirname "$0")/../.."

tamis="${1:-target/debug/tamis}"
shared="${TAMIS_SHARED_DIR:-../shared}"
export CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || true)}"
if [ -z "$CHROMIUM" ] || [ -z "$CHROMEDRIVER" ]; then
    echo "check_playground: chromium and chromedriver not found: apt-get install chromium chromium-driver (or set CHROMIUM and CHROMEDRIVER)" >&2
    exit 1
fi
echo "check_playground: $("$CHROMIUM" --version 2>/dev/null), $("$CHROMEDRIVER" --version)"
source scripts/lib/serve.sh
serve_setup check_playground "$tamis" "$shared"
export TAMIS_SHARED_DIR="$(cd "$shared" && pwd)"
[ -z "${PLAYGROUND_SCREENSHOT:-}" ] || export PLAYGROUND_SCREENSHOT="$(realpath -m "$PLAYGROUND_SCREENSHOT")"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-cache-dir -r scripts/playground/requirements.txt

export TAMIS_KEY="full-$RANDOM-$RANDOM" TAMIS_READ_KEY="read-$RANDOM-$RANDOM"
serve_start --model "$shared/models/all-MiniLM-L6-v2" \
    --reranker "ce=$shared/models/tamis-ce-minilm-l6-nfcorpus" \
    --data-dir "$work/data" --api-key "$TAMIS_KEY" --read-only-key "$TAMIS_READ_KEY"
export TAMIS_URL="$url"
echo "tamis serve listening on $url"

# Selenium must use the given driver, never fetch one.
export SE_OFFLINE=true
status=0
(cd "$work" && "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/scripts/playground/test_playground.py") || status=$?
if [ "$status" -ne 0 ]; then
    echo "check_playground: the browser tests failed (status $status); server log:" >&2
    tail -n 30 "$work/serve.err" >&2
    exit 1
fi
serve_stop
