#!/usr/bin/env bash
# The ColBERT stage's own clock over many queries in one process, two tamis binaries alternating:
# `tamis search --queries` over NFCorpus' 323 test queries, BM25 top 100 reranked from stored token
# vectors, no result cache; prints the stage's p50 and mean per binary, index and precision.
# Usage: colbert_loop.sh BEFORE_BIN AFTER_BIN [ROUNDS]   (the indexes and model of
# scripts/bench/peers/colbert_stored.sh, under target/peers-colbert; run from the repository root)
set -euo pipefail
before="$1" after="$2" rounds="${3:-2}"
work=target/peers-colbert
model="$work/colbert-all-MiniLM-L6-v2-q32-d300-seed0"
queries="$(mktemp)"
trap 'rm -f "$queries"' EXIT
python3 - "$queries" <<'PY'
import json, sys
ids = {l.split("\t")[0] for l in open("../shared/datasets/nfcorpus/qrels/test.tsv").read().splitlines()[1:]}
with open(sys.argv[1], "w") as out:
    for line in open("../shared/datasets/nfcorpus/queries.jsonl"):
        q = json.loads(line)
        if q["_id"] in ids:
            out.write(json.dumps({"query": q["text"], "id": q["_id"]}) + "\n")
PY
echo "queries: $(wc -l < "$queries"); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
for storage in f16 int8; do
    index="$work/index-nfcorpus-$storage-colbert-all-MiniLM-L6-v2-q32-d300-seed0"
    for precision in fp32 bf16 int8; do
        for round in $(seq "$rounds"); do
            for bin in "$before" "$after"; do
                "$bin" search "$index" --queries "$queries" --json --mode bm25 --rerank "$model" \
                    --rerank-candidates 100 -k 100 --threads 2 --precision "$precision" \
                    --result-cache-entries 0 2>/dev/null | python3 -c "
import json, statistics, sys
t = [json.loads(l)['timings_ms'] for l in sys.stdin]
stage = [k for k in t[0] if k != 'stage1'][0]
v = [x[stage] for x in t]
print(f'$storage index, --precision $precision, round $round, $bin: p50 {statistics.median(v):.2f} ms, mean {statistics.mean(v):.2f} ms')
"
            done
        done
    done
done
