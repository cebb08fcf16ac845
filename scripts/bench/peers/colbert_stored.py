"""Side-by-side CPU benchmark of ColBERT reranking FROM STORED TOKEN VECTORS: tamis against PyLate.

Usage:
    python colbert_stored.py [--tamis target/release/tamis] [--shared ../shared] [--work target/peers-colbert]
        [--model DIR | --base DIR --document-length 300 --query-length 32 --seed 0] [--dataset DIR]
        [--queries 20] [--candidates 100] [--threads 2] [--rounds 1] [--unstored-queries 5]
        [--tamis-calls per-query|batch] [--reuse-indexes] [--json OUT.json] [--out OUT.md]

Same model, same candidates, same threads. What one query costs each engine (the late-interaction stage):
    tamis f16 / int8  `tamis search IDX --queries Q --mode bm25 --rerank MODEL --rerank-candidates C -k C`
                      on an index built with --late-interaction MODEL --token-storage f16|int8 --chunking whole:
                      its `timings_ms[MODEL]` (encode the query, read the C candidates' stored token vectors,
                      MaxSim), measured by tamis itself
    tamis none        the same on an index without token vectors (every candidate encoded at query time)
    PyLate stored     model.encode([query], is_query=True) + pylate.rank.rerank(documents_ids=[ids],
                      queries_embeddings=q, documents_embeddings=[[emb[id] for id in ids]]), the candidates'
                      embeddings computed once beforehand (model.encode(texts, is_query=False, batch_size=32),
                      untimed); wall clock around the two calls
    PyLate unstored   colbert.py's PylateEngine (encode the query and the candidates, batch 16, rank.rerank),
                      on the first --unstored-queries queries only (it is slow)
The candidates are the top C BM25 documents that tamis returns (the same ids on all three indexes), given to
PyLate as they are; the text of a document is "{title} {text}" (title trimmed; the text alone when the title
is empty), which is what tamis encodes.

Model: colbert.py's (all-MiniLM-L6-v2's BERT plus a seeded random Dense 384 -> 128, query_length 32,
document_length 300), built once under --work or reused: its weights are random, so the scores' quality is
meaningless; the speed is real.

Order: the three indexes are built (untimed; the ingest wall time and `tamis info --json` are recorded), one
untimed pass of every query on each index gives the candidates and the scores that are checked against
PyLate, then the timed rounds: query by query, every engine runs the query, the engine order rotating from
query to query, an untimed --pause-ms and gc.collect() before each call. With --tamis-calls per-query (the
default) each tamis call is a process answering two queries, an untimed warm-up query then the timed one;
with batch, one process per index per round answers the warm-up query then all the queries.

Exit status: 0, 2 on a usage or setup error, 3 when tamis' scores differ from MaxSim of PyLate's embeddings by
more than the tolerances (--tolerance-f16 0.05, --tolerance-int8 0.5, --tolerance-none 1e-3).
"""
import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (standard library only at import time)
import colbert  # noqa: E402
import rerank_workload  # noqa: E402
from bench import fail, pause, percentile  # noqa: E402
from colbert import log  # noqa: E402

