#!/bin/bash
# A/B: A = HEAD, C = HEAD + low-precision products converting at most 1024 rows at once.
# Peak RSS and speed in bf16x3 (auto on this AMX CPU): NFCorpus indexing through tamis eval
# (a fresh index each run), the shared cross-encoder on 20 NFCorpus lists, and the
# random-weight Qwen3-Reranker on one query. Alternating, two rounds. Run from the project root.
A=/work/runs/tamis-A; C=/work/runs/tamis-C
lscpu | grep "Model name"
for round in 1 2; do
  for name in A C; do
    b=$A; [ $name = C ] && b=$C
    rm -rf /work/runs/chunk-cache
    echo "== round $round $name index: $( { /usr/bin/time -f 'maxrss %M KB' $b eval --dataset ../shared/datasets/nfcorpus --split test -m ../shared/models/all-MiniLM-L6-v2 --chunking whole --threads 2 --mode dense --precision bf16x3 --cache-dir /work/runs/chunk-cache --json > /dev/null; } 2>&1 | grep -E 'embedded now|maxrss' | tr '\n' ' ')"
    echo "== round $round $name ce: $( { /usr/bin/time -f 'maxrss %M KB' $b bench rerank --model ../shared/models/tamis-ce-minilm-l6-nfcorpus --workload /work/runs/rerank20.jsonl --threads 2 --precision bf16x3 --max-length 256; } 2>&1 | grep -E 'pairs/s|maxrss' | tr '\n' ' ')"
    echo "== round $round $name llm: $( { /usr/bin/time -f 'maxrss %M KB' $b bench rerank --model target/llm-models/qwen3-reranker-0.6b-random --reranker-kind qwen3 --workload /work/runs/llm1/llm-workload.jsonl --warmup 1 --limit 1 --threads 2 --precision bf16x3; } 2>&1 | grep -E 'pairs/s|maxrss|peak' | tr '\n' ' ')"
  done
done
