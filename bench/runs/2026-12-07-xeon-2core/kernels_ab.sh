#!/bin/bash
# A/B of two tamis binaries, alternating, on the CE and LLM rerank workloads.
cd /work/main
for round in 1 2 3; do
  for bin in /work/runs/tamis-5e5d549 /work/runs/tamis-new; do
    name=$(basename $bin)
    for p in bf16 int8; do
      echo "== round $round $name ce $p"
      $bin bench rerank --model ../shared/models/tamis-ce-minilm-l6-nfcorpus --workload /work/runs/rerank20.jsonl --threads 2 --precision $p --max-length 256 2>&1 | grep -E "pairs/s"
    done
    for m in qwen3:qwen3-reranker-0.6b-random mxbai-v2:mxbai-rerank-base-v2-random; do
      kind=${m%%:*}; dir=${m#*:}
      echo "== round $round $name llm $kind bf16"
      $bin bench rerank --model target/llm-models/$dir --reranker-kind $kind --workload /work/runs/llm-bf16/llm-workload.jsonl --threads 2 --precision bf16 2>&1 | grep -E "pairs/s"
    done
  done
done
