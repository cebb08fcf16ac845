"""Compares reranked TREC runs of `tamis eval --run-output` against a baseline run.

For each other run: nDCG@10 and its difference (from the eval's --json beside each run
file), the queries whose nDCG@10 changed, the queries whose top 10 changed order, and
the document pairs of each query that the two runs order differently.

    python3 compare_runs.py BASE.json BASE.run OTHER.json OTHER.run [OTHER.json OTHER.run ...]
"""

import collections
import json
import sys


def load_run(path):
    ranks = collections.defaultdict(dict)
    with open(path) as f:
        for line in f:
            qid, _, doc, rank, _, _ = line.split()
            ranks[qid][doc] = int(rank)
    return ranks


def last_row(path):
    with open(path) as f:
        row = json.load(f)["results"][-1]
    return row["metrics"]["nDCG@10"], row["per_query"]


def top10(ranks):
    return sorted(ranks, key=ranks.get)[:10]


def main(args):
    base_ndcg, base_per_query = last_row(args[0])
    base = load_run(args[1])
    for json_path, run_path in zip(args[2::2], args[3::2]):
        ndcg, per_query = last_row(json_path)
        other = load_run(run_path)
        top_changed = swapped = 0
        for qid, docs in base.items():
            mine = other[qid]
            top_changed += top10(docs) != top10(mine)
            names = [d for d in docs if d in mine]
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    swapped += (docs[a] < docs[b]) != (mine[a] < mine[b])
        changed = sum(
            abs(per_query[q]["nDCG@10"] - base_per_query[q]["nDCG@10"]) > 1e-12
            for q in base_per_query
        )
        print(
            f"{run_path}: nDCG@10 {ndcg:.4f} ({ndcg - base_ndcg:+.4f}), "
            f"{changed} queries changed, {top_changed} top 10s reordered, {swapped} pairs swapped"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
