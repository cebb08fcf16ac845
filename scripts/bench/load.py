#!/usr/bin/env python3
"""Load test for `tamis serve` (POST /rerank, TEI format). See scripts/bench/LOAD.md.

Closed-loop clients at each concurrency level, then an overload run that must hit the
server's queue bound (HTTP 429). Loopback only. Exit status: 0 all checks passed,
1 a check failed, 2 setup error (arguments, dataset, server unreachable, warm-up), 130 Ctrl-C.
"""
from __future__ import annotations

import argparse
import asyncio
import email.utils
import ipaddress
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

try:
    import aiohttp
except ImportError:
    sys.exit("load.py needs aiohttp: pip install -r scripts/bench/requirements-load.txt")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATASET = Path(os.environ.get("TAMIS_SHARED_DIR", REPO.parent / "shared")) / "datasets" / "nfcorpus"
TIMING = ("x-total-time", "x-queue-time", "x-inference-time")
REPORT: dict = {}  # filled as the run goes, so Ctrl-C can still write what was measured


class SetupError(Exception):
    pass


# ---------------------------------------------------------------- arguments, workload

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    p.add_argument("--api-key", help="sent as 'Authorization: Bearer KEY'")
    p.add_argument("--pid", type=int, help="server pid: sample VmRSS and CPU time from /proc")
    p.add_argument("--docs", type=int, default=100, help="documents (texts) per request [100]")
    p.add_argument("--concurrency", default="1,4,16", help="comma-separated client counts [1,4,16]")
    bound = p.add_mutually_exclusive_group()
    bound.add_argument("--requests-per-client", type=int, help="requests each client sends per level")
    bound.add_argument("--duration", type=float, help="seconds per level [10]")
    p.add_argument("--overload-clients", type=int, default=160, help="clients in the overload run [160]")
    p.add_argument("--overload-seconds", type=float, default=20.0, help="overload run length; 0 skips it [20]")
    p.add_argument("--retry-after-cap", type=float, default=0.25,
                   help="on 429 a client sleeps min(Retry-After, CAP) x U(0.5,1) s [0.25]")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds [30]")
    p.add_argument("--warmup", type=int, default=8, help="warm-up requests, not counted [8]")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help=f"BEIR directory [{DEFAULT_DATASET}]")
    p.add_argument("--synthetic", action="store_true", help="generate text instead of reading --dataset")
    p.add_argument("--max-chars", type=int, default=1000, help="passage length cut [1000]")
    p.add_argument("--distinct-requests", type=int, default=64, help="request bodies built, then cycled [64]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-check-body", action="store_true",
                   help="do not require a 200 body to be a JSON list with one entry per text")
    p.add_argument("--json", type=Path, help="write all numbers and parameters here")
    a = p.parse_args(argv)
    if a.duration is None and a.requests_per_client is None:
        a.duration = 10.0
    try:
        a.levels = [int(x) for x in a.concurrency.split(",") if x.strip()]
    except ValueError:
        p.error(f"--concurrency must be comma-separated integers, got {a.concurrency!r}")
    if not a.levels or min(a.levels) < 1:
        p.error("--concurrency needs positive integers")
    for name in ("docs", "distinct_requests"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if (a.duration is not None and a.duration <= 0) or (a.requests_per_client is not None and a.requests_per_client < 1):
        p.error("--duration / --requests-per-client must be positive")
    if a.timeout <= 0 or a.overload_seconds < 0 or a.overload_clients < 1:
        p.error("--timeout must be > 0, --overload-seconds >= 0, --overload-clients >= 1")
    return a


def check_loopback(url: str) -> str:
    return loopback_base(url) + "/rerank"


def loopback_base(url: str) -> str:
    """The base URL without a trailing slash, or SetupError unless it is a loopback address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(f"--base-url must look like http://127.0.0.1:PORT, got {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = False
        if not ok:
            raise SetupError(f"refusing non-loopback URL {url!r}: use 127.0.0.1, ::1 or localhost")
    return url.rstrip("/")


def cut(text: str, n: int) -> str:
    if len(text) <= n:
        return text
    space = text.rfind(" ", 0, n)
    return text[: space if space > n // 2 else n]


def build_bodies(a) -> tuple[list[bytes], str]:
    rng = random.Random(a.seed)
    if a.synthetic:
        vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
                 for _ in range(5000)]

        def words(limit):
            out, size = [], 0
            while size < limit:
                w = rng.choice(vocab)
                out.append(w)
                size += len(w) + 1
            return cut(" ".join(out), limit)

        queries = [words(rng.randint(20, 80)) for _ in range(max(200, a.distinct_requests))]
        passages = [words(a.max_chars) for _ in range(max(2000, a.docs))]
        source = f"synthetic (seed {a.seed})"
    else:
        qf, cf = a.dataset / "queries.jsonl", a.dataset / "corpus.jsonl"
        for f in (qf, cf):
            if not f.is_file():
                raise SetupError(f"dataset file not found: {f} (expected the BEIR layout under {a.dataset}); "
                                 "pass --dataset DIR, set TAMIS_SHARED_DIR, or use --synthetic")
        with qf.open(encoding="utf-8") as fh:
            queries = [json.loads(line)["text"] for line in fh if line.strip()]
        with cf.open(encoding="utf-8") as fh:
            passages = []
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    passages.append(cut((d.get("title", "") + " " + d.get("text", "")).strip(), a.max_chars))
        if not queries or not passages:
            raise SetupError(f"dataset {a.dataset} has no queries or no passages")
        source = f"{a.dataset} (seed {a.seed})"
    bodies = []
    for _ in range(a.distinct_requests):
        texts = rng.sample(passages, a.docs) if a.docs <= len(passages) else rng.choices(passages, k=a.docs)
        bodies.append(json.dumps({"query": rng.choice(queries), "texts": texts}).encode())
    return bodies, source


# ---------------------------------------------------------------- requests

@dataclass(slots=True)
class Result:
    key: str  # "200", "429", other status, "200-bad-body", "timeout", "conn-error:<Exc>"
    lat: float  # seconds, send to body fully read
    total: float | None = None
    queue: float | None = None
    infer: float | None = None
    retry_after: float | None = None  # parsed seconds, 429 only
    ra_ok: bool = False
    body_ok: bool = False  # 429 only: JSON {"error": str, "error_type": "overloaded"}


def parse_ms(v):
    if v is None:
        return None
    try:
        return float(v.strip().removesuffix("ms"))
    except ValueError:
        return None


def parse_retry_after(v):
    if v is None:
        return None
    v = v.strip()
    if v.isdigit():
        return float(v)
    try:
        when = email.utils.parsedate_to_datetime(v)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


async def send(session, url, body, headers, docs, check_body) -> Result:
    t0 = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            raw = await resp.read()
            status, h = resp.status, resp.headers
    except TimeoutError:  # aiohttp's timeouts are TimeoutError subclasses
        return Result("timeout", time.perf_counter() - t0)
    except aiohttp.ClientError as e:
        return Result(f"conn-error:{type(e).__name__}", time.perf_counter() - t0)
    lat = time.perf_counter() - t0
    r = Result(str(status), lat, *(parse_ms(h.get(n)) for n in TIMING))
    if status == 200 and check_body:
        try:
            out = json.loads(raw)
            if not (isinstance(out, list) and len(out) == docs):
                r.key = "200-bad-body"
        except ValueError:
            r.key = "200-bad-body"
    elif status == 429:
        r.retry_after = parse_retry_after(h.get("Retry-After"))
        r.ra_ok = r.retry_after is not None
        try:
            out = json.loads(raw)
            r.body_ok = (isinstance(out, dict) and isinstance(out.get("error"), str)
                         and out.get("error_type") == "overloaded")
        except ValueError:
            pass
    return r


async def client(cid, session, url, bodies, headers, a, stop_at, n_requests, results, rng):
    sent = 0
    while (n_requests is None or sent < n_requests) and (stop_at is None or time.perf_counter() < stop_at):
        body = bodies[(cid * 7 + sent) % len(bodies)]
        r = await send(session, url, body, headers, a.docs, not a.no_check_body)
        results.append(r)
        sent += 1
        if r.key == "429":  # honour Retry-After briefly, keep the pressure on
            ra = r.retry_after if r.retry_after is not None else 0.05
            await asyncio.sleep(min(ra, a.retry_after_cap) * rng.uniform(0.5, 1.0))
        elif r.key.startswith("conn-error"):
            await asyncio.sleep(0.1)  # do not spin on a dead server


# ---------------------------------------------------------------- server process

class ProcMonitor:
    """Samples the server's VmRSS every 0.5 s; also reads its CPU time."""

    def __init__(self, pid):
        self.pid, self.phase, self.samples = pid, "start", []  # (t, phase, rss_kib)
        self.tick = os.sysconf("SC_CLK_TCK")

    def rss_kib(self, field="VmRSS"):
        """A memory field of /proc/PID/status in KiB: VmRSS now, VmHWM the peak since start."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def cpu_s(self):
        if self.pid is None:
            return None
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            return None

    def sample(self):
        self.samples.append((time.monotonic(), self.phase, self.rss_kib()))

    async def run(self):
        while True:
            self.sample()
            await asyncio.sleep(0.5)


# ---------------------------------------------------------------- statistics, output

def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def mean(vals):
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def lat_stats(rs):
    lats = sorted(r.lat * 1000 for r in rs)
    return {"p50": pct(lats, 0.50), "p95": pct(lats, 0.95), "p99": pct(lats, 0.99),
            "mean": mean(lats), "max": lats[-1] if lats else None}


def summarize(results, wall, docs, cpu, srv_cpu):
    counts = Counter(r.key for r in results)
    ok = [r for r in results if r.key == "200"]
    return {
        "requests": len(results), "ok": len(ok),
        "errors": {k: v for k, v in sorted(counts.items()) if k != "200"},
        "wall_s": wall, "requests_per_s": len(ok) / wall, "docs_per_s": len(ok) * docs / wall,
        "latency_ms": lat_stats(ok),
        "server_timing_ms": {"total_mean": mean(r.total for r in ok), "queue_mean": mean(r.queue for r in ok),
                             "inference_mean": mean(r.infer for r in ok),
                             "responses_with_headers": sum(r.total is not None or r.queue is not None
                                                           or r.infer is not None for r in ok)},
        "client_cpu_s": cpu, "client_cpu_pct_of_one_core": 100 * cpu / wall,
        "server_cpu_s": srv_cpu, "server_cpu_pct_of_one_core": None if srv_cpu is None else 100 * srv_cpu / wall,
    }


def f(v, spec=".1f", none="-"):
    return none if v is None else format(v, spec)


HEADER = (f"{'conc':>5} {'reqs':>7} {'ok':>7} {'req/s':>8} {'docs/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'queue ms':>9} {'infer ms':>9} {'cli CPU':>8} {'srv CPU':>8}  errors")


def row(c, s):
    lat, st = s["latency_ms"], s["server_timing_ms"]
    errs = ",".join(f"{k}:{v}" for k, v in s["errors"].items()) or "-"
    return (f"{c:>5} {s['requests']:>7} {s['ok']:>7} {s['requests_per_s']:>8.1f} {s['docs_per_s']:>9.1f} "
            f"{f(lat['p50']):>8} {f(lat['p95']):>8} {f(lat['p99']):>8} {f(st['queue_mean'], '.2f'):>9} "
            f"{f(st['inference_mean'], '.2f'):>9} {f(s['client_cpu_pct_of_one_core'], '.0f') + '%':>8} "
            f"{f(s['server_cpu_pct_of_one_core'], '.0f') + '%' if s['server_cpu_s'] is not None else '-':>8}  {errs}")


# ---------------------------------------------------------------- runs

async def run_phase(clients, url, bodies, headers, a, duration, n_per_client, mon):
    rng = random.Random(a.seed + clients)
    results: list[Result] = []
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    timeout = aiohttp.ClientTimeout(total=a.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        cpu0, srv0, t0 = time.process_time(), mon.cpu_s(), time.perf_counter()
        stop_at = None if duration is None else t0 + duration
        await asyncio.gather(*(client(i, session, url, bodies, headers, a, stop_at, n_per_client, results, rng)
                               for i in range(clients)))
        wall = time.perf_counter() - t0
        cpu, srv1 = time.process_time() - cpu0, mon.cpu_s()
    srv = None if srv0 is None or srv1 is None else srv1 - srv0
    return results, wall, cpu, srv


async def main_async(a):
    url = check_loopback(a.base_url)
    if a.pid is not None and not Path(f"/proc/{a.pid}/status").exists():
        raise SetupError(f"--pid {a.pid}: no such process")
    bodies, source = build_bodies(a)
    headers = {"content-type": "application/json"}
    if a.api_key:
        headers["authorization"] = f"Bearer {a.api_key}"
    REPORT.update({
        "parameters": {"url": url, "docs_per_request": a.docs, "concurrency": a.levels,
                       "duration_s": a.duration, "requests_per_client": a.requests_per_client,
                       "overload_clients": a.overload_clients, "overload_seconds": a.overload_seconds,
                       "retry_after_cap_s": a.retry_after_cap, "timeout_s": a.timeout, "warmup": a.warmup,
                       "text_source": source, "max_chars": a.max_chars, "distinct_requests": a.distinct_requests,
                       "seed": a.seed, "check_body": not a.no_check_body, "server_pid": a.pid},
        "environment": {"host_cpu_count": os.cpu_count(), "client_affinity_cpus": len(os.sched_getaffinity(0)),
                        "python": platform.python_version(), "client_library": f"aiohttp {aiohttp.__version__}",
                        "platform": platform.platform()},
        "levels": [], "overload": None, "rss": None, "failures": [],
    })
    bound = (f"{a.duration:g} s per level" if a.duration is not None
             else f"{a.requests_per_client} requests per client per level")
    print(f"tamis load test: POST {url}, {a.docs} texts/request from {source}, {bound}, timeout {a.timeout:g} s")
    print(f"client: Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
          f"{os.cpu_count()} CPUs on host; 'cli CPU'/'srv CPU' = CPU time / wall time (100% = one core)")

    mon = ProcMonitor(a.pid)
    mon_task = asyncio.create_task(mon.run()) if a.pid is not None else None
    failures = REPORT["failures"]
    try:
        # warm-up (not counted)
        if a.warmup:
            res, wall, _, _ = await run_phase(1, url, bodies, headers, a, None, a.warmup, mon)
            bad = [r for r in res if r.key != "200"]
            if bad:
                raise SetupError(f"warm-up failed: {len(bad)}/{len(res)} requests not OK "
                                 f"({dict(Counter(r.key for r in bad))}); check the server at {a.base_url} and --api-key")
            print(f"warm-up: {len(res)} requests OK in {wall:.2f} s (not counted)")

        print()
        print(HEADER)
        for c in a.levels:
            mon.phase = f"c{c}"
            res, wall, cpu, srv = await run_phase(c, url, bodies, headers, a, a.duration, a.requests_per_client, mon)
            s = summarize(res, wall, a.docs, cpu, srv)
            s["concurrency"] = c
            REPORT["levels"].append(s)
            print(row(c, s), flush=True)
            if s["errors"]:
                failures.append(f"concurrency {c}: non-200 responses {s['errors']}")
            if s["client_cpu_pct_of_one_core"] > 80:
                print(f"      ^ client used {s['client_cpu_pct_of_one_core']:.0f}% of a core: "
                      "the client may be the bottleneck at this level")

        if a.overload_seconds > 0:
            await overload(a, url, bodies, headers, mon, failures)
    finally:
        if mon_task:
            mon_task.cancel()
    if a.pid is not None:
        mon.sample()
        REPORT["rss"] = {"samples": [(round(t - mon.samples[0][0], 2), ph, kib) for t, ph, kib in mon.samples]}
    return failures


async def overload(a, url, bodies, headers, mon, failures):
    n = a.overload_clients
    print(f"\noverload: {n} clients for {a.overload_seconds:g} s, no think time; a client that gets 429 "
          f"sleeps min(Retry-After, {a.retry_after_cap:g} s) x U(0.5,1) and sends again")
    mon.phase = "pre-overload"
    mon.sample()
    mon.phase = "overload"
    mon.sample()
    res, wall, cpu, srv = await run_phase(n, url, bodies, headers, a, a.overload_seconds, None, mon)
    mon.sample()
    mon.phase = "post-overload"
    s = summarize(res, wall, a.docs, cpu, srv)
    r429 = [r for r in res if r.key == "429"]
    s["rejected_429"] = {"count": len(r429), "with_retry_after": sum(r.ra_ok for r in r429),
                         "with_json_error_body": sum(r.body_ok for r in r429),
                         "retry_after_s_mean": mean(r.retry_after for r in r429), "latency_ms": lat_stats(r429)}
    other = {k: v for k, v in s["errors"].items() if k != "429"}
    s["other_statuses"] = other
    REPORT["overload"] = s
    lat, rj = s["latency_ms"], s["rejected_429"]
    print(f"  {s['requests']} requests in {wall:.1f} s: 200 -> {s['ok']} ({s['requests_per_s']:.1f} req/s, "
          f"{s['docs_per_s']:.1f} docs/s, p50 {f(lat['p50'])} / p99 {f(lat['p99'])} ms); "
          f"429 -> {rj['count']} (p50 {f(rj['latency_ms']['p50'], '.2f')} ms); "
          f"other -> {sum(other.values())}" + (f" {other}" if other else ""))
    st = s["server_timing_ms"]
    print(f"  server timing on 200s: queue {f(st['queue_mean'], '.2f')} ms, inference "
          f"{f(st['inference_mean'], '.2f')} ms, total {f(st['total_mean'], '.2f')} ms (means)")
    if rj["count"]:
        print(f"  429 contract: {rj['with_retry_after']}/{rj['count']} carry a valid Retry-After "
              f"(mean {f(rj['retry_after_s_mean'], '.2f')} s), {rj['with_json_error_body']}/{rj['count']} "
              f"have the JSON body with error_type \"overloaded\"")
        if rj["with_retry_after"] < rj["count"] or rj["with_json_error_body"] < rj["count"]:
            failures.append("some 429 responses lack Retry-After or the JSON error body")
    else:
        failures.append(f"overload run produced no 429: the queue bound was never reached "
                        f"({n} clients, {s['requests']} requests, {s['ok']} OK, "
                        f"{s['requests_per_s']:.1f} req/s, p99 {f(lat['p99'])} ms, other {other or 'none'})")
    if other:
        failures.append(f"overload run: statuses other than 200/429: {other}")
    print(f"  client CPU {cpu:.1f} s over {wall:.1f} s wall ({100 * cpu / wall:.0f}% of one core)"
          + ("; the client may be the bottleneck" if cpu / wall > 0.8 else "")
          + ("" if srv is None else f"; server CPU {srv:.1f} s ({100 * srv / wall:.0f}% of one core)"))
    if a.pid is not None:
        rss = [kib for _, ph, kib in mon.samples if ph == "overload" and kib is not None]
        first = next((kib for _, _, kib in mon.samples if kib is not None), None)
        before = next((kib for _, ph, kib in reversed(mon.samples) if ph == "pre-overload"), None)
        if rss:
            m = {"start_kib": first, "before_overload_kib": before, "peak_overload_kib": max(rss),
                 "end_overload_kib": rss[-1], "spread_overload_kib": max(rss) - min(rss), "overload_samples": len(rss),
                 "peak_whole_test_kib": max(kib for _, _, kib in mon.samples if kib is not None)}
            s["server_rss"] = m
            mib = lambda k: f(None if k is None else k / 1024)  # noqa: E731
            print(f"  server RSS (pid {a.pid}, VmRSS every 0.5 s): test start {mib(first)} MiB, before overload "
                  f"{mib(before)}, peak {mib(m['peak_overload_kib'])}, end {mib(m['end_overload_kib'])}; "
                  f"max-min during overload {mib(m['spread_overload_kib'])} MiB over {len(rss)} samples")
        else:
            print(f"  server RSS: no samples (process {a.pid} gone?)")


def main(argv=None):
    a = parse_args(argv)
    code = 0
    try:
        failures = asyncio.run(main_async(a))
        print()
        if failures:
            for line in failures:
                print(f"FAIL: {line}")
            code = 1
        else:
            print("PASS: all concurrency levels clean (200 only); overload run reached the queue bound "
                  "with well-formed 429s" if a.overload_seconds > 0 else "PASS: all concurrency levels clean")
    except SetupError as e:
        print(f"error: {e}", file=sys.stderr)
        REPORT["setup_error"] = str(e)
        code = 2
    except KeyboardInterrupt:
        print("\ninterrupted: stopped; numbers above are complete levels only", file=sys.stderr)
        REPORT["interrupted"] = True
        code = 130
    if a.json and REPORT:
        REPORT["exit_code"] = code
        a.json.write_text(json.dumps(REPORT, indent=2) + "\n")
        print(f"wrote {a.json}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
