"""Side-by-side CPU benchmark of ColBERT reranking: tamis against PyLate, same model, inputs and threads.

Usage:
    python colbert.py [--tamis target/release/tamis] [--shared ../shared] [--work target/peers-colbert]
        [--model DIR | --base DIR --document-length 300 --query-length 32 --seed 0]
        [--dataset DIR] [--split test] [--run RUN.trec | --workload W.jsonl] [--queries 50] [--candidates 100]
        [--threads 2] [--batch-sizes 16,32,64] [--calibrate 2] [--rounds 1] [--json OUT.json]

What one query costs each engine (the late-interaction stage when no token vectors are stored):
    tamis   `tamis bench rerank --model DIR --max-length DOCUMENT_LENGTH --threads N --stdio`: one request line
            {"query", "passages"} -> {"logits": [MaxSim, ...]} (the query and every candidate encoded, then MaxSim)
    pylate  model.encode([query], is_query=True) + model.encode(candidates, is_query=False) (batch size B,
            calibrated) + pylate.rank.rerank(...), scores put back in input order
Wall clock (perf_counter) around that whole call, tokenisation included, for both engines, from this process.

Model: without --model, a ColBERT with real-size shapes is built once under --work: PyLate's
models.ColBERT(model_name_or_path=BASE) on the shared all-MiniLM-L6-v2 BERT (6 layers, 384 hidden) with a new
random Dense 384 -> 128 (torch seeded with --seed), query_length 32, document_length 300 (as
answerai-colbert-small-v1), saved with .save(). Its quality is meaningless; speed does not depend on the weights.

Workload: the first --queries queries of the dataset's qrels split, each with its top --candidates documents
(passage = "title text") from a BM25 run computed here (Lucene's English stop words, no stemming, k1 1.2, b 0.75),
or from --run (a TREC run, e.g. `tamis eval --run-output`); rerank_workload.py writes the JSONL. --workload
takes a ready-made one instead.

Order: load both, warm up both on the first query and check their scores agree there (exit 3 when not),
calibrate PyLate's batch size, then every query is run by both engines back to back, the order flipping from
query to query, an untimed --pause-ms and gc.collect() before each call. See README.md ("ColBERT").
"""
import argparse
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (standard library only at import time)
import rerank_workload  # noqa: E402
from bench import fail, pause, percentile  # noqa: E402

DEFAULT_TAMIS_CMD = "{tamis} bench rerank --model {model} --max-length {max_length} --threads {threads} --stdio"
ENGINES = ["tamis", "pylate"]
# Lucene's EnglishAnalyzer stop set (the classic 33 words)
STOP_WORDS = set("a an and are as at be but by for if in into is it no not of on or such that the their then there "
                 "these they this to was will with".split())
