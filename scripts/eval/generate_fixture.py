#!/usr/bin/env python3
"""Generate the pytrec_eval parity fixture of the tamis-eval crate.

Three cases, each a qrels, a run and pytrec_eval's value of every metric for every query:

- `synthetic`: seeded qrels (grades -1..3, queries with no relevant document) and a seeded run
  with deliberate score ties, queries with fewer than 5 and more than 100 documents, an empty
  answer, unjudged queries, and document ids that sort differently as strings and as numbers.
- `synthetic-ignore-identical`: the same, with BEIR's ignore_identical_ids (a document whose id
  is the query id is dropped from the run before evaluating).
- `nfcorpus-test`: the NFCorpus test qrels from the shared directory (recorded by path and
  sha256, not embedded) and a seeded run over its corpus ids.

Metrics are pytrec_eval's `ndcg_cut.10`, `recall.100`, `P.5` and `map_cut.100`, and MRR@10:
pytrec_eval's `recip_rank` on the run cut to its top 10 in trec_eval's order (score
descending, then document id descending), as the references in shared/datasets/README.md were
computed. The mean of each case is BEIR's: the average over the queries pytrec_eval returns,
which is every judged query because the run answers all of them.

Usage (from the repository root, with the packages of scripts/eval/requirements.txt):
    python scripts/eval/generate_fixture.py [--out FILE] [--shared DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
from importlib.metadata import version
from pathlib import Path

import pytrec_eval

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "crates" / "tamis-eval" / "tests" / "fixtures" / "pytrec_parity.json"
NFCORPUS_QRELS = "datasets/nfcorpus/qrels/test.tsv"
NFCORPUS_CORPUS = "datasets/nfcorpus/corpus.jsonl"

# pytrec_eval measure specs, and the result names the fixture records.
MEASURES = {"ndcg_cut.10", "recall.100", "P.5", "map_cut.100"}
METRICS = ["ndcg_cut_10", "recall_100", "P_5", "recip_rank", "map_cut_100"]
MRR_CUTOFF = 10


def trec_sorted(docs: dict[str, float]) -> list[tuple[str, float]]:
    """A query's documents in trec_eval's order: score descending, then id descending (bytes)."""
    return sorted(docs.items(), key=lambda hit: (hit[1], hit[0].encode("utf-8")), reverse=True)


def evaluate(qrels: dict, run: dict, ignore_identical_ids: bool) -> dict:
    """Per-query values and BEIR's means, checked against our own reading of trec_eval's order."""
    if ignore_identical_ids:
        run = {qid: {did: s for did, s in docs.items() if did != qid} for qid, docs in run.items()}
    missing = set(qrels) - set(run)
    assert not missing, f"every judged query must be answered (pytrec_eval drops {sorted(missing)})"

    main = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    top = {qid: dict(trec_sorted(docs)[:MRR_CUTOFF]) for qid, docs in run.items()}
    cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top)
    assert set(main) == set(qrels) == set(cut), "pytrec_eval returned other queries than judged"

    per_query = {}
    for qid in qrels:
        values = {name: main[qid][name] for name in METRICS if name != "recip_rank"}
        values["recip_rank"] = cut[qid]["recip_rank"]
        # P@5 from our own ordering must be pytrec_eval's: this checks the tie-breaking rule
        # that the Rust crate implements, not just the numbers it must reproduce.
        ranked = [did for did, _ in trec_sorted(run[qid])][:5]
        own_p5 = sum(qrels[qid].get(did, 0) > 0 for did in ranked) / 5
        assert abs(own_p5 - values["P_5"]) < 1e-12, f"trec order differs on {qid}"
        per_query[qid] = values
    mean = {name: sum(v[name] for v in per_query.values()) / len(per_query) for name in METRICS}
    return {"n_queries": len(per_query), "mean": mean, "per_query": per_query}


def synthetic(rng: random.Random) -> tuple[dict, dict]:
    """Seeded qrels and run that exercise the corners of trec_eval's conventions."""
    # Numeric ids sort differently as strings ("9" > "10"); mixed case and non-ASCII ids check
    # that ties are broken on bytes, as C's strcmp does.
    pool = [str(n) for n in range(300)] + [f"d-{n:03}" for n in range(100)]
    pool += ["Doc-A", "doc-a", "doc-\u00e9", "doc-\u00e8", "doc-z", "DOC-z"]
    # Some query ids are also document ids, for ignore_identical_ids.
    query_ids = [f"q{n}" for n in range(1, 55)] + ["7", "10", "42", "123", "d-050", "doc-a"]
    grades = [-1, 0, 0, 1, 1, 1, 2, 2, 3]

    qrels: dict[str, dict[str, int]] = {}
    for idx, qid in enumerate(query_ids):
        judged = rng.sample(pool, rng.randint(1, 30))
        if idx % 12 == 5:
            # No relevant document: pytrec_eval still returns (zero) values for the query.
            qrels[qid] = {did: rng.choice([-1, 0]) for did in judged}
        else:
            qrels[qid] = {did: rng.choice(grades) for did in judged}
            qrels[qid][rng.choice(judged)] = rng.randint(1, 3)
        if qid in pool and rng.random() < 0.7:
            qrels[qid][qid] = rng.randint(1, 3)

    run: dict[str, dict[str, float]] = {}
    for idx, qid in enumerate(query_ids):
        if idx % 10 == 3:
            size = rng.randint(1, 4)  # fewer than P@5's 5
        elif idx % 10 == 7:
            size = rng.randint(101, 180)  # more than Recall@100's and MAP@100's 100
        else:
            size = rng.randint(5, 60)
        judged = list(qrels[qid])
        docs = rng.sample(judged, rng.randint(0, min(len(judged), size)))
        docs += rng.sample([did for did in pool if did not in docs], size - len(docs))
        if qid in pool and qid not in docs and rng.random() < 0.8:
            docs[rng.randrange(len(docs))] = qid
        style = idx % 4
        scores = {}
        for did in docs:
            if style == 0:
                scores[did] = round(rng.random(), 1)  # coarse: many ties
            elif style == 1:
                scores[did] = round(rng.uniform(-5, 5), 4)  # negative scores
            elif style == 2:
                scores[did] = float(rng.randint(0, 3))  # integers, heavy ties
            else:
                tie = scores and rng.random() < 0.3
                scores[did] = rng.choice(list(scores.values())) if tie else round(rng.uniform(0, 30), 3)
        if qid in scores:
            # As in ArguAna, a query that is also a document retrieves itself first.
            scores[qid] = max(scores.values()) + 1.0
        run[qid] = scores
    # A judged query answered with nothing, every document tied, and "9" > "100" > "10" > "1".
    qrels["q-empty"] = {"5": 1, "6": 2}
    run["q-empty"] = {}
    qrels["q-all-tied"] = {"3": 1, "30": 2, "d-003": 1}
    tied = ["3", "30", "300", "d-003", "d-030", "Doc-A", "doc-a", "4", "5", "6", "7", "8"]
    run["q-all-tied"] = {did: 1.0 for did in tied}
    qrels["q-numeric"] = {"10": 1}
    run["q-numeric"] = {"9": 1.0, "10": 1.0, "100": 1.0, "1": 0.5}
    # Queries nobody judged: pytrec_eval, BEIR and tamis leave them out.
    run["unjudged-1"] = {"1": 1.0, "2": 0.5}
    run["unjudged-2"] = {"d-001": 0.1}
    return qrels, run


