"""Writes crates/tamis-lexical/tests/fixtures/bm25s.json: bm25s's BM25 scores for the first
test queries of NFCorpus and Cranfield, which tests/it/formula.rs compares with tamis.

    python3 scripts/eval/bm25s_fixture.py [--shared ../shared]

Both sides score the same terms: the dataset's documents (`title + " " + text`) and queries
go through tamis's analyzer first (`cargo run -p tamis-lexical --example dump_terms`), and
bm25s indexes those token lists. So the comparison is of scoring alone. bm25s's "lucene"
method has no (k1 + 1) factor and uses exact document lengths; the test accounts for both.
Deterministic: rerunning it must not change the fixture.
"""

import argparse
import hashlib
import json
import os
import subprocess
from pathlib import Path

import bm25s
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "crates/tamis-lexical/tests/fixtures/bm25s.json"
DATASETS = ["nfcorpus", "cranfield"]
PARAMS = [(0.9, 0.4), (1.2, 0.75)]
QUERIES = 30
TOP = 30


def terms_of(dataset_dir: Path):
    out = subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--locked", "-p", "tamis-lexical",
         "--example", "dump_terms", "--", str(dataset_dir)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    docs, queries = [], []
    for line in out.splitlines():
        item = json.loads(line)
        (docs if item["kind"] == "doc" else queries).append((item["id"], item["terms"]))
    return docs, queries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.environ.get("TAMIS_SHARED_DIR", ROOT.parent / "shared"))
    args = parser.parse_args()
    fixture = {"bm25s_version": bm25s.__version__, "queries": QUERIES, "top": TOP, "datasets": {}}
    for name in DATASETS:
        dataset_dir = Path(args.shared) / "datasets" / name
        corpus = (dataset_dir / "corpus.jsonl").read_bytes()
        docs, queries = terms_of(dataset_dir)
        runs = []
        for k1, b in PARAMS:
            retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
            retriever.index([terms for _, terms in docs], show_progress=False)
            rows = []
            for query_id, terms in queries[:QUERIES]:
                known = [t for t in terms if t in retriever.vocab_dict]
                if not known:
                    rows.append({"id": query_id, "hits": []})
                    continue
                scores = retriever.get_scores(known)
                # Best first, ties by corpus order, so the fixture is stable.
                order = np.lexsort((np.arange(len(scores)), -scores))[:TOP]
                hits = [[docs[i][0], float(f"{scores[i]:.8g}")] for i in order if scores[i] > 0]
                rows.append({"id": query_id, "hits": hits})
            runs.append({"k1": k1, "b": b, "queries": rows})
        fixture["datasets"][name] = {
            "corpus_sha256": hashlib.sha256(corpus).hexdigest(),
            "runs": runs,
        }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    # One query per line: small, and a change shows as a diff of the queries it touches.
    text = json.dumps(fixture, separators=(",", ":"))
    text = text.replace('{"id":', '\n{"id":')
    FIXTURE.write_text(text + "\n")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
