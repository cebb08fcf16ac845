#!/bin/bash
# bf16 and bf16x3 before and after the packed operands start on a cache line (`Lines`).
# OLD and NEW are tamis binaries built before and after; run from the project root with
# nothing else running. Three parts: the dense layers (`tamis bench gemm`, ms per
# product, bf16x3/bf16), the shared cross-encoder reranking end to end (bf16x3, bf16,
# and NEW's fp32 as the yardstick), and Qwen3-Reranker-0.6B's shapes (random weights,
# `scripts/bench/peers/llm.sh` makes them) with peak RSS. Engines alternate round by round.
set -euo pipefail
OLD=${OLD:?tamis binary before}; NEW=${NEW:?tamis binary after}
RERANK=${RERANK:?a rerank workload, as tamis bench rerank reads it}
LLM=${LLM:?a one-query LLM workload}; QWEN=${QWEN:-target/llm-models/qwen3-reranker-0.6b-random}
lscpu | grep "Model name"; grep -o "amx_bf16\|avx512_bf16" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for round in 1 2 3; do
  for b in OLD NEW; do
    for shape in "384 1536" "1024 3072"; do
      set -- $shape
      "${!b}" bench gemm --threads 2 --hidden "$1" --intermediate "$2" --json | python3 -c "
import json,sys; r=json.load(sys.stdin)
print('$b round $round h=$1', ' '.join('%s:%.2f/%.2f' % (g['layer'].replace(' ','-'), g['bf16x3_seconds']*1e3, g['bf16_seconds']*1e3) for g in r['gemm']))"
    done
  done
done
ce() {
  "$1" bench rerank --model ../shared/models/tamis-ce-minilm-l6-nfcorpus --workload "$RERANK" --threads 2 --precision "$2" --max-length 256 2>&1 | grep 'pairs/s' | head -1 | cut -c1-60
}
for round in 1 2 3; do
  for b in OLD NEW; do
    for p in bf16x3 bf16; do
      echo "round $round $b rerank-ce $p: $(ce "${!b}" $p)"
    done
  done
  echo "round $round NEW rerank-ce fp32: $(ce "$NEW" fp32)"
done
for round in 1 2; do
  for b in OLD NEW; do
    /usr/bin/time -f "maxrss %M KB" -o /tmp/rss.txt "${!b}" bench rerank --model "$QWEN" --reranker-kind qwen3 --workload "$LLM" --threads 2 --precision bf16x3 > /tmp/llm.txt 2>&1
    echo "round $round $b qwen3: $(grep 'pairs/s' /tmp/llm.txt | head -1 | cut -c1-60) $(cat /tmp/rss.txt)"
  done
done
