"""Build the training workload of the peer training-speed benchmark: groups of one query and its documents.

Usage:
    python train_workload.py --dataset ../shared/datasets/nfcorpus --out groups.jsonl \
        [--split train] [--groups N] [--negatives 7] [--seed 0]

One output line per group, N lines, the positive first:
    {"query": "...", "documents": ["positive", "negative 1", ..., "negative K"]}
The queries are the split's queries (qrels/<split>.tsv) with at least one relevant document (grade > 0),
shuffled with the seed and taken in turn (again from the first, with new draws, if N exceeds them).
The positive is one of the query's relevant documents, the negatives K documents of the corpus that the
split does not judge relevant for the query, all drawn at random with the seed: hardness does not matter
for speed, text length does, so the texts are the real ones, built as `tamis train` builds them
(`crates/tamis-cli/src/train.rs` `read_corpus`): the title, trimmed, a space and the text, or the text
alone when the title is empty. The same arguments give the same file.
"""
import argparse
import json
import random
import sys
from pathlib import Path

from rerank_workload import read_by_id, read_qrels, read_queries


def document_text(doc: dict) -> str:
    """As `tamis train` reads the corpus: `title + " " + text`, the title trimmed, the text as it is."""
    title = (doc.get("title") or "").strip()
    text = doc.get("text") or ""
    return f"{title} {text}" if title else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR dataset directory")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL")
    parser.add_argument("--split", default="train", help="qrels split the queries come from (default train)")
    parser.add_argument("--groups", type=int, default=500, help="groups to write (default 500)")
    parser.add_argument("--negatives", type=int, default=7, help="negatives per group (default 7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    args = parser.parse_args()
    if args.groups < 1:
        parser.error("--groups must be at least 1")
    if args.negatives < 1:
        parser.error("--negatives must be at least 1")

    corpus = read_by_id(args.dataset / "corpus.jsonl", document_text, " (expected a BEIR dataset directory)")
    queries = read_queries(args.dataset)
    qrels = read_qrels(args.dataset / "qrels" / f"{args.split}.tsv")
    doc_ids = list(corpus)

    judged = []
    for qid in sorted(qrels):
        positives = sorted(d for d, grade in qrels[qid].items() if grade > 0)
        if not positives:
            continue
        if qid not in queries:
            sys.exit(f"error: query {qid} of qrels/{args.split}.tsv is not in {args.dataset / 'queries.jsonl'}")
        unknown = [d for d in positives if d not in corpus]
        if unknown:
            sys.exit(f"error: qrels/{args.split}.tsv judges documents not in the corpus (query {qid}): {unknown[:5]}")
        judged.append((qid, positives))
    if not judged:
        sys.exit(f"error: no query of qrels/{args.split}.tsv has a relevant document")

    rng = random.Random(args.seed)
    order = list(range(len(judged)))
    rng.shuffle(order)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    n_docs = n_chars = 0
    with args.out.open("w", encoding="utf-8") as out:
        for n in range(args.groups):
            qid, positives = judged[order[n % len(order)]]
            relevant = set(positives)
            if len(doc_ids) - len(relevant) < args.negatives:
                sys.exit(f"error: query {qid} has fewer than {args.negatives} documents not judged relevant")
            negatives = []
            while len(negatives) < args.negatives:
                doc = rng.choice(doc_ids)
                if doc not in relevant and doc not in negatives:
                    negatives.append(doc)
            documents = [corpus[rng.choice(positives)]] + [corpus[d] for d in negatives]
            out.write(json.dumps({"query": queries[qid], "documents": documents}, ensure_ascii=False) + "\n")
            n_docs += len(documents)
            n_chars += sum(len(d) for d in documents)
    print(f"{args.out}: {args.groups} groups of 1 positive + {args.negatives} negatives from {len(judged)} "
          f"{args.split} queries (seed {args.seed}; mean document {n_chars / n_docs:.0f} characters)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
