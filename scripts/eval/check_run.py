#!/usr/bin/env python3
"""Check `tamis eval`'s numbers against pytrec_eval on the run files it wrote.

`tamis eval --json --run-output RUN` records, for every row, the run file it wrote and its
value of each metric for every judged query. This script reads each run file back, measures
it with pytrec_eval against the split's qrels and fails unless every per-query value and
every mean agrees within the tolerance (1e-6). It is the end-to-end twin of the fixture test
in crates/tamis-eval: real runs from the whole engine, not synthetic ones.

Conventions are those of generate_fixture.py: `ndcg_cut.10`, `recall.100`, `P.5`,
`map_cut.100`, and MRR@10 as `recip_rank` on each query's top 10 in trec_eval's order. A
judged query the run does not answer counts as 0 (pytrec_eval would drop it), as in tamis.

Usage:
    tamis eval --dataset D --json --run-output /tmp/run.trec ... > report.json
    python scripts/eval/check_run.py --dataset D [--split test] report.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import pytrec_eval

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_fixture import MEASURES, METRICS, MRR_CUTOFF, trec_sorted  # noqa: E402

# tamis' metric labels, by pytrec_eval result name.
LABELS = {
    "ndcg_cut_10": "nDCG@10",
    "recall_100": "Recall@100",
    "P_5": "P@5",
    "recip_rank": "MRR@10",
    "map_cut_100": "MAP@100",
}
TOLERANCE = 1e-6


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels: a header, then `query-id corpus-id score`, tab separated (CRLF trimmed)."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows, None)
        for row in rows:
            if not row:
                continue
            qid, did, grade = (field.strip() for field in row[:3])
            qrels.setdefault(qid, {})[did] = int(grade)
    return qrels


def read_run(path: Path) -> dict[str, dict[str, float]]:
    """A TREC run: `qid Q0 docid rank score tag` per line."""
    run: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) != 6:
                sys.exit(f"{path}:{number}: expected 6 fields, found {len(fields)}")
            run.setdefault(fields[0], {})[fields[2]] = float(fields[4])
    return run


def measure(qrels: dict, run: dict) -> dict[str, dict[str, float]]:
    """pytrec_eval's value of every metric for every judged query."""
    answered = {qid: docs for qid, docs in run.items() if qid in qrels and docs}
    main = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(answered)
    top = {qid: dict(trec_sorted(docs)[:MRR_CUTOFF]) for qid, docs in answered.items()}
    cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top)
    per_query = {}
    for qid in qrels:
        if qid not in main:
            per_query[qid] = {name: 0.0 for name in METRICS}
            continue
        values = {name: main[qid][name] for name in METRICS if name != "recip_rank"}
        values["recip_rank"] = cut[qid]["recip_rank"]
        per_query[qid] = values
    return per_query


def check_row(row: dict, qrels: dict) -> list[str]:
    """Every disagreement between tamis' row and pytrec_eval on its run file."""
    errors = []
    run = read_run(Path(row["run_file"]))
    expected = measure(qrels, run)
    ours = row["per_query"]
    if set(ours) != set(expected):
        only_ours = sorted(set(ours) - set(expected))[:5]
        only_theirs = sorted(set(expected) - set(ours))[:5]
        return [f"query sets differ: tamis only {only_ours}, pytrec_eval only {only_theirs}"]
    for qid, values in expected.items():
        for name, value in values.items():
            got = ours[qid][LABELS[name]]
            if abs(got - value) > TOLERANCE:
                errors.append(f"query {qid} {LABELS[name]}: tamis {got:.9f}, pytrec_eval {value:.9f}")
    for name in METRICS:
        mean = sum(v[name] for v in expected.values()) / len(expected)
        got = row["metrics"][LABELS[name]]
        if abs(got - mean) > TOLERANCE:
            errors.append(f"mean {LABELS[name]}: tamis {got:.9f}, pytrec_eval {mean:.9f}")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the JSON `tamis eval --json` printed")
    parser.add_argument("--dataset", type=Path, required=True, help="the BEIR dataset folder")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    qrels = read_qrels(args.dataset / "qrels" / f"{args.split}.tsv")
    report = json.loads(args.report.read_text(encoding="utf-8"))
    rows = [row for row in report["results"] if row.get("run_file")]
    if not rows:
        sys.exit(f"{args.report}: no row names a run file (run tamis eval with --run-output)")
    failed = False
    for row in rows:
        errors = check_row(row, qrels)
        n = len(row["per_query"])
        if errors:
            failed = True
            print(f"FAIL {row['row']}: {len(errors)} disagreement(s) over {n} queries")
            for error in errors[:20]:
                print(f"    {error}")
        else:
            means = ", ".join(f"{LABELS[m]} {row['metrics'][LABELS[m]]:.4f}" for m in METRICS)
            print(f"ok   {row['row']}: {n} queries agree with pytrec_eval within 1e-6 ({means})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
