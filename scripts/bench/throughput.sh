#!/usr/bin/env bash
# Measures `tamis embed` (sentences/s) and `tamis rerank` (pairs/s) on NFCorpus text
# with the shared development models. Usage: scripts/bench/throughput.sh [THREADS]
# Needs a release build (cargo build --release) and ../shared (or TAMIS_SHARED_DIR).
# With PEER_PYTHON set to a Python that has sentence-transformers (scripts/parity/requirements.txt),
# the same inputs also go through sentence-transformers in the same run.
# tamis times include process start and model loading; the peer's exclude model loading.
set -euo pipefail
cd "$(dirname "$0")/../.."
shared="${TAMIS_SHARED_DIR:-../shared}"
threads="${1:-2}"
tamis=target/release/tamis
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$shared/datasets/nfcorpus" "$work" <<'PY'
import json, sys
corpus_dir, work = sys.argv[1], sys.argv[2]
docs = []
with open(f"{corpus_dir}/corpus.jsonl") as f:
    for line in f:
        d = json.loads(line)
        docs.append((d["_id"], (d["title"] + " " + d["text"]).strip()))
queries = {}
with open(f"{corpus_dir}/queries.jsonl") as f:
    for line in f:
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
test_ids = []
with open(f"{corpus_dir}/qrels/test.tsv") as f:
    next(f)
    for line in f:
        qid = line.split("\t")[0]
        if qid not in test_ids:
            test_ids.append(qid)
with open(f"{work}/embed.jsonl", "w") as out:
    for doc_id, text in docs[:1000]:
        out.write(json.dumps({"id": doc_id, "text": text}) + "\n")
# 10 test queries, each with 100 consecutive corpus documents as candidates.
with open(f"{work}/rerank.jsonl", "w") as out:
    for i, qid in enumerate(test_ids[:10]):
        cands = [text for _, text in docs[i * 100:(i + 1) * 100]]
        out.write(json.dumps({"query": queries[qid], "documents": cands}) + "\n")
PY

measure() {
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}
per_sec() { python3 -c "print(f'{$1 / $2:.1f}')"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads=$threads"
secs=$(measure "$tamis" embed --threads "$threads" -m "$shared/models/all-MiniLM-L6-v2" -i "$work/embed.jsonl")
echo "embed  all-MiniLM-L6-v2, 1000 NFCorpus docs (max 256 tokens): $secs s, $(per_sec 1000 "$secs") sentences/s"
secs=$(measure "$tamis" rerank --threads "$threads" -m "$shared/models/tamis-ce-minilm-l6-nfcorpus" -i "$work/rerank.jsonl")
echo "rerank tamis-ce-minilm-l6-nfcorpus, 10 queries x 100 docs (max 256 tokens): $secs s, $(per_sec 1000 "$secs") pairs/s"
if [ -n "${PEER_PYTHON:-}" ]; then
    "$PEER_PYTHON" scripts/bench/peer_sentence_transformers.py "$shared" "$work" "$threads"
fi
