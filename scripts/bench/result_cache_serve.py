"""Latency of `tamis serve` answering searches from its result cache, beside the full
pipeline, over HTTP on loopback (standard library only: one keep-alive connection).

Usage: result_cache_serve.py URL DATASET_DIR [--docs N] [--queries N] [--repeats N]
Prints a Markdown report on standard output; exits non-zero when a cached answer differs
from the answer it repeats or a hit is not reported as one.
"""

import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("dataset")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--candidates", type=int, default=20)
    args = parser.parse_args()

    target = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=600)

    def call(method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if data is not None else {}
        started = time.perf_counter()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status} {payload[:300]!r}")
        return json.loads(payload) if payload else None, elapsed * 1e3

    call("PUT", "/v1/collections/bench", {"chunking": "whole"})
    docs = []
    with open(f"{args.dataset}/corpus.jsonl") as corpus:
        for line in corpus:
            doc = json.loads(line)
            docs.append({"id": doc["_id"], "title": doc.get("title", ""), "text": doc["text"]})
            if len(docs) == args.docs:
                break
    for start in range(0, len(docs), 64):
        call("POST", "/v1/collections/bench/documents", {"documents": docs[start:start + 64]})
    queries = []
    with open(f"{args.dataset}/queries.jsonl") as lines:
        for line in lines:
            queries.append(json.loads(line)["text"])
            if len(queries) == args.queries:
                break

    def search(query, **extra):
        body = {"query": query, "k": 10, "rerank": [{"candidates": args.candidates}], **extra}
        return call("POST", "/v1/collections/bench/search", body)

    full, exact, normalized, failures = [], [], [], 0
    for query in queries:
        first, elapsed = search(query)
        if first["cache"] is not None:
            failures += 1
            print(f"the first search of {query!r} came from the cache", file=sys.stderr)
        full.append(elapsed)
        for _ in range(args.repeats):
            again, elapsed = search(query)
            exact.append(elapsed)
            if (again["cache"] or {}).get("level") != "exact" or again["results"] != first["results"]:
                failures += 1
        # The same words, another case and spacing: all-MiniLM-L6-v2 and the shared
        # cross-encoder are uncased, so every stage reads them the same.
        variant, elapsed = search("  " + query.upper().replace(" ", "  "))
        normalized.append(elapsed)
        if (variant["cache"] or {}).get("level") != "normalized" or variant["results"] != first["results"]:
            failures += 1
            print(f"the upper-case variant of {query!r} was not a normalized hit", file=sys.stderr)
    info, _ = call("GET", "/info")

    def row(name, values):
        values = sorted(values)
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        return f"| {name} | {len(values)} | {statistics.median(values):.3f} | {p99:.3f} |"

    print(f"Collection: the first {len(docs)} NFCorpus documents (one chunk each); searches: hybrid, "
          f"the cross-encoder over the top {args.candidates}, k = 10; {len(queries)} queries, each "
          f"searched once (the full pipeline, stored), then {args.repeats} times as is, then once "
          "in upper case with doubled spaces. Client: Python http.client, one keep-alive "
          "connection, time from sending the request to reading the whole body.\n")
    print("| requests | n | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    print(row("full pipeline (miss)", full))
    print(row("exact hit", exact))
    print(row("normalized hit", normalized))
    print(f"\nResult cache after the run: `{json.dumps(info['result_cache']['stats'])}`")
    if failures:
        sys.exit(f"{failures} answers were not the expected cache hits")


if __name__ == "__main__":
    main()
