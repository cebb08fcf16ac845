#!/usr/bin/env bash
# Dense / hybrid nDCG@10 with the bi-encoder in fp32 and in bf16x3 (what auto picks on AMX).
set -euo pipefail
B=${B:-target/release/tamis}
for D in nfcorpus cranfield; do
  for P in fp32 bf16x3; do
    echo "== $D $P"
    /usr/bin/time -f "wall %e s, maxrss %M KB" $B eval --dataset ../shared/datasets/$D --split test \
      -m ../shared/models/all-MiniLM-L6-v2 --chunking whole --threads 2 --precision embed=$P,rerank=fp32 \
      --cache-dir /work/runs/evalcache-$P --run-output /work/runs/dense-$D-$P.run --json > /work/runs/dense-$D-$P.json
  done
done
