#!/usr/bin/env python3
"""Mixed overload of `tamis serve`: rerank, embed, search and upsert traffic from many times
more closed-loop clients than the server admits at once. See scripts/bench/LOAD.md.

Checks: only 200 and 429 answers; every 429 carries Retry-After and a JSON body
{"error": str, "error_type": str}; every 200 body has the route's shape; each acknowledged
upserted document is in the collection afterwards; /ready and a search answer afterwards;
the server's peak RSS (VmHWM) stays under --max-rss-mib when given. Reports per-route status
counts and latency percentiles of admitted requests, and the server's RSS before, at peak
and after. Loopback only. Exit status: 0 every check passed, 1 a check failed, 2 setup error.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import (DEFAULT_DATASET, ProcMonitor, SetupError, cut, f, lat_stats,  # noqa: E402
                  loopback_base, parse_retry_after)

import aiohttp  # noqa: E402  (load.py exits with a hint when it is missing)

ROUTES = ("rerank", "embed", "search", "upsert")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    p.add_argument("--api-key", help="sent as 'Authorization: Bearer KEY'")
    p.add_argument("--pid", type=int, help="server pid: sample VmRSS, read VmHWM from /proc")
    p.add_argument("--collection", required=True, help="collection to search and upsert into")
    p.add_argument("--setup-docs", type=int, default=0,
                   help="create the collection and upsert this many corpus documents first, untimed [0]")
    p.add_argument("--admission-limit", type=int, required=True,
                   help="the server's --max-concurrent-requests (the clients default to 20x it)")
    p.add_argument("--clients", type=int, help="closed-loop clients [20 x --admission-limit]")
    p.add_argument("--duration", type=float, default=300.0, help="seconds of overload [300]")
    p.add_argument("--mix", default="rerank=3,embed=3,search=3,upsert=1",
                   help="relative weights of the routes [rerank=3,embed=3,search=3,upsert=1]")
    p.add_argument("--rerank-docs", type=int, default=20, help="texts per /rerank request [20]")
    p.add_argument("--embed-inputs", type=int, default=8, help="inputs per /embed request [8]")
    p.add_argument("--upsert-docs", type=int, default=4, help="documents per upsert [4]")
    p.add_argument("--search-rerank-candidates", type=int, default=20,
                   help="every other search reranks this many candidates; 0: stage 1 only [20]")
    p.add_argument("--max-chars", type=int, default=1000, help="passage length cut [1000]")
    p.add_argument("--retry-after-cap", type=float, default=0.25,
                   help="on 429 a client sleeps min(Retry-After, CAP) x U(0.5,1) s [0.25]")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds [60]")
    p.add_argument("--max-rss-mib", type=float, help="fail when the server's VmHWM exceeds this")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help=f"BEIR directory [{DEFAULT_DATASET}]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write all numbers and parameters here")
    a = p.parse_args(argv)
    try:
        a.weights = {k: float(v) for k, v in (item.split("=") for item in a.mix.split(",") if item.strip())}
    except ValueError:
        p.error(f"--mix must look like rerank=3,embed=3,search=3,upsert=1, got {a.mix!r}")
    if not set(a.weights) <= set(ROUTES) or sum(a.weights.values()) <= 0:
        p.error(f"--mix routes are {', '.join(ROUTES)} with positive total weight")
    if a.admission_limit < 1 or a.duration <= 0 or a.timeout <= 0:
        p.error("--admission-limit, --duration and --timeout must be positive")
    a.clients = a.clients or 20 * a.admission_limit
    return a


def read_dataset(directory: Path, max_chars: int):
    qf, cf = directory / "queries.jsonl", directory / "corpus.jsonl"
    for file in (qf, cf):
        if not file.is_file():
            raise SetupError(f"dataset file not found: {file} (pass --dataset DIR or set TAMIS_SHARED_DIR)")
    with qf.open(encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh if line.strip()]
    with cf.open(encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh if line.strip()]
    docs = [{"id": d["_id"], "title": d.get("title", ""), "text": cut(d["text"], max_chars)} for d in docs]
    if not queries or not docs:
        raise SetupError(f"dataset {directory} has no queries or no documents")
    return queries, docs


# ---------------------------------------------------------------- requests

@dataclass(slots=True)
class Answer:
    route: str
    key: str  # "200", "429", another status, "200-bad-body", "429-bad", "timeout", "conn-error:<Exc>"
    lat: float
    retry_after: float | None = None
    error_type: str | None = None
    upserted: int = 0  # documents an acknowledged upsert wrote


class Workload:
    """Request bodies drawn from the dataset with one seeded generator per client."""

    def __init__(self, a, queries, docs):
        self.a, self.queries, self.docs = a, queries, docs
        self.collection_path = f"/v1/collections/{a.collection}"

    def request(self, route, rng, client_id, n):
        a = self.a
        query = rng.choice(self.queries)
        if route == "rerank":
            texts = [(d["title"] + " " + d["text"]).strip() for d in rng.sample(self.docs, a.rerank_docs)]
            return "/rerank", {"query": query, "texts": texts}
        if route == "embed":
            inputs = [query] + [d["text"] for d in rng.sample(self.docs, a.embed_inputs - 1)]
            return "/embed", {"inputs": inputs[: a.embed_inputs]}
        if route == "search":
            body = {"query": query, "k": 10}
            if a.search_rerank_candidates and n % 2:
                body["rerank"] = [{"candidates": a.search_rerank_candidates}]
            return f"{self.collection_path}/search", body
        # Fresh ids, so that afterwards the collection must hold exactly setup + acknowledged.
        documents = [{"id": f"overload-{client_id}-{n}-{i}", "title": d["title"], "text": d["text"]}
                     for i, d in enumerate(rng.sample(self.docs, a.upsert_docs))]
        return f"{self.collection_path}/documents", {"documents": documents}


def body_ok(route, body, out):
    if route == "rerank":
        return isinstance(out, list) and len(out) == len(body["texts"])
    if route == "embed":
        return isinstance(out, list) and len(out) == len(body["inputs"])
    if route == "search":
        return isinstance(out, dict) and isinstance(out.get("results"), list)
    return isinstance(out, dict) and out.get("written", -1) + out.get("unchanged", 0) == len(body["documents"])


async def send(session, base, headers, route, path, body) -> Answer:
    t0 = time.perf_counter()
    try:
        async with session.post(base + path, json=body, headers=headers) as resp:
            raw = await resp.read()
            status, retry_after = resp.status, resp.headers.get("Retry-After")
    except TimeoutError:
        return Answer(route, "timeout", time.perf_counter() - t0)
    except aiohttp.ClientError as e:
        return Answer(route, f"conn-error:{type(e).__name__}", time.perf_counter() - t0)
    answer = Answer(route, str(status), time.perf_counter() - t0)
    try:
        out = json.loads(raw)
    except ValueError:
        out = None
    if status == 200:
        if not body_ok(route, body, out):
            answer.key = "200-bad-body"
        elif route == "upsert":
            answer.upserted = len(body["documents"])
    elif status == 429:
        answer.retry_after = parse_retry_after(retry_after)
        if isinstance(out, dict) and isinstance(out.get("error_type"), str):
            answer.error_type = out["error_type"]
        if answer.retry_after is None or answer.error_type is None or not isinstance(out.get("error"), str):
            answer.key = "429-bad"
    return answer


async def client(cid, session, base, headers, workload, a, stop_at, answers):
    rng = random.Random(a.seed * 100_003 + cid)
    routes, weights = zip(*a.weights.items())
    n = 0
    while time.perf_counter() < stop_at:
        route = rng.choices(routes, weights)[0]
        path, body = workload.request(route, rng, cid, n)
        answer = await send(session, base, headers, route, path, body)
        answers.append(answer)
        n += 1
        if answer.key in ("429", "429-bad"):  # honour Retry-After briefly, keep the pressure on
            ra = answer.retry_after if answer.retry_after is not None else 0.05
            await asyncio.sleep(min(ra, a.retry_after_cap) * rng.uniform(0.5, 1.0))
        elif answer.key.startswith("conn-error"):
            await asyncio.sleep(0.1)  # do not spin on a dead server


# ---------------------------------------------------------------- setup and checks afterwards

async def call(session, method, url, headers, body=None):
    async with session.request(method, url, json=body, headers=headers) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")


async def document_count(session, base, headers, a):
    status, out = await call(session, "GET", f"{base}/v1/collections/{a.collection}", headers)
    if status != 200:
        raise SetupError(f"GET /v1/collections/{a.collection}: {status} {out}")
    return out["documents"]


async def setup(session, base, headers, a, docs):
    status, out = await call(session, "PUT", f"{base}/v1/collections/{a.collection}", headers, {})
    if status not in (201, 409):
        raise SetupError(f"creating collection {a.collection}: {status} {out}")
    t0 = time.perf_counter()
    for start in range(0, a.setup_docs, 32):
        batch = docs[start: min(start + 32, a.setup_docs)]
        status, out = await call(session, "POST", f"{base}/v1/collections/{a.collection}/documents",
                                 headers, {"documents": batch})
        if status != 200:
            raise SetupError(f"setup upsert of documents {start}..: {status} {out}")
    print(f"setup: collection {a.collection} holds {await document_count(session, base, headers, a)} "
          f"documents ({a.setup_docs} upserted in {time.perf_counter() - t0:.1f} s, untimed)")


async def after_checks(session, base, headers, a, query, expected_docs, failures):
    status, out = await call(session, "GET", f"{base}/ready", headers)
    ready = status == 200
    if not ready:
        failures.append(f"/ready after the run: {status} {out}")
    status, out = await call(session, "POST", f"{base}/v1/collections/{a.collection}/search", headers,
                             {"query": query, "k": 10})
    searched = status == 200 and isinstance(out, dict) and len(out.get("results", [])) > 0
    if not searched:
        failures.append(f"search after the run: {status} {str(out)[:300]}")
    count = await document_count(session, base, headers, a)
    if count != expected_docs:
        failures.append(f"the collection holds {count} documents; before plus acknowledged upserts "
                        f"make {expected_docs}")
    return {"ready": ready, "search_answered": searched, "documents": count, "expected_documents": expected_docs}


async def sample_load(samples):
    while True:
        samples.append(os.getloadavg()[0])
        await asyncio.sleep(10)


# ---------------------------------------------------------------- report

def route_summary(answers, wall):
    ok = [x for x in answers if x.key == "200"]
    rejected = [x for x in answers if x.key in ("429", "429-bad")]
    return {
        "requests": len(answers),
        "statuses": dict(sorted(Counter(x.key for x in answers).items())),
        "ok_per_s": len(ok) / wall,
        "admitted_latency_ms": lat_stats(ok),
        "rejected_latency_ms": lat_stats(rejected),
        "retry_after_s": sorted(Counter(x.retry_after for x in rejected if x.retry_after is not None).items()),
        "error_types_429": dict(Counter(x.error_type for x in rejected)),
    }


def print_table(summary):
    print(f"{'route':>7} {'reqs':>7} {'200':>7} {'429':>7} {'other':>6} {'200/s':>7} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'429 p50':>8}")
    for route, s in summary.items():
        st = s["statuses"]
        other = sum(v for k, v in st.items() if k not in ("200", "429"))
        lat, rej = s["admitted_latency_ms"], s["rejected_latency_ms"]
        print(f"{route:>7} {s['requests']:>7} {st.get('200', 0):>7} {st.get('429', 0):>7} {other:>6} "
              f"{s['ok_per_s']:>7.1f} {f(lat['p50']):>8} {f(lat['p95']):>8} {f(lat['p99']):>8} "
              f"{f(lat['max']):>8} {f(rej['p50'], '.2f'):>8}")


async def main_async(a, report):
    base = loopback_base(a.base_url)
    if a.pid is not None and not Path(f"/proc/{a.pid}/status").exists():
        raise SetupError(f"--pid {a.pid}: no such process")
    queries, docs = read_dataset(a.dataset, a.max_chars)
    for name in ("rerank_docs", "embed_inputs", "upsert_docs"):
        if not 1 <= getattr(a, name) <= len(docs):
            raise SetupError(f"--{name.replace('_', '-')} must be between 1 and {len(docs)}")
    headers = {"authorization": f"Bearer {a.api_key}"} if a.api_key else {}
    failures = report["failures"]
    mon = ProcMonitor(a.pid)
    timeout = aiohttp.ClientTimeout(total=a.timeout)
    connector = aiohttp.TCPConnector(limit=a.clients + 4, limit_per_host=a.clients + 4)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if a.setup_docs:
            await setup(session, base, headers, a, docs)
        docs_before = await document_count(session, base, headers, a)
        if docs_before == 0 and a.weights.get("search"):
            raise SetupError(f"collection {a.collection} is empty: searches would find nothing (--setup-docs N)")
        print(f"overload: {a.clients} clients = {a.clients / a.admission_limit:g} x the admission limit of "
              f"{a.admission_limit}, {a.duration:g} s, mix {a.mix}; a client that gets 429 sleeps "
              f"min(Retry-After, {a.retry_after_cap:g} s) x U(0.5,1) and sends again")
        hwm_before = mon.rss_kib("VmHWM") if a.pid else None
        mon_task = asyncio.create_task(mon.run()) if a.pid is not None else None
        # The host's load average says whether other work shared the cores with the server.
        load_task = asyncio.create_task(sample_load(report.setdefault("load_average_1min", [])))
        mon.phase = "overload"
        answers: list[Answer] = []
        workload = Workload(a, queries, docs)
        cpu0, srv0, t0 = time.process_time(), mon.cpu_s(), time.perf_counter()
        try:
            await asyncio.gather(*(client(i, session, base, headers, workload, a, t0 + a.duration, answers)
                                   for i in range(a.clients)))
        finally:
            wall = time.perf_counter() - t0
            cpu, srv1 = time.process_time() - cpu0, mon.cpu_s()
            if mon_task:
                mon_task.cancel()
            load_task.cancel()
        by_route = defaultdict(list)
        for x in answers:
            by_route[x.route].append(x)
        summary = {route: route_summary(by_route[route], wall) for route in ROUTES if by_route[route]}
        report["routes"] = summary
        report["wall_s"] = wall
        report["client_cpu_s"] = cpu
        report["server_cpu_s"] = None if srv0 is None or srv1 is None else srv1 - srv0
        print(f"{len(answers)} requests in {wall:.1f} s; latency of admitted (200) requests, send to last byte:")
        print_table(summary)
        statuses = Counter(x.key for x in answers)
        bad = {k: v for k, v in statuses.items() if k not in ("200", "429")}
        if bad:
            failures.append(f"answers other than 200 and well-formed 429s: {dict(sorted(bad.items()))}")
        if not statuses.get("429"):
            failures.append("no 429 at all: the admission limit was never reached")
        upserted = sum(x.upserted for x in answers)
        # Settle: requests the server admitted have all been answered; RSS after is read a moment later.
        await asyncio.sleep(2)
        report["after"] = await after_checks(session, base, headers, a, queries[0], docs_before + upserted, failures)
        report["after"]["acknowledged_upserted_documents"] = upserted
    print(f"afterwards: /ready {'200' if report['after']['ready'] else 'FAILED'}, search "
          f"{'answered' if report['after']['search_answered'] else 'FAILED'}, {report['after']['documents']} "
          f"documents = {docs_before} before + {upserted} acknowledged"
          + ("" if report["after"]["documents"] == docs_before + upserted else " MISMATCH"))
    srv, load = report["server_cpu_s"], report["load_average_1min"]
    if load:
        print(f"host load average (1 min, every 10 s): mean {sum(load) / len(load):.1f}, max {max(load):.1f} "
              f"on {os.cpu_count()} CPUs")
    print(f"client CPU {cpu:.1f} s ({100 * cpu / wall:.0f}% of one core)"
          + ("" if srv is None else f", server CPU {srv:.1f} s ({100 * srv / wall:.0f}% of one core)")
          + f" over {wall:.1f} s")
    if a.pid is not None:
        rss = [kib for _, _, kib in mon.samples if kib is not None]
        hwm, now = mon.rss_kib("VmHWM"), mon.rss_kib("VmRSS")
        mib = lambda k: None if k is None else k / 1024  # noqa: E731
        report["server_rss_mib"] = {"peak_since_start_before_run": mib(hwm_before), "peak_since_start_after_run": mib(hwm),
                                    "sampled_during_run_min": mib(min(rss, default=None)),
                                    "sampled_during_run_max": mib(max(rss, default=None)),
                                    "after_run": mib(now), "samples": len(rss)}
        m = report["server_rss_mib"]
        print(f"server memory (pid {a.pid}): VmHWM {f(m['peak_since_start_before_run'])} MiB before the run, "
              f"{f(m['peak_since_start_after_run'])} MiB after; VmRSS during the run {f(m['sampled_during_run_min'])}"
              f"..{f(m['sampled_during_run_max'])} MiB ({len(rss)} samples every 0.5 s), {f(m['after_run'])} MiB after")
        if a.max_rss_mib is not None and (hwm is None or hwm / 1024 > a.max_rss_mib):
            failures.append(f"server peak RSS {f(mib(hwm))} MiB exceeds --max-rss-mib {a.max_rss_mib:g}")


def main(argv=None):
    a = parse_args(argv)
    report = {"parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
              "environment": {"host_cpu_count": os.cpu_count(), "python": platform.python_version(),
                              "client_library": f"aiohttp {aiohttp.__version__}", "platform": platform.platform()},
              "failures": []}
    code = 0
    try:
        asyncio.run(main_async(a, report))
        print()
        for line in report["failures"]:
            print(f"FAIL: {line}")
        code = 1 if report["failures"] else 0
        if not code:
            print("PASS: only 200s and well-formed 429s, acknowledged upserts all present, "
                  "the server ready and searching afterwards")
    except SetupError as e:
        print(f"error: {e}", file=sys.stderr)
        report["setup_error"] = str(e)
        code = 2
    if a.json:
        report["exit_code"] = code
        a.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {a.json}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
