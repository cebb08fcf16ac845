"""Summarizes the JSON runs of bm25_grid.sh as Markdown tables.

    python3 scripts/eval/bm25_grid.py OUT_DIR DATASET...

Each parameter set is scored, per mode, by the mean over the datasets of its nDCG@10
relative to that dataset's best set, so a set good on every dataset ranks above one that
is best on one and poor on another. Standard library only.
"""

import json
import sys
from pathlib import Path

LEGACY = (1.2, 0.75, 1.0)
ANSERINI = (0.9, 0.4, 1.0)


def load(out: Path, datasets):
    """{mode: {dataset: {(k1, b, title): metrics}}}; also writes every row to grid.csv."""
    table = {}
    csv = ["dataset,mode,k1,b,title_weight,ndcg@10,recall@100,mrr@10,map@100"]
    for dataset in datasets:
        runs = json.loads((out / f"{dataset}.json").read_text())
        for row in runs["results"]:
            params = row.get("bm25")
            if params is None:
                continue
            key = tuple(round(params[name], 4) for name in ("k1", "b", "title_weight"))
            metrics = row["metrics"]
            table.setdefault(row["mode"], {}).setdefault(dataset, {})[key] = metrics
            values = ",".join(
                f"{metrics[m]:.4f}" for m in ("nDCG@10", "Recall@100", "MRR@10", "MAP@100")
            )
            csv.append(f"{dataset},{row['mode']},{key[0]:g},{key[1]:g},{key[2]:g},{values}")
    (out / "grid.csv").write_text("\n".join(csv) + "\n")
    return table


def name(key):
    return f"{key[0]:g} / {key[1]:g} / {key[2]:g}"


def summarize(mode, by_dataset, datasets, top):
    keys = set.intersection(*(set(by_dataset[d]) for d in datasets))
    best = {d: max(by_dataset[d][k]["nDCG@10"] for k in keys) for d in datasets}

    def balance(key):
        return sum(by_dataset[d][key]["nDCG@10"] / best[d] for d in datasets) / len(datasets)

    ranked = sorted(keys, key=balance, reverse=True)
    header = "| k1 / b / title | balance |" + "".join(
        f" {d} nDCG@10 | {d} R@100 |" for d in datasets
    )
    lines = [f"## {mode}", "", header, "|---|---|" + "---|---|" * len(datasets)]
    shown = ranked[:top] + [k for k in (LEGACY, ANSERINI) if k in keys and k not in ranked[:top]]
    for key in shown:
        label = name(key)
        if key == LEGACY:
            label += " (tantivy's fixed)"
        if key == ANSERINI:
            label += " (Anserini's)"
        cells = "".join(
            f" {by_dataset[d][key]['nDCG@10']:.4f} | {by_dataset[d][key]['Recall@100']:.4f} |"
            for d in datasets
        )
        lines.append(f"| {label} | {balance(key):.4f} |{cells}")
    best_line = ", ".join(
        f"{d} {best[d]:.4f} at {name(max(keys, key=lambda k, d=d: by_dataset[d][k]['nDCG@10']))}"
        for d in datasets
    )
    lines += ["", f"{len(keys)} sets. Best nDCG@10 per dataset: {best_line}.", ""]
    return "\n".join(lines)


def main():
    out, datasets = Path(sys.argv[1]), sys.argv[2:]
    table = load(out, datasets)
    print(
        "balance: the mean over datasets of a set's nDCG@10 relative to that dataset's best "
        "set (1 = best on every dataset). Top 15 by balance, then tantivy's fixed and "
        "Anserini's parameters.\n"
    )
    for mode, by_dataset in table.items():
        print(summarize(mode, by_dataset, datasets, 15))


if __name__ == "__main__":
    main()
