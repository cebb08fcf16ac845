"""Build the embed workload of the peer benchmark: blocks of corpus documents.

Usage:
    python embed_workload.py --dataset ../shared/datasets/nfcorpus --out embed.jsonl [--block 32] [--limit M]

One output line per block of `--block` documents (the last one may be shorter), in corpus order:
    {"texts": ["title text", ...]}
Each text is `(title + " " + text).strip()`, the same passage text as the rerank workload.
`--limit M` keeps only the first M documents.
"""
import argparse
import json
import sys
from pathlib import Path

from rerank_workload import read_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR dataset directory")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL")
    parser.add_argument("--block", type=int, default=32, help="documents per line (default 32)")
    parser.add_argument("--limit", type=int, help="use only the first M documents")
    args = parser.parse_args()
    if args.block < 1:
        parser.error("--block must be at least 1")

    texts = list(read_corpus(args.dataset).values())
    if args.limit:
        texts = texts[: args.limit]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for start in range(0, len(texts), args.block):
            out.write(json.dumps({"texts": texts[start : start + args.block]}, ensure_ascii=False) + "\n")
    n_blocks = (len(texts) + args.block - 1) // args.block
    print(f"{args.out}: {len(texts)} documents in {n_blocks} blocks of {args.block}", file=sys.stderr)


if __name__ == "__main__":
    main()