STORAGES = ["f16", "int8", "none"]  # tamis indexes: token vectors stored as f16, as int8, not stored
MIB = 1 << 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tamis", type=Path, default=REPO / "target" / "release" / "tamis",
                        help="the tamis binary (default target/release/tamis)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="the shared directory with models/ and datasets/ (default ../shared)")
    parser.add_argument("--work", type=Path, default=REPO / "target" / "peers-colbert",
                        help="the built model, the indexes and the query files (default target/peers-colbert)")
    parser.add_argument("--model", type=Path, help="an existing PyLate ColBERT directory (default: build one)")
    parser.add_argument("--base", type=Path, help="the BERT the built model starts from "
                                                  "(default SHARED/models/all-MiniLM-L6-v2)")
    parser.add_argument("--bi-encoder", type=Path, help="the indexes' bi-encoder, tamis index -m "
                                                        "(default SHARED/models/all-MiniLM-L6-v2)")
    parser.add_argument("--document-length", type=int, default=300, help="built model's document_length (300)")
    parser.add_argument("--query-length", type=int, default=32, help="built model's query_length (32)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the built model's new weights (0)")
    parser.add_argument("--dataset", type=Path, help="BEIR dataset directory (default SHARED/datasets/nfcorpus)")
    parser.add_argument("--split", default="test", help="qrels split whose queries are used (default test)")
    parser.add_argument("--queries", type=int, default=20, help="queries: the split's first, qrels order (20)")
    parser.add_argument("--candidates", type=int, default=100, help="candidates per query (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="threads of both engines and of ingest (2)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the queries (default 1)")
    parser.add_argument("--unstored-queries", type=int, default=5,
                        help="queries that PyLate without stored vectors runs, the first ones (default 5; 0: none)")
    parser.add_argument("--unstored-batch-size", type=int, default=16,
                        help="PyLate's encode batch size without stored vectors (default 16)")
    parser.add_argument("--store-batch-size", type=int, default=32,
                        help="PyLate's encode batch size for the stored embeddings (untimed; default 32)")
    parser.add_argument("--tamis-calls", choices=["per-query", "batch"], default="per-query",
                        help="per-query: one tamis process per timed query (after a warm-up query), so that the "
                             "engines alternate query by query; batch: one process per index and round")
    parser.add_argument("--tamis-precision", choices=["fp32", "int8", "bf16"], default="fp32",
                        help="tamis' --precision for the model (default fp32, the one at parity; int8 quantizes "
                             "the query encoder's dense layers, which moves the scores: see the agreement lines)")
    parser.add_argument("--pause-ms", type=float, default=20.0, help="untimed idle time before each call (20)")
    parser.add_argument("--tolerance-f16", type=float, default=0.05, help="max |tamis f16 - PyLate| (0.05)")
    parser.add_argument("--tolerance-int8", type=float, default=0.5, help="max |tamis int8 - PyLate| (0.5)")
    parser.add_argument("--tolerance-none", type=float, default=1e-3,
                        help="max |tamis without stored vectors - PyLate| (1e-3)")
    parser.add_argument("--reuse-indexes", action="store_true",
                        help="keep indexes built by an earlier run with the same binary and settings (default: "
                             "rebuild; the recorded ingest times are the earlier run's)")
    parser.add_argument("--index-timeout", type=float, default=3600.0, help="seconds per index build (3600)")
    parser.add_argument("--invocation", help="the command line to record (the wrapper passes its own)")
    parser.add_argument("--json", type=Path,
                        help="results JSON (default WORK/results/colbert-stored-<UTC time>.json)")
    parser.add_argument("--out", type=Path, help="the Markdown report (default: the JSON path with .md)")
    args = parser.parse_args()
    for name in ("threads", "rounds", "queries", "candidates", "document_length", "query_length",
                 "unstored_batch_size", "store_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.unstored_queries < 0:
        parser.error("--unstored-queries must be 0 or more")
    args.unstored_queries = min(args.unstored_queries, args.queries)
    return args


def check_inputs(args) -> None:
    """Fail early, with a clear message, on anything missing (before the slow imports)."""
    resolved = shutil.which(str(args.tamis))
    if resolved is None:
        fail(f"tamis binary {args.tamis} not found or not executable (build it: cargo build --release -p tamis-cli)")
    args.tamis = Path(resolved).resolve()
    args.dataset = (args.dataset or args.shared / "datasets" / "nfcorpus").resolve()
    args.base = args.base or args.shared / "models" / "all-MiniLM-L6-v2"
    args.bi_encoder = (args.bi_encoder or args.shared / "models" / "all-MiniLM-L6-v2").resolve()
    for path in (args.dataset / "corpus.jsonl", args.dataset / "queries.jsonl",
                 args.dataset / "qrels" / f"{args.split}.tsv"):
        if not path.is_file():
            fail(f"{path} not found (--dataset takes a BEIR dataset directory; --shared is {args.shared})")
    if not (args.bi_encoder / "config.json").is_file():
        fail(f"bi-encoder {args.bi_encoder} not found (no config.json): give --shared or --bi-encoder")
    if args.model is not None:
        if not (args.model / "config_sentence_transformers.json").is_file():
            fail(f"--model {args.model} is not a PyLate ColBERT directory (no config_sentence_transformers.json)")
    elif not (args.base / "config.json").is_file():
        fail(f"base model {args.base} not found (no config.json): the ColBERT model is built from it; "
             "give --shared, --base or --model")


def document_text(doc: dict) -> str:
    """What tamis encodes for a document: "{title} {text}" with a non-empty (trimmed) title, else the text."""
    title = (doc.get("title") or "").strip()
    text = doc.get("text") or ""
    return f"{title} {text}" if title else text


def read_inputs(args) -> tuple:
    """-> (corpus {id: text}, [(qid, query)] timed, (qid, query) of the warm-up)."""
    corpus = rerank_workload.read_by_id(args.dataset / "corpus.jsonl", document_text)
    queries = rerank_workload.read_queries(args.dataset)
    qrels = rerank_workload.read_qrels(args.dataset / "qrels" / f"{args.split}.tsv")
    qids = [qid for qid in qrels if qid in queries]
    if len(qids) < args.queries:
        log(f"warning: {args.split} has only {len(qids)} judged queries; using them all")
    timed = [(qid, queries[qid]) for qid in qids[: args.queries]]
    warmup_qid = qids[len(timed)] if len(qids) > len(timed) else qids[0]
    return corpus, timed, (warmup_qid, queries[warmup_qid])


# ---------------------------------------------------------------------------------------------------------
# tamis: the indexes and the searches


def run_checked(cmd: list, what: str, timeout: float, log_path: Path | None = None) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"{what} ran past {timeout:.0f} s: {shlex.join(cmd)}")
    if log_path is not None:
        log_path.write_text(f"$ {shlex.join(cmd)}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}\n")
    if res.returncode != 0:
        tail = "\n".join(res.stderr.strip().splitlines()[-20:]) or "(nothing on stderr)"
        fail(f"{what} failed (exit status {res.returncode}): {shlex.join(cmd)}\n--- stderr (last lines) ---\n{tail}")
    return res


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_indexes(args, model_dir: Path) -> dict:
    """The three indexes of the whole corpus (untimed): {storage: {dir, ingest_s, info, dir_bytes, command}}."""
    indexes = {}
    for storage in STORAGES:
        out = args.work / f"index-{args.dataset.name}-{storage}-{model_dir.name}"
        cmd = [str(args.tamis), "index", str(out), "-i", str(args.dataset / "corpus.jsonl"), "-m",
               str(args.bi_encoder), "--chunking", "whole", "--threads", str(args.threads)]
        if storage != "none":
            cmd += ["--late-interaction", str(model_dir), "--token-storage", storage]
        meta_path = out.with_name(out.name + ".build.json")
        stamp = {"command": cmd, "tamis_mtime": args.tamis.stat().st_mtime, "tamis_size": args.tamis.stat().st_size}
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() and out.is_dir() else None
        reused = bool(args.reuse_indexes and meta and all(meta.get(k) == v for k, v in stamp.items()))
        if reused:
            log(f"reusing index {out} (built in {meta['ingest_s']:.1f} s by an earlier run)")
        else:
            shutil.rmtree(out, ignore_errors=True)
            meta_path.unlink(missing_ok=True)
            log(f"building index {out} ({storage}) ...")
            started = time.perf_counter()
            run_checked(cmd, f"tamis index ({storage})", args.index_timeout, out.with_name(out.name + ".build.log"))
            meta = dict(stamp, ingest_s=round(time.perf_counter() - started, 2))
            meta_path.write_text(json.dumps(meta, indent=2) + "\n")
            log(f"  built in {meta['ingest_s']:.1f} s")
        info = json.loads(run_checked([str(args.tamis), "info", str(out), "--json"], "tamis info", 120).stdout)
        late = info.get("late_interaction")
        if (storage == "none") != (late is None) or (late and late.get("storage") != storage):
            fail(f"index {out} should store {storage} token vectors but `tamis info` says "
                 f"late_interaction = {json.dumps(late)}")
        indexes[storage] = {"dir": str(out), "ingest_s": meta["ingest_s"], "reused": reused, "info": info,
                            "dir_bytes": dir_bytes(out), "command": shlex.join(cmd)}
    return indexes


class TamisSearch:
    """`tamis search --queries` on one index; answers -> per query the ColBERT stage's ms and (ids, scores)."""

    def __init__(self, args, storage: str, index: dict, model_dir: Path, tmp: Path):
        self.name = f"tamis {storage}"
        self.storage = storage
        self.stage = str(model_dir)  # timings_ms names the stage by the --rerank value as given
        self.tmp = tmp
        self.args = args
        self.cmd = [str(args.tamis), "search", index["dir"], "--queries", "{queries}", "--json", "--mode", "bm25",
                    "--rerank", self.stage, "--rerank-candidates", str(args.candidates), "-k", str(args.candidates),
                    "--threads", str(args.threads), "--result-cache-entries", "0",
                    "--precision", args.tamis_precision]

    def command(self) -> str:
        return shlex.join(self.cmd)

    def run(self, queries: list) -> list:
        """[(qid, query)] -> [{"qid", "ms", "stage1_ms", "ids", "scores", "texts"}], one per query."""
        path = self.tmp / f"queries-{self.storage}.jsonl"
        path.write_text("".join(json.dumps({"query": q, "id": qid}, ensure_ascii=False) + "\n" for qid, q in queries))
        cmd = [str(path) if t == "{queries}" else t for t in self.cmd]
        res = run_checked(cmd, self.name, 600)
        answers = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        if len(answers) != len(queries):
            fail(f"{self.name} printed {len(answers)} answers for {len(queries)} queries: {shlex.join(cmd)}")
        out = []
        for (qid, _), answer in zip(queries, answers):
            timings = answer.get("timings_ms") or {}
            if self.stage not in timings:
                fail(f"{self.name}: no timings_ms[{self.stage!r}] in its answer (has {sorted(timings)})")
            if answer.get("cache"):
                fail(f"{self.name} answered query {qid} from its result cache (--result-cache-entries 0 ignored?)")
            results = answer["results"]
            out.append({"qid": qid, "ms": float(timings[self.stage]), "stage1_ms": float(timings.get("stage1", 0)),
                        "ids": [r["id"] for r in results], "scores": [float(r["score"]) for r in results],
                        "reranks": [r.get("reranks") for r in results],
                        "texts": [document_text({"title": r.get("title"), "text": r.get("text")}) for r in results]})
        return out


# ---------------------------------------------------------------------------------------------------------
# PyLate


class PylateStored:
    """encode(query) + rank.rerank over embeddings computed beforehand."""

    name = "PyLate stored"

    def __init__(self, model):
        self.model = model
        self.embeddings = {}
        self.encode_s = []  # per call: the query's encoding alone, the rest being rank.rerank

    def store(self, corpus: dict, ids: list, batch_size: int) -> float:
        ids = [i for i in dict.fromkeys(ids) if i not in self.embeddings]
        started = time.perf_counter()
        embeddings = self.model.encode([corpus[i] for i in ids], is_query=False, batch_size=batch_size,
                                       show_progress_bar=False)
        self.embeddings.update(zip(ids, embeddings))
        return time.perf_counter() - started

    def run(self, query: str, ids: list) -> dict:
        from pylate import rank

        started = time.perf_counter()
        query_embeddings = self.model.encode([query], is_query=True, show_progress_bar=False)
        self.encode_s.append(time.perf_counter() - started)
        ranked = rank.rerank(documents_ids=[ids], queries_embeddings=query_embeddings,
                             documents_embeddings=[[self.embeddings[i] for i in ids]])[0]
        self.last_query = query_embeddings[0]
        return {r["id"]: float(r["score"]) for r in ranked}

    def exact_max_sim(self, ids: list) -> dict:
        """MaxSim of the last query's embeddings against each stored document, unpadded (untimed)."""
        return {i: float((self.last_query @ self.embeddings[i].T).max(axis=1).sum()) for i in ids}


def unstored_engine(model, batch_size: int):
    engine = colbert.PylateEngine(model, [batch_size])
    engine.name = "PyLate unstored"
    return engine


# ---------------------------------------------------------------------------------------------------------
# The run


def check_scores(storage: str, answers: list, reference: dict, rerank: dict, tolerance: float) -> dict:
    """tamis' scores against exact MaxSim of PyLate's stored embeddings and against PyLate's rank.rerank."""
    vs_exact, vs_rerank, pairs = [], [], 0
    for answer in answers:
        exact, reranked = reference[answer["qid"]], rerank[answer["qid"]]
        for doc_id, score in zip(answer["ids"], answer["scores"]):
            if doc_id in exact:
                vs_exact.append(abs(score - exact[doc_id]))
                vs_rerank.append(abs(score - reranked[doc_id]))
                pairs += 1
    worst = max(vs_exact, default=float("nan"))
    return {"storage": storage, "pairs": pairs, "max_abs_vs_maxsim": worst,
            "mean_abs_vs_maxsim": sum(vs_exact) / max(1, len(vs_exact)),
            "max_abs_vs_rerank": max(vs_rerank, default=float("nan")), "tolerance": tolerance,
            "flagged": not worst <= tolerance}


def summarize(name: str, stored: bool, secs: list, candidates: int, note: str = "") -> dict:
    import numpy as np

    ms = [s * 1000 for s in secs]
    total = sum(secs)
    return {"engine": name, "stored": stored, "calls": len(ms), "total_s": round(total, 4),
            "p50_ms": round(percentile(ms, 50), 3), "p95_ms": round(percentile(ms, 95), 3),
            "mean_ms": round(float(np.mean(ms)), 3) if ms else None,
            "candidates_per_s": round(candidates / total, 1) if total else None, "note": note}


def main() -> None:
    args = parse_args()
    check_inputs(args)
    bench.set_thread_env(args.threads)

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from pylate import models

    # --- model (built once), inputs, indexes (untimed)
    model_dir = args.model
    if model_dir is None:
        model_dir = colbert.built_model_dir(args)
        if not (model_dir / "config_sentence_transformers.json").is_file():
            args.work.mkdir(parents=True, exist_ok=True)
            colbert.build_model(args, model_dir)
        else:
            log(f"using the ColBERT model built before: {model_dir}")
    model_dir = model_dir.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    corpus, queries, warmup = read_inputs(args)
    indexes = build_indexes(args, model_dir)
    pylate_model = models.ColBERT(model_name_or_path=str(model_dir), device="cpu")
    pylate_model.eval()
    info = colbert.model_info(model_dir, pylate_model)
    info["random_weights"] = args.model is None

    tmp = Path(tempfile.mkdtemp(prefix="colbert-stored-"))
    tamis = {s: TamisSearch(args, s, indexes[s], model_dir, tmp) for s in STORAGES}

    # --- untimed pass: candidates, scores, warm page cache
    first = {s: tamis[s].run([warmup] + queries) for s in STORAGES}
    candidates = {a["qid"]: a["ids"] for a in first["f16"]}
    same_ids = {s: sum(set(a["ids"]) == set(candidates[a["qid"]]) for a in first[s]) for s in STORAGES}
    for s in STORAGES:
        if same_ids[s] != len(first[s]):
            log(f"warning: tamis {s} returned other candidates than tamis f16 for "
                f"{len(first[s]) - same_ids[s]} of {len(first[s])} queries (its scores are checked on the shared ids)")
    text_mismatch = sum(t != corpus.get(i) for a in first["f16"] for i, t in zip(a["ids"], a["texts"]))
    if text_mismatch:
        log(f"warning: {text_mismatch} candidates' text in tamis' answers differs from the corpus' "
            "\"{title} {text}\" (PyLate encodes the corpus' text)")
    pylate = PylateStored(pylate_model)
    all_ids = [i for ids in candidates.values() for i in ids]
    store_s = pylate.store(corpus, all_ids, args.store_batch_size)
    log(f"PyLate: {len(pylate.embeddings)} candidates' embeddings computed in {store_s:.1f} s (untimed)")
    reference, rerank = {}, {}
    for qid, query in [warmup] + queries:
        rerank[qid] = pylate.run(query, candidates[qid])
        reference[qid] = pylate.exact_max_sim(candidates[qid])
    tolerances = {"f16": args.tolerance_f16, "int8": args.tolerance_int8, "none": args.tolerance_none}
    checks = {s: check_scores(s, first[s][1:], reference, rerank, tolerances[s]) for s in STORAGES}
    rerank_vs_exact = max(abs(rerank[q][i] - reference[q][i]) for q in reference for i in reference[q])
    for s in STORAGES:
        c = checks[s]
        log(f"scores, tamis {s} vs MaxSim of PyLate's embeddings: max |d| {c['max_abs_vs_maxsim']:.2e}, mean "
            f"{c['mean_abs_vs_maxsim']:.2e} over {c['pairs']} pairs (tolerance {c['tolerance']:g}); "
            f"vs PyLate rank.rerank {c['max_abs_vs_rerank']:.2e}")

    # --- timed rounds
    unstored = unstored_engine(pylate_model, args.unstored_batch_size)
    items = {qid: {"query": q, "passages": [corpus[i] for i in candidates[qid]]} for qid, q in [warmup] + queries}
    unstored.run(items[warmup[0]])  # warm-up (untimed)
    secs = {n: [] for n in ["tamis f16", "tamis int8", "tamis none", "PyLate stored", "PyLate unstored"]}
    stage1_ms = {s: [] for s in STORAGES}
    by_query = {n: {} for n in secs}  # name -> qid -> [secs] (for the ratios on the unstored subset)
    drift = 0

    def record(name: str, qid: str, seconds: float) -> None:
        secs[name].append(seconds)
        by_query[name].setdefault(qid, []).append(seconds)

    def tamis_answers(storage: str, batch: list) -> None:
        nonlocal drift
        for answer in tamis[storage].run([warmup] + batch)[1:]:
            record(f"tamis {storage}", answer["qid"], answer["ms"] / 1000)
            stage1_ms[storage].append(answer["stage1_ms"])
            drift += set(answer["ids"]) != set(candidates[answer["qid"]])

    turn = 0
    pylate.encode_s.clear()  # from here on, the timed calls only
    wall_started = time.perf_counter()
    for round_idx in range(args.rounds):
        if args.tamis_calls == "batch":
            for storage in STORAGES[turn % 3:] + STORAGES[: turn % 3]:
                pause(args)
                tamis_answers(storage, queries)
        for q_idx, (qid, query) in enumerate(queries):
            calls = ["PyLate stored"] + (["PyLate unstored"] if q_idx < args.unstored_queries else [])
            if args.tamis_calls == "per-query":
                calls += [f"tamis {s}" for s in STORAGES]
            shift = turn % len(calls)
            for name in calls[shift:] + calls[:shift]:
                pause(args)
                if name.startswith("tamis "):
                    tamis_answers(name.removeprefix("tamis "), [(qid, query)])
                    continue
                started = time.perf_counter()
                if name == "PyLate stored":
                    pylate.run(query, candidates[qid])
                else:
                    unstored.run(items[qid])
                record(name, qid, time.perf_counter() - started)
            turn += 1
            print(f"\r  round {round_idx + 1}/{args.rounds}: {q_idx + 1}/{len(queries)} queries, "
                  f"{time.perf_counter() - wall_started:.0f} s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)

    # --- results
    n_cand = {qid: len(ids) for qid, ids in candidates.items()}
    unstored_qids = [qid for qid, _ in queries[: args.unstored_queries]]

    def total(name: str, qids=None) -> float:
        return sum(sum(v) for q, v in by_query[name].items() if qids is None or q in qids)

    def cand_count(name: str) -> int:
        return sum(n_cand[q] * len(v) for q, v in by_query[name].items())

    engines = [summarize(n, n in ("tamis f16", "tamis int8", "PyLate stored"), secs[n], cand_count(n))
               for n in secs if secs[n]]
    for row in engines:
        row["token_storage"] = {"tamis f16": "f16", "tamis int8": "int8", "PyLate stored": "fp32 (in memory)"}.get(
            row["engine"], "none: candidates encoded per query")
    ratios = {
        "pylate_stored_over_tamis_f16": total("PyLate stored") / total("tamis f16"),
        "pylate_stored_over_tamis_int8": total("PyLate stored") / total("tamis int8"),
        "tamis_none_over_tamis_f16": total("tamis none") / total("tamis f16"),
        "tamis_none_over_tamis_int8": total("tamis none") / total("tamis int8"),
    }
    if unstored_qids:
        ratios["pylate_unstored_over_tamis_none_same_queries"] = (
            total("PyLate unstored") / total("tamis none", unstored_qids))
        ratios["pylate_unstored_over_pylate_stored_same_queries"] = (
            total("PyLate unstored") / total("PyLate stored", unstored_qids))
    ratios = {k: round(v, 3) for k, v in ratios.items()}

    none_info = indexes["none"]["info"]
    storage_rows = []
    for s in STORAGES:
        idx, late = indexes[s], indexes[s]["info"].get("late_interaction") or {}
        store = idx["info"].get("bytes", {}).get("store", 0)
        row = {"storage": s, "ingest_s": idx["ingest_s"], "reused": idx["reused"],
               "chunks": idx["info"].get("chunks"),
               "token_vectors": late.get("vectors", 0), "token_bytes": late.get("bytes", 0),
               "bytes_per_chunk": late.get("bytes_per_chunk", 0), "bytes_per_vector": late.get("bytes_per_vector"),
               "store_bytes": store, "index_bytes": idx["dir_bytes"], "bytes": idx["info"].get("bytes")}
        base_store, base_total = none_info.get("bytes", {}).get("store", 0), indexes["none"]["dir_bytes"]
        row["store_growth_bytes"] = store - base_store
        row["index_growth_bytes"] = idx["dir_bytes"] - base_total
        row["index_growth_pct"] = round(100 * row["index_growth_bytes"] / base_total, 1) if base_total else None
        storage_rows.append(row)

    flagged = [s for s in STORAGES if checks[s]["flagged"]]
    report = {
        "benchmark": "colbert-rerank-stored", "machine": bench.machine_info(), "versions": colbert.versions(args.tamis),
        "command": args.invocation or shlex.join([sys.executable] + sys.argv), "tamis_binary": str(args.tamis),
        "debug_build": "/debug/" in str(args.tamis), "threads": args.threads, "rounds": args.rounds,
        "pause_ms": args.pause_ms, "tamis_calls": args.tamis_calls, "tamis_precision": args.tamis_precision, "model": info,
        "dataset": str(args.dataset), "split": args.split, "queries": len(queries),
        "query_ids": [q for q, _ in queries], "warmup_query": warmup[0],
        "candidates_per_query": round(sum(n_cand[q] for q, _ in queries) / len(queries), 1),
        "unstored_queries": len(unstored_qids), "unstored_batch_size": args.unstored_batch_size,
        "pylate_store": {"documents": len(pylate.embeddings), "secs": round(store_s, 2),
                         "batch_size": args.store_batch_size},
        "pylate_stored_query_encode_p50_ms": round(percentile([t * 1000 for t in pylate.encode_s], 50), 3),
        "tamis_commands": {s: tamis[s].command() for s in STORAGES},
        "tamis_stage1_p50_ms": {s: round(percentile(stage1_ms[s], 50), 3) for s in STORAGES},
        "candidate_drift": drift, "same_candidates_as_f16": same_ids, "text_mismatches": text_mismatch,
        "engines": engines, "ratios": ratios, "storage": storage_rows, "indexes": indexes,
        "agreement": {"tamis": checks, "pylate_rerank_vs_maxsim": rerank_vs_exact, "flagged": flagged}}
    markdown = render(report)
    print(markdown)
    out = args.json or args.work / "results" / f"colbert-stored-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    md_path = args.out or out.with_suffix(".md")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown + "\n")
    log(f"results written to {out} and {md_path}")
    if flagged:
        for s in flagged:
            print(f"\n!!!!!!!! tamis {s} AND PyLate DISAGREE: max |score difference| "
                  f"{checks[s]['max_abs_vs_maxsim']:.3e} > {checks[s]['tolerance']:g} !!!!!!!!", file=sys.stderr)
        sys.exit(3)


def mib(n: int) -> str:
    return f"{n / MIB:.1f}"


def render(report: dict) -> str:
    machine, vers, model, ratios = report["machine"], report["versions"], report["model"], report["ratios"]
    checks = report["agreement"]["tamis"]
    lines = [
        "## ColBERT rerank from stored token vectors: tamis vs PyLate (CPU)",
        "",
        f"- CPU: {machine.get('cpu_model')} ({machine.get('cores')} cores, nproc {machine.get('nproc')}, "
        f"{machine.get('mem_gib')} GiB); SIMD: {' '.join(machine.get('simd') or []) or '?'}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v),
        f"- command: `{report['command']}`",
        f"- threads: {report['threads']} for both (tamis `--threads`; torch.set_num_threads, interop 1, "
        "OMP/MKL/RAYON_NUM_THREADS, TOKENIZERS_PARALLELISM=false)",
        f"- tamis precision: `--precision {report.get('tamis_precision', 'fp32')}` (PyLate: fp32)",
        f"- model: `{model['dir']}`: {model['layers']} layers, hidden {model['hidden']}, Dense {model['dense']}, "
        f"query_length {model['query_length']}, document_length {model['document_length']}"
        + ("; **random weights** (all-MiniLM-L6-v2's BERT + a seeded random Dense): quality meaningless, speed "
           "real" if model.get("random_weights") else ""),
        f"- workload: {report['queries']} {Path(report['dataset']).name} {report['split']} queries (qrels order) x "
        f"{report['candidates_per_query']:g} candidates = tamis' BM25 top (`--mode bm25 --chunking whole`), "
        f"the same ids to PyLate; {report['rounds']} round(s), {report['pause_ms']:g} ms untimed pause before "
        f"each call, engine order rotating query by query; tamis calls: {report['tamis_calls']}",
        "- one query = tamis: `timings_ms[MODEL]` of `tamis search --rerank MODEL` (encode the query, read the "
        "stored token vectors or encode the candidates, MaxSim; tamis' own clock); PyLate stored: "
        "`encode([query], is_query=True)` + `rank.rerank` on embeddings computed beforehand "
        f"({report['pylate_store']['documents']} documents in {report['pylate_store']['secs']:g} s, untimed); "
        f"PyLate unstored: also `encode(candidates, batch {report['unstored_batch_size']})`, first "
        f"{report['unstored_queries']} queries only",
    ]
    if report["debug_build"]:
        lines.append(f"- **tamis is a debug build** (`{report['tamis_binary']}`): its timings mean nothing")
    lines += ["", "| engine | stored token vectors | calls | p50 ms/query | p95 ms/query | mean ms/query | "
              "candidates/s |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in report["engines"]:
        lines.append(f"| {row['engine']} | {row['token_storage']} | {row['calls']} | {row['p50_ms']:.2f} | "
                     f"{row['p95_ms']:.2f} | {row['mean_ms']:.2f} | {row['candidates_per_s']:,.0f} |")
    lines += ["", f"**PyLate stored / tamis f16 stored = {ratios['pylate_stored_over_tamis_f16']:.2f}x**, "
              f"**PyLate stored / tamis int8 stored = {ratios['pylate_stored_over_tamis_int8']:.2f}x** "
              "(total time ratios; > 1: tamis faster)  ",
              f"tamis without / with stored vectors: {ratios['tamis_none_over_tamis_f16']:.1f}x (f16), "
              f"{ratios['tamis_none_over_tamis_int8']:.1f}x (int8)"]
    if "pylate_unstored_over_tamis_none_same_queries" in ratios:
        lines[-1] += "  "
        lines.append(f"without stored vectors, on the first {report['unstored_queries']} queries: PyLate / tamis = "
                     f"{ratios['pylate_unstored_over_tamis_none_same_queries']:.2f}x; PyLate unstored / PyLate "
                     f"stored = {ratios['pylate_unstored_over_pylate_stored_same_queries']:.1f}x")
    lines += ["", "tamis stage 1 (BM25) p50: " + ", ".join(
        f"{s} {v:.2f} ms" for s, v in report["tamis_stage1_p50_ms"].items()) + " (not in the times above)", "",
        f"PyLate stored p50 of the query's encoding alone: {report['pylate_stored_query_encode_p50_ms']:.2f} ms "
        "(the rest of its time is rank.rerank)", "",
        "**Storage** (whole corpus, `--chunking whole`; total = every file of the index directory; growth against "
        "the index without token vectors)", "",
        "| token storage | ingest s | chunks | bytes/vector | token bytes/chunk | token MiB | store MiB | "
        "index MiB | growth MiB | growth % |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["storage"]:
        earlier = " (earlier run)" if row["reused"] else ""
        lines.append(f"| {row['storage']} | {row['ingest_s']:.1f}{earlier} | {row['chunks']} | "
                     f"{row['bytes_per_vector'] or '-'} "
                     f"| {row['bytes_per_chunk']:,} | {mib(row['token_bytes'])} | {mib(row['store_bytes'])} | "
                     f"{mib(row['index_bytes'])} | {mib(row['index_growth_bytes'])} | "
                     f"{row['index_growth_pct'] if row['index_growth_pct'] is not None else '-'} |")
    lines += ["", "**Scores** (tamis `score` = raw MaxSim, against MaxSim of PyLate's stored fp32 embeddings, every "
              "candidate of every query):", ""]
    for s in STORAGES:
        c = checks[s]
        lines.append(f"- tamis {s}: max |Δ| {c['max_abs_vs_maxsim']:.2e} (mean {c['mean_abs_vs_maxsim']:.2e}) over "
                     f"{c['pairs']} pairs, tolerance {c['tolerance']:g}{' **FLAGGED**' if c['flagged'] else ''}; "
                     f"against PyLate's rank.rerank scores {c['max_abs_vs_rerank']:.2e}")
    lines.append(f"- PyLate rank.rerank vs exact MaxSim: {report['agreement']['pylate_rerank_vs_maxsim']:.2e} "
                 "(rank.rerank pads candidates with zero vectors)")
    if report["candidate_drift"] or report["text_mismatches"]:
        lines.append(f"- warnings: {report['candidate_drift']} timed tamis answers had other candidates than the "
                     f"untimed pass; {report['text_mismatches']} candidate texts differ from the corpus'")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
