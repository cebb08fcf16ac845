"""Side-by-side CPU benchmark: tamis' cross-encoder / bi-encoder against ONNX Runtime and sentence-transformers.

Usage:
    python bench.py rerank --workload rerank.jsonl --model DIR --onnx-dir D --tamis BIN \
        [--threads 2] [--engines tamis,ort,ort-opt,ort-int8,st] [--rounds 1] [--block 5] [--limit N] \
        [--qrels DATASET/qrels/test.tsv] [--json OUT.json]
    python bench.py embed --workload embed.jsonl --model DIR --onnx-dir D --tamis BIN ...

Every engine does the same work with the same number of threads, timed the same way from this process:
wall clock around the whole call for one workload line (one query and its passages, or one block of
documents), tokenisation included; for tamis, writing the request line and reading the answer line.
Model loading, calibration and a warm-up are not timed. The workload is processed in rounds; each round
splits it into blocks of `--block` lines and runs every engine on each block, rotating the engine order from
block to block, so that machine noise hits all engines alike.

Engines (the default is all but tamis-int8, tamis-bf16, tamis-py, st-bf16 and flashrank):
    tamis       the tamis binary speaking the --stdio protocol (see README.md), in --tamis-precision (fp32)
    tamis-int8  the same tamis worker with --precision int8 appended to its command
    tamis-bf16  the same tamis worker with --precision bf16 appended (CPUs with AVX512-BF16 only)
    tamis-py    the installed `tamis` Python package, in this process: tamis.CrossEncoder(...).predict(pairs)
                (rerank only; build and install its wheel first, see README.md)
    ort         ONNX Runtime, fp32 graph as exported (model.onnx)
    ort-opt     ONNX Runtime, fp32 graph fused by onnxruntime.transformers.optimizer (model-opt.onnx)
    ort-int8    ONNX Runtime, model-opt.onnx with dynamically quantised int8 weights (model-int8.onnx)
    st          sentence-transformers on PyTorch (CrossEncoder / SentenceTransformer), fp32
    st-bf16     the same under torch.autocast(device_type="cpu", dtype=torch.bfloat16), weights left fp32
    flashrank   FlashRank's Ranker.rerank (rerank only) on an ONNX export of the same model, loaded from a local
                directory laid out as FlashRank's cache (no download; see README.md), fp32
"""
import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ALL_ENGINES = ["tamis", "tamis-int8", "tamis-bf16", "tamis-py", "ort", "ort-opt", "ort-int8", "st", "st-bf16",
               "flashrank"]
RERANK_ONLY_ENGINES = {"tamis-py", "flashrank"}
DEFAULT_ENGINES = ["tamis", "ort", "ort-opt", "ort-int8", "st"]  # as run.sh's ENGINES default
TAMIS_ENGINES = {"tamis": [], "tamis-int8": ["--precision", "int8"], "tamis-bf16": ["--precision", "bf16"]}  # appended to the --tamis-cmd tokens
ONNX_FILES = {"ort": "model.onnx", "ort-opt": "model-opt.onnx", "ort-int8": "model-int8.onnx"}
DEFAULT_TAMIS_CMD = "{tamis} bench {task} --model {model} --max-length {max_length} --threads {threads} --stdio"
RERANK_TOLERANCE = 1e-3  # max |logit - reference| allowed for an fp32 engine
# FlashRank returns sigmoid(logit) in float32; its agreement is judged on that scale, where a logit difference of
# RERANK_TOLERANCE moves the score by at most RERANK_TOLERANCE / 4 (the sigmoid's largest slope)
SIGMOID_TOLERANCE = RERANK_TOLERANCE / 4
EMBED_TOLERANCE = 0.9999  # min cosine to the reference allowed for an fp32 engine


