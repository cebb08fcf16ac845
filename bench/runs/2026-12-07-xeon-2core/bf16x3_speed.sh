#!/bin/bash
# fp32, bf16 and bf16x3 alternating, three rounds: the shared cross-encoder on a rerank
# workload (RERANK, as `tamis bench rerank` reads it) and all-MiniLM-L6-v2 on two embed
# workloads (EMBED_DOCS, EMBED_ONE, as `tamis bench embed` reads them). Run from the
# project root; B is the tamis binary.
B=${B:-target/release/tamis}
lscpu | grep "Model name"; grep -o "amx_bf16\|avx512_bf16" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for round in 1 2 3; do
  for p in fp32 bf16 bf16x3; do
    echo "round $round rerank $p: $($B bench rerank --model ../shared/models/tamis-ce-minilm-l6-nfcorpus --workload "$RERANK" --threads 2 --precision $p --max-length 256 2>&1 | grep 'pairs/s' | head -1)"
  done
done
for round in 1 2 3; do
  for p in fp32 bf16 bf16x3; do
    for w in "$EMBED_DOCS" "$EMBED_ONE"; do
      echo "round $round embed $w $p: $($B bench embed --model ../shared/models/all-MiniLM-L6-v2 --workload "$w" --threads 2 --precision $p 2>&1 | grep 'documents/s' | head -1)"
    done
  done
done
