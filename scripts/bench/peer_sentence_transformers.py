"""The same work as scripts/bench/throughput.sh, done by sentence-transformers on PyTorch (CPU).

Usage: python peer_sentence_transformers.py SHARED_DIR WORK_DIR THREADS
WORK_DIR holds embed.jsonl and rerank.jsonl as throughput.sh writes them.
"""
import json
import sys
import time

import torch
from sentence_transformers import CrossEncoder, SentenceTransformer

shared, work, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)

texts = [json.loads(line)["text"] for line in open(f"{work}/embed.jsonl")]
model = SentenceTransformer(f"{shared}/models/all-MiniLM-L6-v2", device="cpu")
model.encode(texts[:32], batch_size=32)  # warm-up, as tamis pays its load separately
start = time.perf_counter()
model.encode(texts, batch_size=32)
secs = time.perf_counter() - start
print(f"peer   sentence-transformers {__import__('sentence_transformers').__version__} / torch {torch.__version__}: "
      f"embed {secs:.2f} s, {len(texts) / secs:.1f} sentences/s (model load excluded)")

lines = [json.loads(line) for line in open(f"{work}/rerank.jsonl")]
ranker = CrossEncoder(f"{shared}/models/tamis-ce-minilm-l6-nfcorpus", device="cpu", max_length=256)
ranker.predict([(lines[0]["query"], d) for d in lines[0]["documents"][:32]], batch_size=32)
start = time.perf_counter()
n_pairs = 0
for line in lines:
    pairs = [(line["query"], d) for d in line["documents"]]
    ranker.predict(pairs, batch_size=32)
    n_pairs += len(pairs)
secs = time.perf_counter() - start
print(f"peer   sentence-transformers CrossEncoder: rerank {secs:.2f} s, {n_pairs / secs:.1f} pairs/s (model load excluded)")