def fail(message: str) -> "NoReturn":  # noqa: F821
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["rerank", "embed"])
    parser.add_argument("--workload", type=Path, required=True,
                        help="JSONL from rerank_workload.py (rerank) or embed_workload.py (embed)")
    parser.add_argument("--model", type=Path, required=True, help="the Hugging Face model directory")
    parser.add_argument("--onnx-dir", type=Path,
                        help="export_onnx.py's --out directory (or the model's own sub-directory of it); "
                             "needed for the ort engines")
    parser.add_argument("--tamis", type=Path, help="the tamis binary; needed for the tamis engines")
    parser.add_argument("--tamis-cmd", default=DEFAULT_TAMIS_CMD,
                        help="command template for the tamis workers; placeholders {tamis} {task} {model} "
                             "{max_length} {threads}; tamis-int8 / tamis-bf16 append --precision int8 / bf16 (default: %(default)s)")
    parser.add_argument("--tamis-precision", choices=["fp32", "int8"], default="fp32",
                        help="what the tamis engine computes in; decides whether its score agreement is flagged "
                             "(tamis-int8 and tamis-bf16 are always int8 and bf16)")
    parser.add_argument("--flashrank-onnx", default="model-opt.onnx",
                        help="which of export_onnx.py's files the flashrank engine loads (default %(default)s, "
                             "the fused fp32 graph; model.onnx for the plain export)")
    parser.add_argument("--tamis-py-batch-size", type=int, default=32,
                        help="batch_size passed to tamis.CrossEncoder.predict (default 32, sentence-transformers' "
                             "default; without a progress bar the package hands all pairs to the engine in one "
                             "call and the engine batches by tokens itself)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    parser.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                        help="comma-separated, from: " + ",".join(ALL_ENGINES) + " (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the workload (default 1)")
    parser.add_argument("--block", type=int, default=5,
                        help="workload lines per engine turn before the next engine runs (default 5)")
    parser.add_argument("--limit", type=int, help="use only the first N workload lines")
    parser.add_argument("--max-length", type=int, default=256, help="token limit of a pair / text (default 256)")
    parser.add_argument("--batch-sizes", default="8,16,32,64,100",
                        help="candidate batch sizes for calibration (default 8,16,32,64,100); one value fixes it")
    parser.add_argument("--no-sort", action="store_true", help="do not try length-sorting in calibration")
    parser.add_argument("--calibrate", type=int, default=2,
                        help="workload lines used to calibrate each engine's settings (default 2; 0 = no "
                             "calibration: first batch size, unsorted)")
    parser.add_argument("--calibrate-reps", type=int, default=1,
                        help="timings per candidate setting, the fastest kept (default 1)")
    parser.add_argument("--pause-ms", type=float, default=20.0,
                        help="untimed idle time between engine turns, so that one engine's spinning worker "
                             "threads are parked before the next starts (default 20)")
    parser.add_argument("--qrels", type=Path,
                        help="qrels TSV for nDCG@10 of each engine's reranking (rerank; needs doc_ids in the "
                             "workload, as rerank_workload.py writes them)")
    parser.add_argument("--ready-timeout", type=float, default=600.0,
                        help="seconds to wait for tamis' ready line (default 600)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in args.engines if e not in ALL_ENGINES]
    if unknown or not args.engines:
        parser.error(f"unknown engine(s) {unknown}; choose from {','.join(ALL_ENGINES)}")
    if len(set(args.engines)) != len(args.engines):
        parser.error("an engine is named twice in --engines")
    rerank_only = [e for e in args.engines if e in RERANK_ONLY_ENGINES]
    if rerank_only and args.task != "rerank":
        parser.error(f"{','.join(rerank_only)} score (query, passage) pairs: rerank only")
    try:
        args.batch_sizes = sorted({int(b) for b in args.batch_sizes.split(",") if b.strip()})
    except ValueError:
        parser.error("--batch-sizes takes comma-separated integers")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--batch-sizes needs positive integers")
    for name in ("threads", "rounds", "block"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def check_inputs(args: argparse.Namespace) -> None:
    """Fail early, with a clear message, on anything missing (before the slow imports)."""
    if not args.workload.is_file():
        script = "rerank_workload.py" if args.task == "rerank" else "embed_workload.py"
        fail(f"workload {args.workload} not found (build it with {script})")
    if not (args.model / "config.json").is_file():
        fail(f"model directory {args.model} not found or not a Hugging Face model (no config.json)")
    ort_engines = [e for e in args.engines if e in ONNX_FILES]
    if ort_engines:
        if args.onnx_dir is None:
            fail(f"--onnx-dir is needed for {','.join(ort_engines)}")
        base = args.onnx_dir if (args.onnx_dir / "model.onnx").is_file() else args.onnx_dir / args.model.resolve().name
        args.onnx_paths = {}
        for engine in ort_engines:
            path = base / ONNX_FILES[engine]
            if not path.is_file():
                fail(f"missing ONNX file {path}: run export_onnx.py first "
                     f"(python scripts/bench/peers/export_onnx.py --model {args.model} --out {args.onnx_dir})")
            args.onnx_paths[engine] = path
    if "flashrank" in args.engines:
        if args.onnx_dir is None:
            fail("--onnx-dir is needed for flashrank (it runs an export_onnx.py file)")
        base = args.onnx_dir if (args.onnx_dir / "model.onnx").is_file() else args.onnx_dir / args.model.resolve().name
        path = base / args.flashrank_onnx
        if not path.is_file():
            fail(f"missing ONNX file {path} for flashrank: run export_onnx.py first "
                 f"(python scripts/bench/peers/export_onnx.py --model {args.model} --out {args.onnx_dir})")
        args.flashrank_path = path
    tamis_engines = [e for e in args.engines if e in TAMIS_ENGINES]
    if tamis_engines:
        if args.tamis is None:
            fail(f"--tamis BIN is needed for {','.join(tamis_engines)} (or leave it out of --engines)")
        resolved = shutil.which(str(args.tamis))
        if resolved is None:
            fail(f"tamis binary {args.tamis} not found or not executable (build it: cargo build --release)")
        args.tamis = Path(resolved)
    if args.qrels is not None and not args.qrels.is_file():
        fail(f"qrels file {args.qrels} not found")


def set_thread_env(threads: int) -> None:
    """Thread counts for every runtime, set before numpy, torch or onnxruntime are imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # no rayon pool of the tokenizers library beside the engine's


def load_workload(args) -> list:
    items = []
    with args.workload.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            item = json.loads(line)
            key = "passages" if args.task == "rerank" else "texts"
            if key not in item:
                fail(f"{args.workload}:{n}: no {key!r} field: is this a {args.task} workload?")
            items.append(item)
            if args.limit and len(items) >= args.limit:
                break
    if not items:
        fail(f"workload {args.workload} is empty")
    return items


# ---------------------------------------------------------------------------------------------------------
# Engines. Each has name, settings (chosen by calibration), candidates() and run(item) -> np.ndarray:
# rerank: float32 [n_passages] logits in input order; embed: float32 [n_texts, dim] normalised vectors.


class TamisEngine:
    def __init__(self, args, name: str = "tamis"):
        self.name = name
        # tamis-int8 / tamis-bf16 are so by their command; --tamis-precision describes plain tamis
        self.precision = {"tamis-int8": "int8", "tamis-bf16": "bf16"}.get(name, args.tamis_precision)
        self.task = args.task
        self.settings = {"batching": "internal"}
        values = {"tamis": str(args.tamis), "task": args.task, "model": str(args.model),
                  "max_length": str(args.max_length), "threads": str(args.threads)}
        try:
            self.cmd = [token.format(**values) for token in shlex.split(args.tamis_cmd)]
        except (KeyError, IndexError) as err:
            fail(f"--tamis-cmd has an unknown placeholder {err}; use {{tamis}} {{task}} {{model}} "
                 "{max_length} {threads}")
        extra = TAMIS_ENGINES[name]
        if extra and any(t == "--precision" or t.startswith("--precision=") for t in self.cmd):
            fail(f"--tamis-cmd already has --precision; {name} appends {shlex.join(extra)} itself "
                 "(leave it out of the template)")
        self.cmd += extra
        self.stderr = tempfile.TemporaryFile()
        print(f"starting {name}: {shlex.join(self.cmd)}", flush=True)
        try:
            # tamis defaults to --precision auto: the environment pins the mode this engine names
            # (a --precision flag in the command still wins over it).
            env = {**os.environ, "TAMIS_PRECISION": self.precision}
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                         env=env)
        except OSError as err:
            fail(f"cannot start {name} ({shlex.join(self.cmd)}): {err}")
        self.ready = self._read_ready(args.ready_timeout)
        self.parse_secs = []

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", "replace").strip()
        return "\n".join(text.splitlines()[-20:]) or "(nothing on stderr)"

    def _died(self, what: str) -> "NoReturn":  # noqa: F821
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        fail(f"{self.name} {what} (exit status {rc}); command: {shlex.join(self.cmd)}\n"
             f"--- {self.name} stderr (last lines) ---\n{self._stderr_tail()}")

    def _read_ready(self, timeout: float) -> dict:
        box = {}
        reader = threading.Thread(target=lambda: box.setdefault("line", self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self.proc.kill()
            fail(f"{self.name} printed no ready line within {timeout:.0f} s\n"
                 f"--- {self.name} stderr ---\n{self._stderr_tail()}")
        line = box["line"]
        if not line:
            self._died("exited before its ready line")
        try:
            ready = json.loads(line)
        except json.JSONDecodeError:
            self.proc.kill()
            fail(f"{self.name}'s first line is not JSON: {line[:300]!r}\n"
                 f"--- {self.name} stderr ---\n{self._stderr_tail()}")
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            self.proc.kill()
            fail(f"{self.name}'s first line is not a ready line ({{\"ready\": true, ...}}): {line[:300]!r}")
        return ready

    def candidates(self) -> list:
        return [self.settings]

    def configure(self, settings: dict) -> None:
        pass

    def run(self, item):
        import numpy as np

        request = ({"query": item["query"], "passages": item["passages"]} if self.task == "rerank"
                   else {"texts": item["texts"]})
        try:
            self.proc.stdin.write(json.dumps(request, ensure_ascii=False).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._died("closed its stdin")
        line = self.proc.stdout.readline()
        if not line:
            self._died("exited during a request")
        started = time.perf_counter()
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            fail(f"{self.name} answered with a line that is not JSON: {line[:300]!r}")
        key = "logits" if self.task == "rerank" else "vectors"
        if not isinstance(answer, dict) or key not in answer:
            message = answer.get("error") if isinstance(answer, dict) else None
            fail(f"{self.name} answered {('an error: ' + str(message)) if message else repr(line[:300])}")
        out = np.asarray(answer[key], dtype=np.float32)
        self.parse_secs.append(time.perf_counter() - started)
        return out

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            print(f"warning: {self.name} did not exit within 30 s of EOF on stdin; killed it", file=sys.stderr)
            return
        if rc != 0:
            print(f"warning: {self.name} exited with status {rc} after EOF\n{self._stderr_tail()}", file=sys.stderr)


class Tokenized:
    """Pairs or texts tokenised once, without padding; padded per batch."""

    def __init__(self, tokenizer, item, task: str, max_length: int):
        if task == "rerank":
            enc = tokenizer([item["query"]] * len(item["passages"]), item["passages"], truncation="longest_first",
                            max_length=max_length, return_attention_mask=False, return_token_type_ids=True)
        else:
            enc = tokenizer(item["texts"], truncation="longest_first", max_length=max_length,
                            return_attention_mask=False, return_token_type_ids=True)
        self.ids = enc["input_ids"]
        self.types = enc["token_type_ids"]
        self.pad_id = tokenizer.pad_token_id or 0

    def batch(self, rows):
        import numpy as np

        width = max(len(self.ids[r]) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            n = len(self.ids[r])
            ids[i, :n] = self.ids[r]
            types[i, :n] = self.types[r]
            mask[i, :n] = 1
        return ids, mask, types


def batches(n: int, settings: dict, lengths) -> list:
    """Row index lists of at most batch_size rows, in input order or sorted by token length."""
    order = sorted(range(n), key=lambda r: lengths[r]) if settings.get("sort") else list(range(n))
    size = settings["batch_size"]
    return [order[i : i + size] for i in range(0, n, size)]


def candidate_settings(args, max_rows: int, can_sort: bool) -> list:
    sizes = sorted({min(b, max_rows) for b in args.batch_sizes})
    sorts = [False, True] if can_sort and not args.no_sort else [False]
    return [{"batch_size": b, "sort": s} for s in sorts for b in sizes]


class OrtEngine:
    def __init__(self, name: str, path: Path, args, max_rows: int):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.name = name
        self.precision = "int8" if name == "ort-int8" else "fp32"
        self.task = args.task
        self.max_length = args.max_length
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = AutoTokenizer.from_pretrained(str(args.model), use_fast=True)
        if not self.tokenizer.is_fast:
            fail(f"{args.model} has no fast tokenizer (tokenizer.json)")
        self._candidates = candidate_settings(args, max_rows, can_sort=True)
        self.settings = self._candidates[0]
        self.path = path

    def candidates(self) -> list:
        return self._candidates

    def configure(self, settings: dict) -> None:
        self.settings = settings

    def run(self, item):
        import numpy as np

        tok = Tokenized(self.tokenizer, item, self.task, self.max_length)
        n = len(tok.ids)
        out = [None] * n
        for rows in batches(n, self.settings, [len(x) for x in tok.ids]):
            ids, mask, types = tok.batch(rows)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            (result,) = self.session.run(None, {k: v for k, v in feed.items() if k in self.input_names})
            if self.task == "rerank":
                values = result[:, 0]
            else:  # mean pooling over real tokens, then L2 normalisation, as sentence-transformers does
                weights = mask[:, :, None].astype(np.float32)
                pooled = (result * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
                values = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for i, r in enumerate(rows):
                out[r] = values[i]
        return np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        pass


class StEngine:
    def __init__(self, args, max_rows: int, name: str = "st"):
        import torch
        from sentence_transformers import CrossEncoder, SentenceTransformer

        self.name = name
        # st-bf16: PyTorch's CPU bf16 autocast around predict / encode, the weights left fp32
        self.bf16 = name == "st-bf16"
        self.precision = "bf16" if self.bf16 else "fp32"
        self.task = args.task
        if args.task == "rerank":
            self.model = CrossEncoder(str(args.model), max_length=args.max_length, device="cpu")
            self.identity = torch.nn.Identity()
            self.tokenizer = self.model.tokenizer
        else:
            self.model = SentenceTransformer(str(args.model), device="cpu")
            if self.model.max_seq_length != args.max_length:
                print(f"note: {args.model} has max_seq_length {self.model.max_seq_length}; "
                      f"set to {args.max_length}", flush=True)
                self.model.max_seq_length = args.max_length
        # CrossEncoder.predict batches in input order, so sorting is worth trying; SentenceTransformer.encode
        # already sorts texts by length internally
        self._candidates = candidate_settings(args, max_rows, can_sort=args.task == "rerank")
        self.settings = self._candidates[0]
        self.max_length = args.max_length

    def candidates(self) -> list:
        return self._candidates

    def configure(self, settings: dict) -> None:
        self.settings = settings

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)

    def run(self, item):
        with self._autocast():
            return self._run(item)

    def _run(self, item):
        import numpy as np

        if self.task == "embed":
            return np.asarray(self.model.encode(item["texts"], batch_size=self.settings["batch_size"],
                                                convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
        pairs = [(item["query"], p) for p in item["passages"]]
        if self.settings.get("sort"):
            # length in tokens, as the cross-encoder's tokenizer sees the pair
            lengths = [len(x) for x in self.tokenizer([item["query"]] * len(pairs), item["passages"],
                                                      truncation="longest_first", max_length=self.max_length,
                                                      return_attention_mask=False,
                                                      return_token_type_ids=False)["input_ids"]]
            order = sorted(range(len(pairs)), key=lambda r: lengths[r])
            scores = self.model.predict([pairs[r] for r in order], batch_size=self.settings["batch_size"],
                                        activation_fn=self.identity, convert_to_numpy=True,
                                        show_progress_bar=False)
            out = np.empty(len(pairs), dtype=np.float32)
            out[order] = scores
            return out
        return np.asarray(self.model.predict(pairs, batch_size=self.settings["batch_size"],
                                             activation_fn=self.identity, convert_to_numpy=True,
                                             show_progress_bar=False), dtype=np.float32)

    def close(self) -> None:
        pass


class TamisPyEngine:
    """The `tamis` Python package (PyO3), in this process, through its sentence-transformers API:
    tamis.CrossEncoder(dir, max_length, threads).predict(pairs, activation_fn=Identity()): raw logits, as `st`."""

    def __init__(self, args, name: str = "tamis-py"):
        import torch

        try:
            import tamis
        except ImportError as err:
            fail(f"tamis-py needs the tamis Python package in this venv ({err}): build its wheel with "
                 "`cd python && maturin build --release --out DIST` and pip install DIST/tamis-*.whl")
        self.name = name
        self.precision = "fp32"
        self.model = tamis.CrossEncoder(str(args.model), max_length=args.max_length, threads=args.threads,
                                        precision="fp32")
        if self.model.precision != "fp32":
            fail(f"tamis-py loaded with precision {self.model.precision}, expected fp32")
        self.identity = torch.nn.Identity()
        self.batch_size = args.tamis_py_batch_size
        # show_progress_bar=False: the package passes every pair of the call to the engine at once
        self.settings = {"batching": "internal"}
        self.module_file = tamis.__file__
        self.extension_file = getattr(getattr(tamis, "_tamis", None), "__file__", None)

    def candidates(self) -> list:
        return [self.settings]

    def configure(self, settings: dict) -> None:
        pass

    def run(self, item):
        import numpy as np

        pairs = [(item["query"], p) for p in item["passages"]]
        return np.asarray(self.model.predict(pairs, batch_size=self.batch_size, activation_fn=self.identity,
                                             convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)

    def close(self) -> None:
        pass


def flashrank_version():
    import importlib.metadata as md

    try:
        return md.version("flashrank")
    except md.PackageNotFoundError:
        return None


class FlashRankEngine:
    """FlashRank's Ranker on an ONNX export of the same cross-encoder, loaded from a local directory.

    FlashRank (0.2.10) has no option for a local model: Ranker(model_name, cache_dir) looks for
    cache_dir/model_name/ and downloads a zip from the Hugging Face Hub only when that directory is missing
    (Ranker._prepare_model_dir -> _download_model_files), and takes the ONNX file's name from
    flashrank.Config.model_file_map[model_name] (a KeyError for any name not in that dict). So this engine lays
    out a temporary cache directory (symlinks to the export and to the model's tokenizer files, plus the
    special_tokens_map.json that FlashRank reads and the model directory lacks) and adds the model's name to
    model_file_map at run time. FlashRank's own code runs unchanged: its tokenizer (truncation
    min(model_max_length, max_length), longest_first; padding to the longest pair of the request), one
    session.run for all the passages of a request, ONNX Runtime's default session options, and the sigmoid.

    Scores: FlashRank returns sigmoid(logit) as float32; run() gives them back as logits
    (log(s) - log(1 - s) in float64) so that nDCG and the other engines' columns compare alike. Near s = 1 a
    float32 sigmoid keeps few bits of the logit (spacing 6e-8 there: a logit of 10 comes back within ~1e-3), so
    its agreement is judged on the sigmoid scale (SIGMOID_TOLERANCE), where that rounding is at most 6e-8."""

    def __init__(self, args, machine: dict, name: str = "flashrank"):
        import flashrank.Config as flashrank_config
        from flashrank import Ranker

        self.name = name
        self.precision = "fp32"
        self.model_name = args.model.resolve().name
        self.cache = tempfile.TemporaryDirectory(prefix="peers-flashrank-")
        model_dir = Path(self.cache.name) / self.model_name
        model_dir.mkdir()
        onnx_name = "model.onnx"
        os.symlink(args.flashrank_path.resolve(), model_dir / onnx_name)
        needed = ("config.json", "tokenizer.json", "tokenizer_config.json")
        for file in needed + ("special_tokens_map.json", "vocab.txt"):
            if (args.model / file).is_file():
                os.symlink((args.model / file).resolve(), model_dir / file)
            elif file in needed:
                fail(f"flashrank needs {args.model / file}")
        tokenizer_config = json.loads((args.model / "tokenizer_config.json").read_text())
        if not (model_dir / "special_tokens_map.json").exists():
            tokens = {k: v for k, v in tokenizer_config.items()
                      if k in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                               "mask_token") and isinstance(v, (str, dict))}
            (model_dir / "special_tokens_map.json").write_text(json.dumps(tokens))
        if tokenizer_config.get("model_max_length", args.max_length) < args.max_length:
            print(f"warning: flashrank truncates at the tokenizer's model_max_length "
                  f"{tokenizer_config['model_max_length']} < --max-length {args.max_length}", file=sys.stderr)
        flashrank_config.model_file_map[self.model_name] = onnx_name
        self.ranker = Ranker(model_name=self.model_name, cache_dir=self.cache.name, max_length=args.max_length,
                             log_level="WARNING")
        from flashrank import RerankRequest

        self.request_class = RerankRequest
        options = self.ranker.session.get_session_options()
        # FlashRank makes its InferenceSession with default options: intra-op threads 0 = ONNX Runtime's default,
        # one per physical core. It cannot be told a thread count, so it matches --threads only where that is
        # the number of physical cores.
        cores = machine.get("cores")
        self.threads_note = (f"ONNX Runtime default intra-op threads (one per physical core: {cores})"
                             if options.intra_op_num_threads == 0 else f"{options.intra_op_num_threads}")
        if options.intra_op_num_threads == 0 and cores != args.threads:
            print(f"warning: flashrank runs ONNX Runtime's default thread count (one per physical core, {cores}), "
                  f"not --threads {args.threads}: its timings are not at the same thread count", file=sys.stderr)
        truncation = self.ranker.tokenizer.truncation or {}
        self.settings = {"batching": "1 run/query"}
        self.details = {
            "flashrank_version": flashrank_version(),
            "onnx_file": str(args.flashrank_path.resolve()),
            "session": {"intra_op_num_threads": options.intra_op_num_threads,
                        "inter_op_num_threads": options.inter_op_num_threads,
                        "graph_optimization_level": str(options.graph_optimization_level),
                        "execution_mode": str(options.execution_mode),
                        "providers": self.ranker.session.get_providers(), "threads": self.threads_note},
            "truncation": truncation, "padding": self.ranker.tokenizer.padding,
            "scores": "sigmoid(logit), float32; converted back to logits for the table",
        }
        if truncation.get("max_length") != args.max_length:
            print(f"warning: flashrank truncates at {truncation.get('max_length')}, not {args.max_length}",
                  file=sys.stderr)

    def candidates(self) -> list:
        return [self.settings]

    def configure(self, settings: dict) -> None:
        pass

    def run(self, item):
        import numpy as np

        request = self.request_class(query=item["query"],
                                     passages=[{"id": i, "text": p} for i, p in enumerate(item["passages"])])
        ranked = self.ranker.rerank(request)
        sigmoid = np.empty(len(ranked), dtype=np.float64)
        for passage in ranked:
            sigmoid[passage["id"]] = passage["score"]
        with np.errstate(divide="ignore"):
            return (np.log(sigmoid) - np.log1p(-sigmoid)).astype(np.float32)

    def close(self) -> None:
        self.cache.cleanup()


# ---------------------------------------------------------------------------------------------------------


def describe(settings: dict) -> str:
    if "batch_size" not in settings:
        return ", ".join(f"{k} {v}" for k, v in settings.items())
    return f"batch {settings['batch_size']}" + (", length-sorted" if settings.get("sort") else "")


def pause(args) -> None:
    import gc

    gc.collect()
    time.sleep(args.pause_ms / 1000.0)


def calibrate(engine, items: list, args) -> list:
    """Time each candidate setting on a few workload lines; keep the fastest. Not part of the results."""
    candidates = engine.candidates()
    if len(candidates) == 1 or args.calibrate == 0:
        engine.configure(candidates[0])
        return []
    step = max(1, len(items) // args.calibrate)
    sample = items[::step][: args.calibrate]
    best = {i: float("inf") for i in range(len(candidates))}
    for _ in range(args.calibrate_reps):
        for i, settings in enumerate(candidates):
            engine.configure(settings)
            started = time.perf_counter()
            for item in sample:
                engine.run(item)
            best[i] = min(best[i], time.perf_counter() - started)
    winner = min(best, key=best.get)
    engine.configure(candidates[winner])
    return [{"settings": candidates[i], "secs": round(best[i], 4)} for i in range(len(candidates))]


def percentile(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu_model"] = fields.get("Model name")
        info["cpus"] = fields.get("CPU(s)")
        sockets = int(fields.get("Socket(s)", "1") or 1)
        cores = int(fields.get("Core(s) per socket", "0") or 0)
        info["cores"] = sockets * cores or None
        info["threads_per_core"] = fields.get("Thread(s) per core")
        flags = set(fields.get("Flags", "").split())
        info["simd"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma")) or f in ("f16c",))
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                info["mem_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def versions(args) -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("onnxruntime", "torch", "sentence-transformers", "transformers", "tokenizers", "numpy", "onnx"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    for pkg, key in (("tamis", "tamis (python package)"), ("flashrank", "flashrank")):
        if pkg in args.engines or (pkg == "tamis" and "tamis-py" in args.engines):
            try:
                out[key] = md.version(pkg)
            except md.PackageNotFoundError:
                out[key] = None
    if any(e in TAMIS_ENGINES for e in args.engines):
        try:
            res = subprocess.run([str(args.tamis), "--version"], capture_output=True, text=True, timeout=30)
            out["tamis"] = res.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            out["tamis"] = None
    return out


def onnx_export_info(args) -> dict:
    """export.json written by export_onnx.py beside the ONNX files (fusions, int8 options, versions)."""
    paths = getattr(args, "onnx_paths", {})
    if not paths:
        return {}
    meta = next(iter(paths.values())).parent / "export.json"
    try:
        return json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def read_qrels(path: Path) -> dict:
    qrels = {}
    for n, line in enumerate(path.open(encoding="utf-8")):
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 3 or (n == 0 and parts[0] == "query-id"):
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
    return qrels


def ndcg_at_10(scores, doc_ids: list, judged: dict) -> float:
    """nDCG@10 as trec_eval computes it: gain = relevance grade, discount log2(rank + 1), ties broken by
    descending doc id, ideal ranking from every judged relevant document of the query."""
    import math

    ranked = sorted(zip(doc_ids, (float(s) for s in scores)), key=lambda x: x[0], reverse=True)
    ranked.sort(key=lambda x: x[1], reverse=True)
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, (d, _) in enumerate(ranked[:10]) if judged.get(d, 0) > 0)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def agreement(task: str, outputs: list, reference: list) -> float:
    import numpy as np

    if task == "rerank":
        return max(float(np.max(np.abs(o - r))) for o, r in zip(outputs, reference))
    worst = 1.0
    for o, r in zip(outputs, reference):
        cos = (o * r).sum(axis=1) / (np.linalg.norm(o, axis=1) * np.linalg.norm(r, axis=1))
        worst = min(worst, float(cos.min()))
    return worst


def sigmoid_agreement(outputs: list, reference: list) -> float:
    """max |sigmoid(logit) - sigmoid(reference logit)|, in float64."""
    import numpy as np

    def sig(x):
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))

    return max(float(np.max(np.abs(sig(o) - sig(r)))) for o, r in zip(outputs, reference))


def check_shape(engine_name: str, task: str, item: dict, out, ref_dim=None) -> None:
    n = len(item["passages"] if task == "rerank" else item["texts"])
    if task == "rerank" and out.shape != (n,):
        fail(f"{engine_name} returned {out.shape[0] if out.ndim else 'no'} scores for {n} passages")
    if task == "embed" and (out.ndim != 2 or out.shape[0] != n or (ref_dim and out.shape[1] != ref_dim)):
        fail(f"{engine_name} returned vectors of shape {out.shape} for {n} texts (dimension {ref_dim})")


def main() -> None:
    args = parse_args()
    check_inputs(args)
    set_thread_env(args.threads)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    items = load_workload(args)
    max_rows = max(len(it["passages"] if args.task == "rerank" else it["texts"]) for it in items)
    unit = "pairs" if args.task == "rerank" else "docs"
    n_rows = sum(len(it["passages"] if args.task == "rerank" else it["texts"]) for it in items)
    print(f"{args.task}: {len(items)} workload lines, {n_rows} {unit}, threads {args.threads}, "
          f"rounds {args.rounds}, block {args.block}, engines {','.join(args.engines)}", flush=True)

    qrels = None
    if args.task == "rerank" and args.qrels is not None:
        if not all("doc_ids" in it for it in items):
            fail("--qrels needs doc_ids in the workload (rebuild it with rerank_workload.py)")
        qrels = read_qrels(args.qrels)

    # --- load every engine (not timed)
    engines = []
    for name in args.engines:
        started = time.perf_counter()
        if name in TAMIS_ENGINES:
            engine = TamisEngine(args, name)
        elif name in ONNX_FILES:
            engine = OrtEngine(name, args.onnx_paths[name], args, max_rows)
        elif name == "tamis-py":
            engine = TamisPyEngine(args, name)
        elif name == "flashrank":
            engine = FlashRankEngine(args, machine_info(), name)
        else:
            engine = StEngine(args, max_rows, name=name)
        print(f"loaded {name} in {time.perf_counter() - started:.1f} s", flush=True)
        engines.append(engine)

    # --- warm-up, then calibration of each engine's settings (not timed)
    calibration = {}
    for engine in engines:
        out = engine.run(items[0])
        check_shape(engine.name, args.task, items[0], out)
        if len(engine.candidates()) > 1 and args.calibrate > 0:
            print(f"calibrating {engine.name}: {len(engine.candidates())} settings on "
                  f"{min(args.calibrate, len(items))} lines ...", flush=True)
        calibration[engine.name] = calibrate(engine, items, args)
        engine.run(items[0])  # warm-up with the chosen settings
        print(f"  {engine.name}: {describe(engine.settings)}", flush=True)
        pause(args)

    # --- timed rounds, alternating engines block by block
    secs = {e.name: [] for e in engines}
    first_outputs = {e.name: [None] * len(items) for e in engines}
    n_blocks = (len(items) + args.block - 1) // args.block
    turn = 0
    wall_started = time.perf_counter()
    for round_idx in range(args.rounds):
        for block_idx in range(n_blocks):
            block = range(block_idx * args.block, min(len(items), (block_idx + 1) * args.block))
            shift = turn % len(engines)
            for engine in engines[shift:] + engines[:shift]:
                pause(args)
                for i in block:
                    started = time.perf_counter()
                    out = engine.run(items[i])
                    secs[engine.name].append(time.perf_counter() - started)
                    if round_idx == 0:
                        first_outputs[engine.name][i] = out
            turn += 1
            done = block.stop + round_idx * len(items)
            print(f"\r  {done}/{len(items) * args.rounds} lines, {time.perf_counter() - wall_started:.0f} s",
                  end="", flush=True)
    print(flush=True)
    for engine in engines:
        engine.close()

    # --- reference: sentence-transformers fp32 (its timed outputs if st ran, else computed now, untimed)
    if "st" in first_outputs:
        reference = first_outputs["st"]
        st_settings = next(e.settings for e in engines if e.name == "st")
        reference_note = f"sentence-transformers fp32 (the st engine's first-round outputs, {describe(st_settings)})"
    else:
        print("computing the sentence-transformers fp32 reference (untimed) ...", flush=True)
        st = StEngine(args, max_rows, name="reference")
        st.configure({"batch_size": 32, "sort": False})
        reference = [st.run(it) for it in items]
        reference_note = "sentence-transformers fp32 (batch 32, computed outside the timed runs)"
    ref_dim = reference[0].shape[1] if args.task == "embed" else None
    for engine in engines:
        for item, out in zip(items, first_outputs[engine.name]):
            check_shape(engine.name, args.task, item, out, ref_dim)

    # --- results
    results = {}
    tamis_rate = None
    for engine in engines:
        total = sum(secs[engine.name])
        rate = n_rows * args.rounds / total
        if engine.name == "tamis":
            tamis_rate = rate
        per_line_ms = [s * 1000 for s in secs[engine.name]]
        agree = agreement(args.task, first_outputs[engine.name], reference)
        sigmoid_agree = (sigmoid_agreement(first_outputs[engine.name], reference) if args.task == "rerank"
                         else None)
        if isinstance(engine, FlashRankEngine):  # its scores are float32 sigmoids: judged on that scale
            flagged = sigmoid_agree > SIGMOID_TOLERANCE
        else:
            flagged = engine.precision == "fp32" and (agree > RERANK_TOLERANCE if args.task == "rerank"
                                                      else agree < EMBED_TOLERANCE)
        res = {"precision": engine.precision, "settings": engine.settings, "calibration": calibration[engine.name],
               "total_s": round(total, 4), "calls": len(per_line_ms), f"{unit}_per_s": round(rate, 2),
               "p50_ms": round(percentile(per_line_ms, 50), 2), "p95_ms": round(percentile(per_line_ms, 95), 2),
               "mean_ms": round(float(np.mean(per_line_ms)), 2), "flagged": flagged, "total_s_exact": total}
        res["max_abs_logit_diff" if args.task == "rerank" else "min_cosine"] = agree
        if sigmoid_agree is not None:
            res["max_abs_sigmoid_diff"] = sigmoid_agree
        if isinstance(engine, TamisPyEngine):
            res["module"] = engine.module_file
            res["extension"] = engine.extension_file
            res["predict_batch_size"] = engine.batch_size
        if isinstance(engine, FlashRankEngine):
            res["flashrank"] = engine.details
        if isinstance(engine, TamisEngine):
            res["ready_line"] = engine.ready
            res["json_parse_p50_ms"] = round(percentile([s * 1000 for s in engine.parse_secs], 50), 3)
        if qrels is not None:
            scored = [ndcg_at_10(out, it["doc_ids"], qrels[it["query_id"]])
                      for it, out in zip(items, first_outputs[engine.name]) if it["query_id"] in qrels]
            res["ndcg@10"] = round(float(np.mean(scored)), 4) if scored else None
        results[engine.name] = res
    if tamis_rate is not None:
        for name, res in results.items():
            rate = n_rows * args.rounds / res["total_s_exact"]
            res["tamis_over_engine"] = round(tamis_rate / rate, 3)
            res["engine_over_tamis"] = round(rate / tamis_rate, 3)
    ratios = {}
    if "tamis-py" in results:
        py_secs = results["tamis-py"]["total_s_exact"]
        for name in ("tamis", "st", "flashrank", "ort", "ort-opt"):
            if name in results:
                # above 1: tamis-py is faster (ratio of rates = inverse ratio of total times, same work)
                ratios[f"tamis-py / {name}"] = round(results[name]["total_s_exact"] / py_secs, 4)
        if "tamis" in results:
            ratios["tamis-py time over tamis time, %"] = round(
                100 * (py_secs / results["tamis"]["total_s_exact"] - 1), 2)
    for res in results.values():
        del res["total_s_exact"]
    pairwise = {}
    if args.task == "rerank":
        names = [e.name for e in engines]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                pairwise[f"{a} vs {b}"] = {
                    "max_abs_logit_diff": agreement("rerank", first_outputs[a], first_outputs[b]),
                    "max_abs_sigmoid_diff": sigmoid_agreement(first_outputs[a], first_outputs[b])}

    extra = {}
    if qrels is not None:
        stage1 = [ndcg_at_10([-r for r in range(len(it["doc_ids"]))], it["doc_ids"], qrels[it["query_id"]])
                  for it in items if it["query_id"] in qrels]
        reference_ndcg = [ndcg_at_10(out, it["doc_ids"], qrels[it["query_id"]])
                          for it, out in zip(items, reference) if it["query_id"] in qrels]
        extra = {"ndcg@10_stage1_run_order": round(float(np.mean(stage1)), 4) if stage1 else None,
                 "ndcg@10_reference": round(float(np.mean(reference_ndcg)), 4) if reference_ndcg else None,
                 "ndcg_queries": len(stage1)}

    report = {"task": args.task, "workload": str(args.workload), "lines": len(items), unit: n_rows,
              "model": str(args.model.resolve()), "threads": args.threads, "rounds": args.rounds, "block": args.block,
              "max_length": args.max_length, "engine_order": args.engines, "pause_ms": args.pause_ms,
              "reference": reference_note, "machine": machine_info(), "versions": versions(args),
              "onnx_files": {k: str(v) for k, v in getattr(args, "onnx_paths", {}).items()},
              "onnx_export": onnx_export_info(args),
              "engines": results, "ratios": ratios, "pairwise": pairwise, **extra}
    print_table(report, unit)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    if any(r["flagged"] for r in results.values()):
        sys.exit(3)


def print_table(report: dict, unit: str) -> None:
    task = report["task"]
    per_what = "query" if task == "rerank" else "block"
    machine, vers = report["machine"], report["versions"]
    print()
    print(f"machine: {machine.get('cpu_model')}, {machine.get('cores')} cores, nproc {machine.get('nproc')}, "
          f"{machine.get('mem_gib')} GiB")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v))
    print(f"{task}: {report['lines']} lines x {report['rounds']} round(s), {report[unit]} {unit} per round, "
          f"threads {report['threads']}, block {report['block']}, max_length {report['max_length']}")
    agree_head = "max|dlogit|" if task == "rerank" else "min cos"
    has_ndcg = any("ndcg@10" in r for r in report["engines"].values())
    has_tamis = "tamis" in report["engines"]
    width = max([9] + [len(name) for name in report["engines"]])
    head = (f"{'engine':<{width}} {'prec':<5} {'settings':<22} {unit + '/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'vs tamis':>9} {agree_head:>11}" + (f" {'nDCG@10':>8}" if has_ndcg else ""))
    print(f"(p50/p95: wall time per {per_what}; vs tamis: engine {unit}/s / tamis {unit}/s)")
    print(head)
    print("-" * len(head))
    for name, res in report["engines"].items():
        agree = res["max_abs_logit_diff" if task == "rerank" else "min_cosine"]
        agree_text = f"{agree:.2e}" if task == "rerank" else f"{agree:.6f}"
        line = (f"{name:<{width}} {res['precision']:<5} {describe(res['settings']):<22} {res[unit + '_per_s']:>9.1f} "
                f"{res['p50_ms']:>8.1f} {res['p95_ms']:>8.1f} "
                f"{(str(res['engine_over_tamis']) + 'x') if has_tamis else '-':>9} {agree_text:>11}")
        if has_ndcg:
            line += f" {res.get('ndcg@10', float('nan')):>8.4f}"
        print(line + ("   <-- FLAGGED" if res["flagged"] else ""))
    if has_ndcg:
        print(f"nDCG@10 of the run order (stage 1): {report.get('ndcg@10_stage1_run_order')}; "
              f"of the reference: {report.get('ndcg@10_reference')} ({report.get('ndcg_queries')} queries)")
    print(f"reference for score agreement: {report['reference']}")
    if has_tamis:
        print()
        for name, res in report["engines"].items():
            if name != "tamis":
                print(f"tamis / {name} = {res['tamis_over_engine']:.2f}x")
        print(f"(tamis times include writing the request and reading + parsing the JSON answer: "
              f"parse p50 {report['engines']['tamis']['json_parse_p50_ms']} ms)")
    engines = report["engines"]
    if report.get("ratios"):
        print()
        for key, value in report["ratios"].items():
            if key.endswith("%"):
                print(f"{key}: {value:+.2f} % (the Python package's overhead over the CLI worker; negative: faster)")
            else:
                print(f"{key} = {value:.3f}x")
    if report.get("pairwise"):
        print("max |dlogit| (max |dsigmoid|) between engines:")
        for key, value in report["pairwise"].items():
            print(f"  {key}: {value['max_abs_logit_diff']:.2e} ({value['max_abs_sigmoid_diff']:.2e})")
    if "flashrank" in engines:
        fr = engines["flashrank"]
        print(f"flashrank: scores are float32 sigmoids, judged on that scale: max |dsigmoid| vs reference "
              f"{fr['max_abs_sigmoid_diff']:.2e} (limit {SIGMOID_TOLERANCE:.1e}); truncation "
              f"{fr['flashrank']['truncation']}; threads: {fr['flashrank']['session']['threads']}")
    # Precision modes' own comparisons: tamis' approximate modes against its fp32 and the
    # other approximate engines.
    for mode in ("tamis-int8", "tamis-bf16"):
        if mode not in engines:
            continue
        for name in ("tamis", "ort-int8", "st-bf16"):
            if name in engines:
                ratio = engines[mode][unit + "_per_s"] / engines[name][unit + "_per_s"]
                print(f"{mode} / {name} = {ratio:.2f}x")
    for name, res in report["engines"].items():
        if res["flagged"]:
            limit = (f"max |logit - reference| > {RERANK_TOLERANCE}" if task == "rerank"
                     else f"min cosine to reference < {EMBED_TOLERANCE}")
            if name == "flashrank":
                limit = f"max |sigmoid - sigmoid(reference)| > {SIGMOID_TOLERANCE}"
            print(f"\n!!!!!!!! WARNING: {name} ({res['precision']}) DISAGREES WITH THE REFERENCE: {limit} !!!!!!!!",
                  file=sys.stderr)


if __name__ == "__main__":
    main()