def read_beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A BEIR qrels file as BEIR's loader reads it: header skipped, CRLF trimmed."""
    qrels: dict[str, dict[str, int]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if not line.strip():
            continue
        qid, did, grade = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(grade)
    return qrels


def nfcorpus_run(rng: random.Random, qrels: dict, corpus_ids: list[str]) -> dict:
    """For each judged query: some of its relevant documents among random others, with ties."""
    run = {}
    for qid, judged in qrels.items():
        size = 120 if rng.random() < 0.05 else rng.randint(5, 40)
        relevant = [did for did, grade in judged.items() if grade > 0]
        docs = rng.sample(relevant, rng.randint(0, min(len(relevant), size // 2)))
        chosen = set(docs)
        while len(docs) < size:
            did = rng.choice(corpus_ids)
            if did not in chosen:
                chosen.add(did)
                docs.append(did)
        scores: dict[str, float] = {}
        for did in docs:
            if scores and rng.random() < 0.25:
                scores[did] = rng.choice(list(scores.values()))
            else:
                scores[did] = round(rng.uniform(0, 40), 4)
        run[qid] = scores
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(os.environ.get("TAMIS_SHARED_DIR", REPO_ROOT.parent / "shared")),
        help="the shared directory with datasets/ (default: $TAMIS_SHARED_DIR or ../shared)",
    )
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    qrels, run = synthetic(rng)
    cases = [
        {"name": "synthetic", "ignore_identical_ids": False, "qrels": qrels, "run": run},
        {"name": "synthetic-ignore-identical", "ignore_identical_ids": True, "qrels": qrels, "run": run},
    ]

    qrels_path = args.shared / NFCORPUS_QRELS
    nf_qrels = read_beir_qrels(qrels_path)
    with (args.shared / NFCORPUS_CORPUS).open(encoding="utf-8") as corpus:
        corpus_ids = [json.loads(line)["_id"] for line in corpus]
    cases.append(
        {
            "name": "nfcorpus-test",
            "ignore_identical_ids": False,
            "qrels_file": {
                "path": NFCORPUS_QRELS,
                "sha256": hashlib.sha256(qrels_path.read_bytes()).hexdigest(),
            },
            "run": nfcorpus_run(rng, nf_qrels, corpus_ids),
            "qrels_for_evaluation": nf_qrels,
        }
    )

    for case in cases:
        case_qrels = case.pop("qrels_for_evaluation", None) or case["qrels"]
        case["expected"] = evaluate(case_qrels, case["run"], case["ignore_identical_ids"])
        expected = case["expected"]
        print(f"{case['name']}: {expected['n_queries']} queries, mean {expected['mean']}", file=sys.stderr)

    fixture = {
        "generator": "scripts/eval/generate_fixture.py",
        "seed": args.seed,
        "versions": {
            "python": platform.python_version(),
            "pytrec_eval-terrier": version("pytrec_eval-terrier"),
        },
        "metrics": METRICS,
        "mrr_cutoff": MRR_CUTOFF,
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Python writes each float as the shortest decimal that reads back as the same double.
    args.out.write_text(json.dumps(fixture, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
