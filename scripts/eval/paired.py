#!/usr/bin/env python3
"""Compare two runs query by query: how far one mode's nDCG@10 moved from another's, and
whether the move stands out from the spread of the per-query differences.

A precision mode (int8, bf16) nudges the reranker's scores, which swaps near-tied
documents; over a few hundred queries the mean nDCG@10 then moves by a little in either
direction. This prints the mean difference with its standard error and 95 % interval
(paired: the same queries in both runs), and how many queries changed at all, so that a
difference of a few thousandths can be read against its own noise.

Usage:
    python scripts/eval/paired.py --dataset ../shared/datasets/nfcorpus \
        --base fp32.run --other int8.run [--other bf16.run ...] [--split test]

Runs are TREC files as `tamis eval --run-output` writes them. A judged query a run does
not answer counts as 0, as in tamis.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import pytrec_eval


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return qrels


def read_run(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            qid, _, doc, _, score, _ = line.split()
            run.setdefault(qid, {})[doc] = float(score)
    return run


def per_query(evaluator, qrels, run) -> dict[str, float]:
    scores = evaluator.evaluate(run)
    return {q: scores.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--other", type=Path, action="append", required=True)
    args = parser.parse_args()
    qrels = read_qrels(args.dataset / "qrels" / f"{args.split}.tsv")
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    base = per_query(evaluator, qrels, read_run(args.base))
    n = len(base)
    mean_base = sum(base.values()) / n
    print(f"{args.base.name}: nDCG@10 {mean_base:.4f} over {n} judged queries")
    for other_path in args.other:
        other = per_query(evaluator, qrels, read_run(other_path))
        diffs = [other[q] - base[q] for q in base]
        mean = sum(diffs) / n
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else 0.0
        se = sd / math.sqrt(n)
        changed = sum(1 for d in diffs if abs(d) > 1e-12)
        print(f"{other_path.name}: nDCG@10 {mean_base + mean:.4f}, difference {mean:+.4f} "
              f"(standard error {se:.4f}, 95% interval {mean - 1.96 * se:+.4f} to {mean + 1.96 * se:+.4f}); "
              f"{changed} of {n} queries changed, {sum(1 for d in diffs if d > 1e-12)} up, "
              f"{sum(1 for d in diffs if d < -1e-12)} down")


if __name__ == "__main__":
    main()