TOKEN = re.compile(r"[a-z0-9]+")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tamis", type=Path, default=REPO / "target" / "release" / "tamis",
                        help="the tamis binary (default target/release/tamis)")
    parser.add_argument("--tamis-cmd", default=DEFAULT_TAMIS_CMD,
                        help="command template of the tamis worker; placeholders {tamis} {model} {max_length} "
                             "{threads} (default: %(default)s)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="the shared directory with models/ and datasets/ (default ../shared)")
    parser.add_argument("--work", type=Path, default=REPO / "target" / "peers-colbert",
                        help="where the model, the workload and the results go (default target/peers-colbert)")
    parser.add_argument("--model", type=Path,
                        help="an existing ColBERT directory (PyLate layout); default: build one under --work")
    parser.add_argument("--base", type=Path, help="the BERT the built model starts from "
                                                  "(default SHARED/models/all-MiniLM-L6-v2)")
    parser.add_argument("--document-length", type=int, default=300,
                        help="document_length of the built model (default 300, as answerai-colbert-small-v1)")
    parser.add_argument("--query-length", type=int, default=32, help="query_length of the built model (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the built model's new weights (default 0)")
    parser.add_argument("--dataset", type=Path, help="BEIR dataset directory (default SHARED/datasets/nfcorpus)")
    parser.add_argument("--split", default="test", help="qrels split whose queries are used (default test)")
    parser.add_argument("--run", type=Path, help="TREC run giving the candidates (default: BM25 computed here)")
    parser.add_argument("--workload", type=Path, help="a ready-made rerank workload (rerank_workload.py's JSONL); "
                                                      "--queries and --candidates still cut it")
    parser.add_argument("--queries", type=int, default=50, help="queries (default 50)")
    parser.add_argument("--candidates", type=int, default=100, help="candidates per query (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="threads of both engines (default 2)")
    parser.add_argument("--batch-sizes", default="16,32,64",
                        help="PyLate encode batch sizes to calibrate from (default 16,32,64; capped at a query's "
                             "most candidates); one value fixes it")
    parser.add_argument("--calibrate", type=int, default=2,
                        help="queries used to calibrate PyLate's batch size (default 2; 0: the first batch size)")
    parser.add_argument("--calibrate-reps", type=int, default=1,
                        help="timings per batch size, the fastest kept (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the workload (default 1)")
    parser.add_argument("--pause-ms", type=float, default=20.0,
                        help="untimed idle time before each call, so that the other engine's spinning threads are "
                             "parked (default 20)")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest |tamis - PyLate| MaxSim score allowed (default 1e-3)")
    parser.add_argument("--target", type=float, default=3.0,
                        help="speed ratio tamis / PyLate that the report checks (default 3, the issue's goal)")
    parser.add_argument("--ready-timeout", type=float, default=600.0,
                        help="seconds to wait for tamis' ready line (default 600)")
    parser.add_argument("--json", type=Path,
                        help="results JSON (default WORK/results/colbert-<UTC time>.json); the markdown report "
                             "goes beside it (.md)")
    args = parser.parse_args()
    try:
        args.batch_sizes = sorted({int(b) for b in args.batch_sizes.split(",") if b.strip()})
    except ValueError:
        parser.error("--batch-sizes takes comma-separated integers")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--batch-sizes needs positive integers")
    for name in ("threads", "rounds", "queries", "candidates", "document_length", "query_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.run is not None and args.workload is not None:
        parser.error("give --run or --workload, not both")
    return args


def check_inputs(args: argparse.Namespace) -> None:
    """Fail early, with a clear message, on anything missing (before the slow imports)."""
    resolved = shutil.which(str(args.tamis))
    if resolved is None:
        fail(f"tamis binary {args.tamis} not found or not executable (build it: cargo build --release -p tamis-cli)")
    args.tamis = Path(resolved).resolve()
    args.dataset = args.dataset or args.shared / "datasets" / "nfcorpus"
    args.base = args.base or args.shared / "models" / "all-MiniLM-L6-v2"
    if args.workload is not None:
        if not args.workload.is_file():
            fail(f"workload {args.workload} not found (build it with rerank_workload.py)")
    else:
        for path in (args.dataset / "corpus.jsonl", args.dataset / "queries.jsonl",
                     args.dataset / "qrels" / f"{args.split}.tsv"):
            if not path.is_file():
                fail(f"{path} not found (--dataset takes a BEIR dataset directory; --shared is {args.shared})")
        if args.run is not None and not args.run.is_file():
            fail(f"run file {args.run} not found")
    if args.model is not None:
        if not (args.model / "config_sentence_transformers.json").is_file() or not (args.model / "modules.json").is_file():
            fail(f"--model {args.model} is not a PyLate ColBERT directory (no config_sentence_transformers.json "
                 "or modules.json)")
    elif not (args.base / "config.json").is_file():
        fail(f"base model {args.base} not found (no config.json): the ColBERT model is built from it; "
             "give --shared, --base or --model")


# ---------------------------------------------------------------------------------------------------------
# The model


def built_model_dir(args) -> Path:
    return args.work / f"colbert-{args.base.name}-q{args.query_length}-d{args.document_length}-seed{args.seed}"


def build_model(args, out: Path) -> None:
    """PyLate's ColBERT on the base BERT: a new random Dense 384 -> 128 and [Q]/[D] token rows, seeded."""
    import torch
    from pylate import models

    log(f"building the ColBERT model {out} from {args.base} (seed {args.seed}) ...")
    torch.manual_seed(args.seed)
    model = models.ColBERT(model_name_or_path=str(args.base), device="cpu", query_length=args.query_length,
                           document_length=args.document_length)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    del model


def file_sha256(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def model_info(model_dir: Path, pylate_model) -> dict:
    config = json.loads((model_dir / "config.json").read_text())
    dense = None
    for sub in sorted(model_dir.glob("*_Dense/config.json")):
        dense = json.loads(sub.read_text())
    return {"dir": str(model_dir.resolve()), "architectures": config.get("architectures"),
            "layers": config.get("num_hidden_layers"), "hidden": config.get("hidden_size"),
            "dense": f"{dense.get('in_features')} -> {dense.get('out_features')}" if dense else None,
            "query_length": pylate_model.query_length, "document_length": pylate_model.document_length,
            "do_query_expansion": pylate_model.do_query_expansion,
            "attend_to_expansion_tokens": pylate_model.attend_to_expansion_tokens,
            "query_prefix": pylate_model.query_prefix, "document_prefix": pylate_model.document_prefix,
            "skiplist_words": len(pylate_model.skiplist_words or []),
            "model_safetensors_sha256": file_sha256(model_dir / "model.safetensors")}


# ---------------------------------------------------------------------------------------------------------
# The workload


def bm25_run(args, out: Path) -> int:
    """A BM25 TREC run of the first --queries judged queries (qrels order), top --candidates each."""
    corpus = rerank_workload.read_corpus(args.dataset)
    queries = rerank_workload.read_queries(args.dataset)
    qrels = rerank_workload.read_qrels(args.dataset / "qrels" / f"{args.split}.tsv")
    qids = [qid for qid in qrels if qid in queries][: args.queries]

    def terms(text: str) -> list:
        return [t for t in TOKEN.findall(text.lower()) if t not in STOP_WORDS]

    doc_ids = list(corpus)
    postings = defaultdict(list)
    lengths = []
    for doc_idx, doc_id in enumerate(doc_ids):
        counts = Counter(terms(corpus[doc_id]))
        lengths.append(sum(counts.values()))
        for term, tf in counts.items():
            postings[term].append((doc_idx, tf))
    n_docs, avg_len, k1, b = len(doc_ids), sum(lengths) / max(1, len(lengths)), 1.2, 0.75
    with out.open("w", encoding="utf-8") as f:
        for qid in qids:
            scores = defaultdict(float)
            for term in set(terms(queries[qid])):
                plist = postings.get(term, [])
                idf = math.log(1 + (n_docs - len(plist) + 0.5) / (len(plist) + 0.5))
                for doc_idx, tf in plist:
                    scores[doc_idx] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[doc_idx] / avg_len))
            top = sorted(scores.items(), key=lambda x: (-x[1], doc_ids[x[0]]))[: args.candidates]
            for rank, (doc_idx, score) in enumerate(top, 1):
                f.write(f"{qid} Q0 {doc_ids[doc_idx]} {rank} {score:.6f} bm25\n")
    return len(qids)


def make_workload(args) -> tuple:
    """-> (workload path, description of the candidates' source)."""
    if args.workload is not None:
        return args.workload, f"workload file {args.workload}"
    args.work.mkdir(parents=True, exist_ok=True)
    name = f"{args.dataset.name}-{args.split}"
    if args.run is None:
        run = args.work / f"{name}-bm25-q{args.queries}-c{args.candidates}.run"
        bm25_run(args, run)
        source = f"BM25 (computed by colbert.py) on {args.dataset.name}, split {args.split}"
    else:
        run = args.run
        source = f"run file {args.run} on {args.dataset.name}, split {args.split}"
    out = args.work / f"{name}-{'bm25' if args.run is None else run.stem}-q{args.queries}-c{args.candidates}.jsonl"
    cmd = [sys.executable, str(HERE / "rerank_workload.py"), "--dataset", str(args.dataset), "--run", str(run),
           "--depth", str(args.candidates), "--split", args.split, "--limit", str(args.queries), "--out", str(out)]
    res = subprocess.run(cmd)
    if res.returncode != 0:
        fail(f"rerank_workload.py failed (exit status {res.returncode}): {shlex.join(cmd)}")
    return out, source


def load_workload(path: Path, args) -> list:
    items = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if "query" not in item or "passages" not in item:
                fail(f"{path}:{n}: not a rerank workload line (needs query and passages)")
            item["passages"] = item["passages"][: args.candidates]
            if item["passages"]:
                items.append(item)
            if len(items) >= args.queries:
                break
    if not items:
        fail(f"workload {path} has no query with candidates")
    return items


# ---------------------------------------------------------------------------------------------------------
# Engines: name, settings, candidates(), configure(), run(item) -> float32 scores in input order


class PylateEngine:
    """PyLate's rerank of one query: encode the query, encode its candidates, rank.rerank."""

    name = "pylate"
    precision = "fp32"

    def __init__(self, model, batch_sizes: list):
        self.model = model
        self.batch_sizes = batch_sizes
        self.settings = {"batch_size": batch_sizes[0]}
        self.last_embeddings = None

    def candidates(self) -> list:
        return [{"batch_size": b} for b in self.batch_sizes]

    def configure(self, settings: dict) -> None:
        self.settings = dict(settings)

    def run(self, item):
        import numpy as np
        from pylate import rank

        batch_size = self.settings["batch_size"]
        passages = item["passages"]
        query_embeddings = self.model.encode([item["query"]], is_query=True, batch_size=batch_size,
                                             show_progress_bar=False)
        documents_embeddings = self.model.encode(passages, is_query=False, batch_size=batch_size,
                                                 show_progress_bar=False)
        ranked = rank.rerank(documents_ids=[list(range(len(passages)))], queries_embeddings=query_embeddings,
                             documents_embeddings=[documents_embeddings])[0]
        scores = np.empty(len(passages), dtype=np.float32)
        for res in ranked:
            scores[res["id"]] = res["score"]
        self.last_embeddings = (query_embeddings[0], documents_embeddings)
        return scores

    def exact_max_sim(self):
        """MaxSim of the last call's embeddings, each document unpadded (untimed)."""
        import numpy as np

        query, documents = self.last_embeddings
        return np.array([float((query @ doc.T).max(axis=1).sum()) for doc in documents], dtype=np.float64)

    def close(self) -> None:
        pass


def tamis_engine(args, model_dir: Path, document_length: int):
    ns = argparse.Namespace(tamis=args.tamis, task="rerank", model=model_dir.resolve(),
                            max_length=document_length, threads=args.threads, tamis_precision="fp32",
                            ready_timeout=args.ready_timeout, tamis_cmd=args.tamis_cmd)
    return bench.TamisEngine(ns, "tamis")


def compare(name: str, tamis_scores, pylate_engine: PylateEngine, pylate_scores) -> dict:
    """tamis against exact MaxSim of PyLate's embeddings, and PyLate's rank.rerank against the same."""
    import numpy as np

    exact = pylate_engine.exact_max_sim()
    tamis_diff = np.abs(np.asarray(tamis_scores, dtype=np.float64) - exact)
    rerank_diff = np.abs(np.asarray(pylate_scores, dtype=np.float64) - exact)
    return {"query": name, "tamis_vs_exact": float(tamis_diff.max()),
            "rerank_vs_exact": float(rerank_diff.max()), "rerank_off_pairs": int((rerank_diff > 1e-4).sum()),
            "tamis_vs_rerank": float(np.abs(np.asarray(tamis_scores, np.float64) - pylate_scores).max())}


def token_stats(model, items: list, document_length: int) -> dict:
    """Candidates' token counts with the model's tokenizer ([CLS] [D] text [SEP]), before truncation."""
    import transformers

    lengths = []
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # no "longer than the maximum sequence length" warning
    try:
        for item in items:
            ids = model.tokenizer(item["passages"], add_special_tokens=True, truncation=False)["input_ids"]
            lengths.extend(len(x) + 1 for x in ids)
    finally:
        transformers.logging.set_verbosity(verbosity)
    lengths.sort()
    kept = [min(n, document_length) for n in lengths]
    return {"mean_before_truncation": round(sum(lengths) / len(lengths), 1), "p50_before": lengths[len(lengths) // 2],
            "max_before": lengths[-1], "mean_encoded": round(sum(kept) / len(kept), 1),
            "truncated_share": round(sum(n > document_length for n in lengths) / len(lengths), 3)}


def versions(tamis: Path) -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("pylate", "torch", "sentence-transformers", "transformers", "tokenizers", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    try:
        res = subprocess.run([str(tamis), "--version"], capture_output=True, text=True, timeout=30)
        out["tamis"] = res.stdout.strip().removeprefix("tamis ") or None
    except (OSError, subprocess.SubprocessError):
        out["tamis"] = None
    return out


def main() -> None:
    args = parse_args()
    check_inputs(args)
    bench.set_thread_env(args.threads)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    # --- model (built once) and workload
    model_dir = args.model
    built = False
    if model_dir is None:
        model_dir = built_model_dir(args)
        if not (model_dir / "config_sentence_transformers.json").is_file():
            args.work.mkdir(parents=True, exist_ok=True)
            build_model(args, model_dir)
            built = True
        else:
            log(f"using the ColBERT model built before: {model_dir}")
    workload_path, source = make_workload(args)
    items = load_workload(workload_path, args)
    n_pairs = sum(len(it["passages"]) for it in items)

    # --- engines (loading not timed)
    from pylate import models

    started = time.perf_counter()
    pylate_model = models.ColBERT(model_name_or_path=str(model_dir), device="cpu")
    pylate_model.eval()
    log(f"loaded pylate in {time.perf_counter() - started:.1f} s")
    info = model_info(model_dir, pylate_model)
    info["built_here"] = built
    info["random_weights"] = args.model is None  # built by build_model: random Dense and marker rows
    document_length = pylate_model.document_length
    max_rows = max(len(it["passages"]) for it in items)
    # a batch size above the most candidates of a query is the same as that many
    pylate = PylateEngine(pylate_model, sorted({min(b, max_rows) for b in args.batch_sizes}))
    started = time.perf_counter()
    tamis = tamis_engine(args, model_dir, document_length)
    log(f"loaded tamis in {time.perf_counter() - started:.1f} s: {json.dumps(tamis.ready)}")
    engines = [tamis, pylate]
    tokens = token_stats(pylate_model, items, document_length)
    log(f"workload: {len(items)} queries, {n_pairs} pairs ({source}); candidates' tokens: mean "
        f"{tokens['mean_encoded']} encoded, {tokens['truncated_share'] * 100:.0f}% cut at {document_length}")

    # --- warm-up and the score check on the first query (not timed)
    first = items[0]
    tamis_first = tamis.run(first)
    pylate_first = pylate.run(first)
    for engine, out in ((tamis, tamis_first), (pylate, pylate_first)):
        if out.shape != (len(first["passages"]),):
            fail(f"{engine.name} returned {out.shape} scores for {len(first['passages'])} passages")
    first_check = compare(first.get("query_id", "0"), tamis_first, pylate, pylate_first)
    log(f"score check, first query ({len(first['passages'])} pairs): max |tamis - PyLate MaxSim| = "
        f"{first_check['tamis_vs_exact']:.2e} (tolerance {args.tolerance:g})")
    if not first_check["tamis_vs_exact"] <= args.tolerance:
        print(f"\n!!!!!!!! tamis AND PyLate DISAGREE on the first query: max |score difference| "
              f"{first_check['tamis_vs_exact']:.3e} > {args.tolerance:g} !!!!!!!!\n"
              f"(model {model_dir}; tamis command: {shlex.join(tamis.cmd)})", file=sys.stderr)
        tamis.close()
        sys.exit(3)

    # --- PyLate's batch size (not timed)
    if len(pylate.batch_sizes) > 1 and args.calibrate > 0:
        log(f"calibrating pylate's batch size from {pylate.batch_sizes} on {min(args.calibrate, len(items))} "
            "queries ...")
    calibration = bench.calibrate(pylate, items, args)
    pylate.run(first)  # warm-up with the chosen batch size
    log(f"pylate: batch {pylate.settings['batch_size']}"
        + (" (" + ", ".join(f"{c['settings']['batch_size']}: {c['secs']} s" for c in calibration) + ")"
           if calibration else ""))

    # --- timed: every query by both engines back to back, the order flipping from query to query
    secs = {e.name: [] for e in engines}
    checks = []
    turn = 0
    wall_started = time.perf_counter()
    for round_idx in range(args.rounds):
        for idx, item in enumerate(items):
            order = engines if turn % 2 == 0 else engines[::-1]
            outputs = {}
            for engine in order:
                pause(args)
                started = time.perf_counter()
                outputs[engine.name] = engine.run(item)
                secs[engine.name].append(time.perf_counter() - started)
            turn += 1
            if round_idx == 0:
                checks.append(compare(item.get("query_id", str(idx)), outputs["tamis"], pylate, outputs["pylate"]))
            log_line = (f"  {idx + 1 + round_idx * len(items)}/{len(items) * args.rounds} queries, "
                        f"{time.perf_counter() - wall_started:.0f} s")
            print("\r" + log_line, end="", file=sys.stderr, flush=True)
    print(file=sys.stderr, flush=True)
    tamis.close()

    # --- results
    results = {}
    for engine in engines:
        total = sum(secs[engine.name])
        per_query_ms = [s * 1000 for s in secs[engine.name]]
        results[engine.name] = {
            "settings": ({"batching": "internal", "command": shlex.join(tamis.cmd)} if engine is tamis
                         else {"batch_size": pylate.settings["batch_size"], "calibration": calibration}),
            "total_s": round(total, 4), "calls": len(per_query_ms),
            "pairs_per_s": round(n_pairs * args.rounds / total, 2),
            "p50_ms": round(percentile(per_query_ms, 50), 2), "p95_ms": round(percentile(per_query_ms, 95), 2),
            "mean_ms": round(float(np.mean(per_query_ms)), 2)}
    results["tamis"]["ready_line"] = tamis.ready
    results["tamis"]["json_parse_p50_ms"] = round(percentile([s * 1000 for s in tamis.parse_secs], 50), 3)
    speedup = sum(secs["pylate"]) / sum(secs["tamis"])
    agreement = {
        "tolerance": args.tolerance,
        "first_query": first_check,
        "max_tamis_vs_pylate_maxsim": max(c["tamis_vs_exact"] for c in checks),
        "max_tamis_vs_pylate_rerank": max(c["tamis_vs_rerank"] for c in checks),
        "max_pylate_rerank_vs_maxsim": max(c["rerank_vs_exact"] for c in checks),
        "pylate_rerank_off_pairs": sum(c["rerank_off_pairs"] for c in checks),
        "pairs": n_pairs}
    agreement["flagged"] = not agreement["max_tamis_vs_pylate_maxsim"] <= args.tolerance

    report = {
        "benchmark": "colbert-rerank", "machine": bench.machine_info(), "versions": versions(args.tamis),
        "tamis_binary": str(args.tamis), "debug_build": "/debug/" in str(args.tamis),
        "threads": args.threads, "rounds": args.rounds, "pause_ms": args.pause_ms, "model": info,
        "calibrate_queries": min(args.calibrate, len(items)) if calibration else 0,
        "pylate_batch_sizes": {"asked": args.batch_sizes, "tried": pylate.batch_sizes, "most_candidates": max_rows},
        "workload": {"path": str(workload_path.resolve()), "source": source, "queries": len(items),
                     "candidates_per_query": args.candidates, "pairs": n_pairs, "tokens": tokens,
                     "query_ids": [it.get("query_id") for it in items]},
        "engines": results, "tamis_over_pylate": round(speedup, 3), "target": args.target,
        "target_met": speedup >= args.target, "agreement": agreement}
    markdown = render(report)
    print(markdown)
    out = args.json or args.work / "results" / f"colbert-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown + "\n")
    log(f"results written to {out} and {out.with_suffix('.md')}")
    if agreement["flagged"]:
        print(f"\n!!!!!!!! tamis AND PyLate DISAGREE: max |score difference| "
              f"{agreement['max_tamis_vs_pylate_maxsim']:.3e} > {args.tolerance:g} !!!!!!!!", file=sys.stderr)
        sys.exit(3)


def batch_fixed_note(sizes: dict) -> str:
    if len(sizes["tried"]) > 1:
        return f"the first of {sizes['tried']}, not calibrated (--calibrate 0)"
    if len(sizes["asked"]) > 1:  # several asked, one left after capping at the most candidates of a query
        return (f"one batch per query: {sizes['asked']} capped at the {sizes['most_candidates']} candidates "
                "of a query")
    return "fixed (--batch-sizes)" if sizes["asked"] == sizes["tried"] else (
        f"fixed (--batch-sizes {sizes['asked'][0]}, capped at {sizes['most_candidates']} candidates)")


def render(report: dict) -> str:
    machine, vers, model, work = report["machine"], report["versions"], report["model"], report["workload"]
    tamis, pylate, agree = report["engines"]["tamis"], report["engines"]["pylate"], report["agreement"]
    tokens = work["tokens"]
    calibration = pylate["settings"]["calibration"]
    batch_note = ("calibrated, the fastest total on " + f"{report['calibrate_queries']} queries: "
                  + ", ".join(f"batch {c['settings']['batch_size']} {c['secs']:.2f} s" for c in calibration)
                  if calibration else batch_fixed_note(report["pylate_batch_sizes"]))
    lines = [
        "## ColBERT rerank: tamis vs PyLate (CPU)",
        "",
        f"- CPU: {machine.get('cpu_model')} ({machine.get('cores')} cores, nproc {machine.get('nproc')}, "
        f"{machine.get('mem_gib')} GiB); SIMD: {' '.join(machine.get('simd') or []) or '?'}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v),
        f"- threads: {report['threads']} for both (tamis `--threads`; torch.set_num_threads, interop 1, "
        "OMP/MKL/RAYON_NUM_THREADS, TOKENIZERS_PARALLELISM=false)",
        f"- model: `{model['dir']}`: {model['layers']} layers, hidden {model['hidden']}, Dense {model['dense']}, "
        f"query_length {model['query_length']} (expanded with [MASK]: {model['do_query_expansion']}), "
        f"document_length {model['document_length']}, {model['skiplist_words']} skiplist words"
        + ("; built by colbert.py: all-MiniLM-L6-v2's BERT with a random Dense and [Q]/[D] rows, seeded "
           "(quality meaningless, speed only)" if model.get("random_weights") else ""),
        f"- workload: {work['queries']} queries x up to {work['candidates_per_query']} candidates = {work['pairs']} "
        f"pairs, {work['source']}; tokens per candidate: mean {tokens['mean_encoded']} encoded "
        f"({tokens['mean_before_truncation']} before cutting, {tokens['truncated_share'] * 100:.0f}% cut at "
        f"{model['document_length']})",
        f"- one query = tamis: one stdio request (encode query + candidates, MaxSim, JSON back); PyLate: "
        f"encode(query) + encode(candidates, batch {pylate['settings']['batch_size']}) + rank.rerank; "
        f"PyLate batch size {batch_note}",
        f"- {report['rounds']} round(s); engines alternate query by query, order flipping each query, "
        f"{report['pause_ms']:g} ms untimed pause before each call",
    ]
    if report["debug_build"]:
        lines.append(f"- **tamis is a debug build** (`{report['tamis_binary']}`): its timings mean nothing")
    lines += [
        "",
        "| engine | settings | pairs/s | p50 ms/query | p95 ms/query | mean ms/query |",
        "|---|---|---:|---:|---:|---:|",
        f"| tamis | batching internal | {tamis['pairs_per_s']:.1f} | {tamis['p50_ms']:.1f} | {tamis['p95_ms']:.1f} "
        f"| {tamis['mean_ms']:.1f} |",
        f"| PyLate | batch {pylate['settings']['batch_size']} | {pylate['pairs_per_s']:.1f} | {pylate['p50_ms']:.1f} "
        f"| {pylate['p95_ms']:.1f} | {pylate['mean_ms']:.1f} |",
        "",
        f"**tamis / PyLate = {report['tamis_over_pylate']:.2f}x** (total PyLate time / total tamis time; "
        f"target ≥ {report['target']:g}x: {'met' if report['target_met'] else 'NOT met'})",
        "",
        f"Scores: max |tamis − MaxSim of PyLate's embeddings| = {agree['max_tamis_vs_pylate_maxsim']:.2e} over "
        f"{agree['pairs']} pairs (tolerance {agree['tolerance']:g}{'; FLAGGED' if agree['flagged'] else ''}); "
        f"first query {agree['first_query']['tamis_vs_exact']:.2e}. "
        f"PyLate's own rank.rerank scores differ from that MaxSim by up to {agree['max_pylate_rerank_vs_maxsim']:.2e} "
        f"({agree['pylate_rerank_off_pairs']} pairs off by more than 1e-4; rank.rerank pads a query's candidates "
        f"with zero vectors, so a query token whose best real match is negative gets 0 against a shorter candidate).",
        f"tamis timings include writing the request and reading + parsing the JSON answer "
        f"(parse p50 {tamis['json_parse_p50_ms']} ms).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
