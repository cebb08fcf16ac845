"""Build the rerank workload of the peer benchmark from a BEIR dataset and a TREC run file.

Usage:
    python rerank_workload.py --dataset ../shared/datasets/nfcorpus --run RUN.trec --out rerank.jsonl \
        [--depth 100] [--split test] [--limit N]

RUN.trec has lines `qid Q0 docid rank score tag` (as `tamis eval --run-output` writes them).
One output line per query of the split's qrels (qrels/<split>.tsv) that has a run, in the order the
queries first appear in the run file:
    {"query_id": "...", "query": "...", "passages": ["title text", ...], "doc_ids": ["...", ...]}
passages are the run's top-`depth` documents in rank order, each `(title + " " + text).strip()`;
doc_ids are their corpus ids (bench.py uses them for nDCG@10; the engines only see query and passages).
"""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def passage_text(doc: dict) -> str:
    return ((doc.get("title") or "") + " " + (doc.get("text") or "")).strip()


def read_by_id(path: Path, value, hint: str = "") -> dict:
    """A BEIR JSONL file -> {_id: value(record)}, in file order."""
    if not path.is_file():
        sys.exit(f"error: {path} not found{hint}")
    records = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                records[str(record["_id"])] = value(record)
    return records


def read_corpus(dataset: Path) -> dict:
    """corpus.jsonl -> {doc_id: passage text}, in file order."""
    return read_by_id(dataset / "corpus.jsonl", passage_text, " (expected a BEIR dataset directory)")


def read_queries(dataset: Path) -> dict:
    return read_by_id(dataset / "queries.jsonl", lambda q: q["text"])


def read_qrels(path: Path) -> dict:
    """qrels TSV (header `query-id corpus-id score`, CRLF tolerated) -> {qid: {doc_id: grade}}."""
    if not path.is_file():
        sys.exit(f"error: {path} not found")
    qrels = defaultdict(dict)
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\r\n").split("\t")
            if n == 0 and parts[0] == "query-id":
                continue
            if len(parts) < 3:
                continue
            qrels[parts[0]][parts[1]] = int(float(parts[2]))
    return dict(qrels)


def read_run(path: Path) -> dict:
    """TREC run -> {qid: [doc_id, ...] by rank}, keeping the order in which queries first appear."""
    if not path.is_file():
        sys.exit(f"error: run file {path} not found (produce one with `tamis eval --run-output`)")
    entries = defaultdict(list)
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                sys.exit(f"error: {path}:{n}: expected `qid Q0 docid rank score tag`, got {line.strip()!r}")
            qid, _, doc_id, rank, score, _ = parts
            entries[qid].append((int(rank), -float(score), len(entries[qid]), doc_id))
    return {qid: [e[3] for e in sorted(rows)] for qid, rows in entries.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR dataset directory")
    parser.add_argument("--run", type=Path, required=True, help="TREC run file")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL")
    parser.add_argument("--depth", type=int, default=100, help="passages per query (default 100)")
    parser.add_argument("--split", default="test", help="qrels split whose queries are kept (default test)")
    parser.add_argument("--limit", type=int, help="keep only the first N queries")
    args = parser.parse_args()

    corpus = read_corpus(args.dataset)
    queries = read_queries(args.dataset)
    qrels = read_qrels(args.dataset / "qrels" / f"{args.split}.tsv")
    run = read_run(args.run)

    n_lines = n_pairs = 0
    missing_queries = [qid for qid in qrels if qid not in run]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for qid, doc_ids in run.items():
            if qid not in qrels:
                continue
            if qid not in queries:
                sys.exit(f"error: query {qid} of the run is not in {args.dataset / 'queries.jsonl'}")
            doc_ids = doc_ids[: args.depth]
            unknown = [d for d in doc_ids if d not in corpus]
            if unknown:
                sys.exit(f"error: run documents not in the corpus (query {qid}): {unknown[:5]}")
            line = {"query_id": qid, "query": queries[qid], "passages": [corpus[d] for d in doc_ids],
                    "doc_ids": doc_ids}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            n_lines += 1
            n_pairs += len(doc_ids)
            if args.limit and n_lines >= args.limit:
                break
    print(f"{args.out}: {n_lines} queries, {n_pairs} pairs (depth {args.depth}, split {args.split}; "
          f"{len(missing_queries)} judged queries have no run)", file=sys.stderr)
    if n_lines == 0:
        sys.exit("error: no query of the run is in the split's qrels")


if __name__ == "__main__":
    main()
