#!/bin/bash
# A/B: the tamis binaries OLD and NEW alternating, three rounds: `tamis bench gemm` at MiniLM's and
# Qwen3-0.6B's widths, the shared cross-encoder on RERANK (a `tamis bench rerank` workload) in bf16 and
# bf16x3, and the random-weight Qwen3-Reranker (scripts/bench/peers/llm_models.py) on one query of
# LLM_WORKLOAD (llm_bench.py's --workload-out). Run from the project root.
OLD=${OLD:?the baseline tamis binary}; NEW=${NEW:?the tamis binary to compare}
lscpu | grep "Model name"; grep -o "amx_bf16\|avx512_bf16" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for round in 1 2 3; do
  for bin in $OLD $NEW; do
    name=$(basename $bin)
    for shape in "--hidden 384 --intermediate 1536" "--hidden 1024 --intermediate 3072"; do
      echo "== round $round $name gemm $shape"
      $bin bench gemm --threads 2 $shape --json | python3 "$(dirname "$0")"/gemm_fmt.py
    done
    for p in bf16 bf16x3; do
      echo "== round $round $name ce $p: $($bin bench rerank --model ../shared/models/tamis-ce-minilm-l6-nfcorpus --workload "$RERANK" --threads 2 --precision $p --max-length 256 2>&1 | grep -E 'pairs/s' | head -1)"
    done
    for m in qwen3:qwen3-reranker-0.6b-random; do
      kind=${m%%:*}; dir=${m#*:}
      for p in bf16x3 bf16; do
        echo "== round $round $name llm $kind $p: $($bin bench rerank --model target/llm-models/$dir --reranker-kind $kind --workload "$LLM_WORKLOAD" --warmup 1 --limit 1 --threads 2 --precision $p 2>&1 | grep -E 'pairs/s' | head -1)"
      done
    done
  done
done
