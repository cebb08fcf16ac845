"""Side-by-side CPU benchmark of tamis' LLM rerankers (Qwen3-Reranker, mxbai-rerank-v2) against PyTorch.

Usage:
    python llm_bench.py --tamis BIN [--qwen3-model DIR] [--mxbai-model DIR] [--dataset DIR]
        [--queries 8] [--docs 20] [--doc-tokens 250] [--threads 2] [--engines ...] [--rounds 1] [--block 2]
        [--json OUT.json] [--workload-out W.jsonl | --workload W.jsonl]
    python llm_bench.py --rss-only ENGINE ...      (internal: one engine's peak RSS in a fresh process)

Workload: --queries NFCorpus test queries (seeded sample of those with a relevant document), each with --docs
candidates: up to half its judged-relevant documents, the rest random corpus documents at least --doc-tokens long,
shuffled; every document ("title text") cut to --doc-tokens tokens of the models' tokenizer.

Engines (every one on --threads threads, fp32 compute unless named -int8, -bf16 or -bf16x3; the models are bf16 files):
    tamis-qwen3            tamis bench rerank --reranker-kind qwen3 --precision fp32 --stdio, on the Qwen3 model
    tamis-qwen3-noshare    the same with --no-prefix-sharing
    tamis-qwen3-int8       the same with --precision int8 (approximate: its logit difference is reported, not flagged)
    tamis-qwen3-bf16       the same with --precision bf16 (bf16 products, fp32 sums; approximate, reported)
    tamis-qwen3-bf16x3     the same with --precision bf16x3 (each product split into bf16 parts, to fp32's
                           tolerance: held to --tolerance like fp32)
    hf-qwen3-card          the Qwen3-Reranker model card's transformers code, verbatim, fp32 (batch calibrated)
    hf-qwen3-lastpos       the card's prompt ids, logits_to_keep=1, length-sorted batches (batch calibrated)
    hf-qwen3-lastpos-bf16  the same on the model loaded in torch.bfloat16 (PyTorch's bf16 CPU path, oneDNN)
    tamis-mxbai            tamis bench rerank --reranker-kind mxbai-v2 --precision fp32 --stdio, on the mxbai model
    tamis-mxbai-noshare    the same with --no-prefix-sharing
    tamis-mxbai-int8       the same with --precision int8
    tamis-mxbai-bf16       the same with --precision bf16
    tamis-mxbai-bf16x3     the same with --precision bf16x3
    hf-mxbai               mxbai_rerank.MxbaiRerankV2(dir, device="cpu", max_length=8192).rank(...) (batch calibrated)

The engines of one model form a phase: they are loaded together, warmed up, calibrated, then timed on the
workload in blocks of --block queries, the engine order rotating from block to block (as bench.py does); then
they are closed and the next model's phase starts (so that at most one model's engines are in memory).
Wall clock (perf_counter) around one query's whole call, tokenisation included. Peak RSS: each engine again in a
fresh process (--rss-only), after the timed phases. Score agreement: max |logit - reference| per engine, the
reference being PyTorch fp32 on the same model (hf-qwen3-lastpos / hf-mxbai). See README.md.
"""
import argparse
import gc
import json
import os
import random
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
from bench import fail, pause, percentile  # noqa: E402

ALL_ENGINES = ["tamis-qwen3", "tamis-qwen3-noshare", "tamis-qwen3-int8", "tamis-qwen3-bf16", "tamis-qwen3-bf16x3",
               "hf-qwen3-card", "hf-qwen3-lastpos", "hf-qwen3-lastpos-bf16",
               "tamis-mxbai", "tamis-mxbai-noshare", "tamis-mxbai-int8", "tamis-mxbai-bf16", "tamis-mxbai-bf16x3",
               "hf-mxbai"]
MODEL_OF = {e: ("qwen3" if "qwen3" in e else "mxbai") for e in ALL_ENGINES}
TAMIS_KIND = {"qwen3": "qwen3", "mxbai": "mxbai-v2"}
REFERENCE_ENGINE = {"qwen3": "hf-qwen3-lastpos", "mxbai": "hf-mxbai"}
RATIOS = [("tamis-qwen3", "hf-qwen3-card"), ("tamis-qwen3", "hf-qwen3-lastpos"), ("tamis-mxbai", "hf-mxbai"),
          ("tamis-qwen3-int8", "hf-qwen3-card"), ("tamis-qwen3-int8", "hf-qwen3-lastpos"),
          ("tamis-qwen3-int8", "tamis-qwen3"), ("tamis-mxbai-int8", "hf-mxbai"), ("tamis-mxbai-int8", "tamis-mxbai"),
          ("tamis-qwen3-bf16", "hf-qwen3-lastpos"), ("tamis-qwen3-bf16", "hf-qwen3-lastpos-bf16"),
          ("tamis-qwen3-bf16", "tamis-qwen3"), ("hf-qwen3-lastpos-bf16", "hf-qwen3-lastpos"),
          ("tamis-mxbai-bf16", "hf-mxbai"), ("tamis-mxbai-bf16", "tamis-mxbai"),
          ("tamis-qwen3-bf16x3", "hf-qwen3-lastpos"), ("tamis-qwen3-bf16x3", "hf-qwen3-lastpos-bf16"),
          ("tamis-qwen3-bf16x3", "tamis-qwen3"), ("tamis-mxbai-bf16x3", "hf-mxbai"),
          ("tamis-mxbai-bf16x3", "tamis-mxbai")]
DEFAULT_MODELS = {"qwen3": REPO / "target" / "llm-models" / "qwen3-reranker-0.6b-random",
                  "mxbai": REPO / "target" / "llm-models" / "mxbai-rerank-base-v2-random"}
DEFAULT_TAMIS_CMD = "{tamis} bench rerank --model {model} --reranker-kind {kind} --threads {threads} --stdio"
NOSHARE_FLAG = "--no-prefix-sharing"
PRECISION_FLAGS = {"int8": ["--precision", "int8"], "bf16": ["--precision", "bf16"],
                   "bf16x3": ["--precision", "bf16x3"], "fp32": ["--precision", "fp32"]}
TOLERANCE = 1e-3  # max |logit - reference| allowed (for the engines that compute in fp32)

# The Qwen3-Reranker card's strings (memo 2.1); the card code below checks its own copies against these.
QWEN3_PREFIX = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n"  # noqa: E501
QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
QWEN3_DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


def default_dataset() -> Path:
    shared = os.environ.get("TAMIS_SHARED_DIR")
    return (Path(shared) if shared else REPO.parent / "shared") / "datasets" / "nfcorpus"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tamis", type=Path, help="the tamis binary; needed for the tamis-* engines")
    p.add_argument("--tamis-cmd", default=DEFAULT_TAMIS_CMD,
                   help="command template of a tamis worker; placeholders {tamis} {model} {kind} {threads}; "
                        f"the -noshare engines get {NOSHARE_FLAG} appended (default: %(default)s)")
    p.add_argument("--qwen3-model", type=Path, default=DEFAULT_MODELS["qwen3"],
                   help="Qwen3-Reranker-shaped model directory (default: %(default)s, built by llm_models.py)")
    p.add_argument("--mxbai-model", type=Path, default=DEFAULT_MODELS["mxbai"],
                   help="mxbai-rerank-v2-shaped model directory (default: %(default)s)")
    p.add_argument("--dataset", type=Path, default=default_dataset(),
                   help="BEIR dataset directory (default: $TAMIS_SHARED_DIR or ../shared, datasets/nfcorpus)")
    p.add_argument("--split", default="test", help="qrels split the queries come from (default test)")
    p.add_argument("--queries", type=int, default=8, help="queries in the workload (default 8)")
    p.add_argument("--docs", type=int, default=20, help="candidate documents per query (default 20)")
    p.add_argument("--doc-tokens", type=int, default=250,
                   help="documents are cut to this many tokens of the models' tokenizer (default 250)")
    p.add_argument("--seed", type=int, default=0, help="workload sampling seed (default 0)")
    p.add_argument("--workload", type=Path, help="read the workload from this JSONL instead of building it")
    p.add_argument("--workload-out", type=Path, help="write the built workload here (JSONL)")
    p.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    p.add_argument("--engines", default=",".join(ALL_ENGINES), help="comma-separated, from: " + ",".join(ALL_ENGINES))
    p.add_argument("--rounds", type=int, default=1, help="passes over the workload (default 1)")
    p.add_argument("--block", type=int, default=2, help="queries per engine turn (default 2)")
    p.add_argument("--max-length", type=int, default=8192,
                   help="max_length of the card code and of MxbaiRerankV2 (default 8192, both references' default)")
    p.add_argument("--batch-sizes", default="1,2,4,5,10,20",
                   help="candidate batch sizes of the PyTorch engines (default 1,2,4,5,10,20; one value fixes it)")
    p.add_argument("--calibrate", type=int, default=1,
                   help="queries used to calibrate the batch size (default 1; 0 = the first batch size)")
    p.add_argument("--calibrate-reps", type=int, default=1, help="timings per candidate, fastest kept (default 1)")
    p.add_argument("--pause-ms", type=float, default=20.0, help="untimed idle time between engine turns (default 20)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help="max |logit - reference| before an engine is flagged (default %(default)s)")
    p.add_argument("--no-reference", action="store_true",
                   help="no untimed PyTorch reference for a model whose PyTorch engine is not in --engines")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS processes")
    p.add_argument("--rss-queries", type=int, default=2, help="queries each --rss-only process runs (default 2)")
    p.add_argument("--rss-only", metavar="ENGINE", help=argparse.SUPPRESS)
    p.add_argument("--rss-settings", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--ready-timeout", type=float, default=600.0, help="seconds to wait for tamis' ready line")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args()

    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.rss_only:
        args.engines = [args.rss_only]
    unknown = [e for e in args.engines if e not in ALL_ENGINES]
    if unknown or not args.engines:
        p.error(f"unknown engine(s) {unknown}; choose from {','.join(ALL_ENGINES)}")
    if len(set(args.engines)) != len(args.engines):
        p.error("an engine is named twice in --engines")
    try:
        args.batch_sizes = sorted({int(b) for b in args.batch_sizes.split(",") if b.strip()})
    except ValueError:
        p.error("--batch-sizes takes comma-separated integers")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        p.error("--batch-sizes needs positive integers")
    for name in ("threads", "rounds", "block", "queries", "docs", "doc_tokens"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.models = {"qwen3": args.qwen3_model, "mxbai": args.mxbai_model}
    return args


def check_inputs(args) -> None:
    for key in sorted({MODEL_OF[e] for e in args.engines}):
        d = args.models[key]
        if not (d / "config.json").is_file() or not (d / "tokenizer.json").is_file():
            fail(f"model directory {d} not found or incomplete (config.json, tokenizer.json); "
                 f"build it with python scripts/bench/peers/llm_models.py")
    if any(e.startswith("tamis") for e in args.engines):
        if args.tamis is None:
            fail("--tamis BIN is needed for the tamis engines (or leave them out of --engines)")
        resolved = shutil.which(str(args.tamis))
        if resolved is None:
            fail(f"tamis binary {args.tamis} not found or not executable (build it: cargo build --release)")
        args.tamis = Path(resolved)
    if args.workload is not None:
        if not args.workload.is_file():
            fail(f"workload {args.workload} not found")
    else:
        for f in ("queries.jsonl", "corpus.jsonl", f"qrels/{args.split}.tsv"):
            if not (args.dataset / f).is_file():
                fail(f"dataset file {args.dataset / f} not found (--dataset)")


# ---------------------------------------------------------------------------------------------------------
# Workload


def read_jsonl(path: Path):
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def build_workload(args, tok) -> list:
    """Seeded: queries with a relevant document, each with up to docs/2 judged-relevant documents (highest grade
    first) plus random corpus documents that reach --doc-tokens, shuffled; every document cut to --doc-tokens."""
    queries = {q["_id"]: q["text"] for q in read_jsonl(args.dataset / "queries.jsonl")}
    corpus = {}
    for d in read_jsonl(args.dataset / "corpus.jsonl"):
        corpus[d["_id"]] = (d.get("title", "") + " " + d.get("text", "")).strip()
    qrels = {}
    for n, line in enumerate((args.dataset / "qrels" / f"{args.split}.tsv").open(encoding="utf-8")):
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 3 or (n == 0 and parts[0] == "query-id"):
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
    ids = sorted(corpus)
    lengths = dict(zip(ids, (len(e.ids) for e in tok.encode_batch([corpus[i] for i in ids], add_special_tokens=False))))
    long_ids = [i for i in ids if lengths[i] >= args.doc_tokens]
    qids = sorted(q for q, j in qrels.items() if q in queries and any(g > 0 and d in corpus for d, g in j.items()))
    if len(qids) < args.queries:
        fail(f"only {len(qids)} {args.split} queries have a relevant document in the corpus")
    rng = random.Random(args.seed)
    items = []
    for qid in rng.sample(qids, args.queries):
        judged = sorted(((d, g) for d, g in qrels[qid].items() if g > 0 and d in corpus), key=lambda x: (-x[1], x[0]))
        chosen = [d for d, _ in judged[: args.docs // 2]]
        pool = [d for d in long_ids if d not in qrels[qid]]
        chosen += rng.sample(pool, args.docs - len(chosen))
        rng.shuffle(chosen)
        items.append({"query_id": qid, "query": queries[qid], "doc_ids": chosen,
                      "relevant": sum(1 for d in chosen if qrels[qid].get(d, 0) > 0),
                      "passages": [cut(tok, corpus[d], args.doc_tokens) for d in chosen]})
    return items


def cut(tok, text: str, n: int) -> str:
    """`text` up to the end of its n-th token (so about n tokens when re-tokenised, alone or after a prompt)."""
    enc = tok.encode(text, add_special_tokens=False)
    if len(enc.ids) <= n:
        return text
    return text[: enc.offsets[n - 1][1]]


def describe(settings: dict) -> str:
    if "prefix sharing" in settings:
        return f"prefix sharing {settings['prefix sharing']}"
    return bench.describe(settings).replace("length-sorted", "sorted")


def stats(values) -> dict:
    return {"min": min(values), "mean": round(sum(values) / len(values), 1), "max": max(values)}


def token_stats(items: list, tok, keys) -> dict:
    """Prompt token counts per model: the part before the document (shared by a query's pairs), the document
    part, the part after it; whole prompts per query; and what remains when the prefix is computed once."""
    from mxbai_rerank import MxbaiRerankV2

    def n(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    out = {"document_only": stats([n(p) for it in items for p in it["passages"]])}
    for key in keys:
        if key == "qwen3":
            fixed_pre, suffix = n(QWEN3_PREFIX), n(QWEN3_SUFFIX)
            prefix = [fixed_pre + n(f"<Instruct>: {QWEN3_DEFAULT_INSTRUCTION}\n<Query>: {it['query']}\n") for it in items]
            doc = [[n(f"<Document>: {p}") for p in it["passages"]] for it in items]
        else:
            m = MxbaiRerankV2
            fixed_pre = n(m.chat_template["prefix"])
            suffix = n(m.sep) + n(m.task_prompt) + n(m.chat_template["suffix"])
            prefix = [fixed_pre + n(m.query_prompt.format(query=it["query"])) + n(m.sep) for it in items]
            doc = [[n(m.doc_prompt.format(document=p)) for p in it["passages"]] for it in items]
        whole = [sum(pre + d + suffix for d in ds) for pre, ds in zip(prefix, doc)]
        shared = [pre + sum(d + suffix for d in ds) for pre, ds in zip(prefix, doc)]
        out[key] = {"prefix": stats(prefix), "document": stats([d for ds in doc for d in ds]), "suffix": suffix,
                    "pair": stats([pre + d + suffix for pre, ds in zip(prefix, doc) for d in ds]),
                    "per_query_all_prompts": stats(whole), "per_query_prefix_once": stats(shared),
                    "total_prompt_tokens": sum(whole)}
    return out


# ---------------------------------------------------------------------------------------------------------
# Qwen3-Reranker reference: the model card's code (memo 2.1-2.3), verbatim except that the tokenizer, model and
# max_length are arguments instead of globals (copied from scripts/parity/generate_llm_rerankers.py).


def qwen3_card(tokenizer, model, max_length):
    import torch

    token_false_id = tokenizer.convert_tokens_to_ids("no")
    token_true_id = tokenizer.convert_tokens_to_ids("yes")

    def format_instruction(instruction, query, doc):
        if instruction is None:
            instruction = 'Given a web search query, retrieve relevant passages that answer the query'
        output = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}".format(instruction=instruction,query=query, doc=doc)  # noqa: E231,E501
        return output

    def process_inputs(pairs):
        inputs = tokenizer(
            pairs, padding=False, truncation='longest_first',
            return_attention_mask=False, max_length=max_length - len(prefix_tokens) - len(suffix_tokens)
        )
        for i, ele in enumerate(inputs['input_ids']):
            inputs['input_ids'][i] = prefix_tokens + ele + suffix_tokens
        inputs = tokenizer.pad(inputs, padding=True, return_tensors="pt", max_length=max_length)
        for key in inputs:
            inputs[key] = inputs[key].to(model.device)
        return inputs

    @torch.no_grad()
    def compute_logits(inputs, **kwargs):
        batch_scores = model(**inputs).logits[:, -1, :]
        true_vector = batch_scores[:, token_true_id]
        false_vector = batch_scores[:, token_false_id]
        batch_scores = torch.stack([false_vector, true_vector], dim=1)
        batch_scores = torch.nn.functional.log_softmax(batch_scores, dim=1)
        scores = batch_scores[:, 1].exp().tolist()
        return scores

    prefix = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n"  # noqa: E501
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    prefix_tokens = tokenizer.encode(prefix, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(suffix, add_special_tokens=False)
    assert (prefix, suffix) == (QWEN3_PREFIX, QWEN3_SUFFIX)
    from types import SimpleNamespace
    return SimpleNamespace(
        token_true_id=token_true_id, token_false_id=token_false_id, prefix_tokens=prefix_tokens,
        suffix_tokens=suffix_tokens, format_instruction=format_instruction, process_inputs=process_inputs,
        compute_logits=compute_logits, budget=max_length - len(prefix_tokens) - len(suffix_tokens),
    )


# ---------------------------------------------------------------------------------------------------------
# Engines: name, model_key, precision, settings, candidates(), configure(s), run(item) -> float32 [n] logits
# (l_true - l_false, input order), close().


class TamisLlmEngine(bench.TamisEngine):
    """bench.py's stdio engine with the LLM command line; reads the worker's VmHWM before it exits."""

    precision = "fp32"

    def __init__(self, name: str, args):
        self.name, self.task, self.model_key = name, "rerank", MODEL_OF[name]
        share = not name.endswith("-noshare")
        self.precision = name.rsplit("-", 1)[1] if name.endswith(("-int8", "-bf16", "-bf16x3")) else "fp32"
        self.settings = {"batching": "internal", "prefix sharing": "on" if share else "off",
                         "precision": self.precision}
        values = {"tamis": str(args.tamis), "model": str(args.models[self.model_key]),
                  "kind": TAMIS_KIND[self.model_key], "threads": str(args.threads)}
        try:
            self.cmd = ([t.format(**values) for t in shlex.split(args.tamis_cmd)] + ([] if share else [NOSHARE_FLAG])
                        + PRECISION_FLAGS[self.precision])
        except (KeyError, IndexError) as err:
            fail(f"--tamis-cmd has an unknown placeholder {err}; use {{tamis}} {{model}} {{kind}} {{threads}}")
        self.stderr = tempfile.TemporaryFile()
        print(f"starting {name}: {shlex.join(self.cmd)}", flush=True)
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        except OSError as err:
            fail(f"cannot start tamis ({shlex.join(self.cmd)}): {err}")
        self.ready = self._read_ready(args.ready_timeout)
        self.parse_secs = []
        self.peak_rss_mib = None

    def vm_hwm_mib(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except (OSError, ValueError):
            pass
        return None

    def close(self) -> None:
        self.peak_rss_mib = self.vm_hwm_mib()
        super().close()


class HfQwen3Engine:
    """hf-qwen3-card: the card's process_inputs + compute_logits on batches of B pairs in input order (B = 20:
    the card exactly). hf-qwen3-lastpos: the same prompt ids, batches of pairs sorted by length, padded by the
    same tokenizer.pad, and model(..., logits_to_keep=1), i.e. the vocabulary projection of the last position
    only. Both run the model loaded as the card does (fp32) under the thread settings of the harness."""

    precision = "fp32"

    def __init__(self, name: str, model, tokenizer, args, max_docs: int):
        self.name, self.model_key = name, "qwen3"
        self.model, self.tokenizer = model, tokenizer
        self.card = qwen3_card(tokenizer, model, args.max_length)
        self.lastpos = name.startswith("hf-qwen3-lastpos")
        self.precision = "bf16" if name.endswith("-bf16") else "fp32"
        sizes = sorted({min(b, max_docs) for b in args.batch_sizes})
        self._candidates = [{"batch_size": b, "sort": self.lastpos} for b in sizes]
        self.settings = self._candidates[0]
        self.card_prob_check = 0.0  # max |sigmoid(l_true - l_false) - the card's score|

    def candidates(self):
        return self._candidates

    def configure(self, settings):
        self.settings = settings

    def run(self, item):
        import numpy as np
        import torch

        card, size = self.card, self.settings["batch_size"]
        pairs = [card.format_instruction(None, item["query"], doc) for doc in item["passages"]]
        n = len(pairs)
        out = np.empty(n, dtype=np.float32)
        if not self.lastpos:
            # The card returns probabilities; the raw logit difference is taken from the same forward by a hook
            # on lm_head (an indexing of two columns; the card's own code runs unchanged).
            captured = []
            hook = self.model.lm_head.register_forward_hook(
                lambda _m, _i, logits: captured.append(
                    (logits[:, -1, card.token_true_id] - logits[:, -1, card.token_false_id]).detach()))
            try:
                scores = []
                for i in range(0, n, size):
                    inputs = card.process_inputs(pairs[i : i + size])
                    scores += card.compute_logits(inputs)
            finally:
                hook.remove()
            out[:] = torch.cat(captured).float().numpy()
            self.card_prob_check = max(self.card_prob_check,
                                       float(np.max(np.abs(1 / (1 + np.exp(-out.astype(np.float64))) - scores))))
            return out
        enc = self.tokenizer(pairs, padding=False, truncation="longest_first", return_attention_mask=False,
                             max_length=card.budget)
        ids = [card.prefix_tokens + e + card.suffix_tokens for e in enc["input_ids"]]
        order = sorted(range(n), key=lambda r: len(ids[r]))
        with torch.inference_mode():
            for i in range(0, n, size):
                rows = order[i : i + size]
                inputs = self.tokenizer.pad({"input_ids": [ids[r] for r in rows]}, padding=True, return_tensors="pt")
                last = self.model(**inputs, logits_to_keep=1).logits[:, -1, :]
                out[rows] = (last[:, card.token_true_id] - last[:, card.token_false_id]).float().numpy()
        return out

    def close(self):
        pass


class HfMxbaiEngine:
    """mxbai_rerank.MxbaiRerankV2 as published: rank(query, docs, batch_size=B) returns the raw logit differences
    (l_1 - l_0). For B > len(docs) it is one predict() call in input order; otherwise the package buckets the
    documents by length (batched.utils.bucket_batch_iter)."""

    precision = "fp32"

    def __init__(self, args, max_docs: int, name: str = "hf-mxbai"):
        import torch
        from mxbai_rerank import MxbaiRerankV2

        self.name, self.model_key = name, "mxbai"
        self.ranker = MxbaiRerankV2(str(args.models["mxbai"]), device="cpu", max_length=args.max_length)
        if self.ranker.model.dtype != torch.float32:
            fail(f"MxbaiRerankV2 loaded the model in {self.ranker.model.dtype}, not fp32")
        sizes = sorted({min(b, max_docs) for b in args.batch_sizes})
        self._candidates = [{"batch_size": b} for b in sizes]
        self.settings = self._candidates[0]

    def candidates(self):
        return self._candidates

    def configure(self, settings):
        self.settings = settings

    def run(self, item):
        import numpy as np

        docs = item["passages"]
        ranked = self.ranker.rank(item["query"], docs, top_k=len(docs), batch_size=self.settings["batch_size"],
                                  sort=False, return_documents=False)
        out = np.empty(len(docs), dtype=np.float32)
        for r in ranked:
            out[r.index] = r.score
        return out

    def close(self):
        pass


def load_qwen3(args, bf16: bool = False):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = str(args.models["qwen3"])
    tokenizer = AutoTokenizer.from_pretrained(d, padding_side='left')
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.bfloat16 if bf16 else torch.float32).eval()
    return model, tokenizer


def make_engines(names: list, args, max_docs: int) -> list:
    engines, qwen3 = [], None
    for name in names:
        started = time.perf_counter()
        if name.startswith("tamis"):
            engine = TamisLlmEngine(name, args)
        elif name == "hf-qwen3-lastpos-bf16":
            engine = HfQwen3Engine(name, *load_qwen3(args, bf16=True), args, max_docs)
        elif name.startswith("hf-qwen3"):
            qwen3 = qwen3 or load_qwen3(args)  # card and lastpos share the one fp32 model
            engine = HfQwen3Engine(name, *qwen3, args, max_docs)
        else:
            engine = HfMxbaiEngine(args, max_docs)
        print(f"loaded {name} in {time.perf_counter() - started:.1f} s", flush=True)
        engines.append(engine)
    return engines


def check_shape(name: str, item: dict, out) -> None:
    if out.shape != (len(item["passages"]),):
        fail(f"{name} returned {out.shape} scores for {len(item['passages'])} passages")


# ---------------------------------------------------------------------------------------------------------
# One phase: the engines of one model, alternating


def run_phase(key: str, names: list, items: list, args, max_docs: int) -> dict:
    import numpy as np

    print(f"=== {key}: {args.models[key]} ===", flush=True)
    engines = make_engines(names, args, max_docs)
    calibration = {}
    for engine in engines:
        started = time.perf_counter()
        check_shape(engine.name, items[0], engine.run(items[0]))  # warm-up
        print(f"  {engine.name}: warm-up {time.perf_counter() - started:.1f} s", flush=True)
        if len(engine.candidates()) > 1 and args.calibrate > 0:
            print(f"  calibrating {engine.name}: {len(engine.candidates())} settings on "
                  f"{min(args.calibrate, len(items))} queries ...", flush=True)
        calibration[engine.name] = bench.calibrate(engine, items, args)
        print(f"  {engine.name}: {describe(engine.settings)}"
              + "".join(f"\n    {describe(c['settings'])}: {c['secs']} s" for c in calibration[engine.name]),
              flush=True)
        pause(args)

    secs = {e.name: [] for e in engines}
    outputs = {e.name: [None] * len(items) for e in engines}
    n_blocks = (len(items) + args.block - 1) // args.block
    turn, started = 0, time.perf_counter()
    for round_idx in range(args.rounds):
        for block_idx in range(n_blocks):
            block = range(block_idx * args.block, min(len(items), (block_idx + 1) * args.block))
            shift = turn % len(engines)
            for engine in engines[shift:] + engines[:shift]:
                pause(args)
                for i in block:
                    t0 = time.perf_counter()
                    out = engine.run(items[i])
                    secs[engine.name].append(time.perf_counter() - t0)
                    if round_idx == 0:
                        check_shape(engine.name, items[i], out)
                        outputs[engine.name][i] = out
            turn += 1
            print(f"\r  {block.stop + round_idx * len(items)}/{len(items) * args.rounds} queries, "
                  f"{time.perf_counter() - started:.0f} s", end="", flush=True)
    print(flush=True)

    ref_name = REFERENCE_ENGINE[key]
    extra = {}
    if ref_name in outputs:
        reference = outputs[ref_name]
        ref_note = f"{ref_name} (its timed first-round outputs)"
    elif key == "qwen3" and "hf-qwen3-card" in outputs:
        reference = outputs["hf-qwen3-card"]
        ref_note = "hf-qwen3-card (its timed first-round outputs)"
    elif args.no_reference:
        reference, ref_note = None, None
    else:
        print(f"  computing the PyTorch fp32 reference for {key} (untimed) ...", flush=True)
        if key == "qwen3":
            ref = HfQwen3Engine("hf-qwen3-lastpos", *load_qwen3(args), args, max_docs)
            ref.configure({"batch_size": 1, "sort": True})
        else:
            ref = HfMxbaiEngine(args, max_docs, name="reference")
            ref.configure({"batch_size": 1})
        reference = [ref.run(it) for it in items]
        ref_note = f"{ref_name} at batch 1, computed outside the timed runs"
        del ref
    for engine in engines:
        engine.close()
        if isinstance(engine, HfQwen3Engine) and not engine.lastpos:
            extra.setdefault(engine.name, {})["card_prob_vs_sigmoid_logit_max_abs"] = engine.card_prob_check
        if isinstance(engine, TamisLlmEngine):
            extra.setdefault(engine.name, {}).update(
                ready_line=engine.ready, peak_rss_in_run_mib=engine.peak_rss_mib,
                json_parse_p50_ms=round(percentile([s * 1000 for s in engine.parse_secs], 50), 3))
    share_pairs = {}
    for name in outputs:
        if name.endswith("-noshare") and name[: -len("-noshare")] in outputs:
            share_pairs[name] = max(float(np.max(np.abs(a - b)))
                                    for a, b in zip(outputs[name], outputs[name[: -len("-noshare")]]))
    results = {}
    for engine in engines:
        agree = (max(float(np.max(np.abs(o - r))) for o, r in zip(outputs[engine.name], reference))
                 if reference is not None else None)
        results[engine.name] = {
            "model": key, "precision": engine.precision, "settings": engine.settings,
            "calibration": calibration[engine.name], "secs": secs[engine.name], "max_abs_logit_diff": agree,
            "reference": ref_note, **extra.get(engine.name, {}),
        }
        if engine.name in share_pairs:
            results[engine.name]["max_abs_logit_diff_vs_prefix_sharing"] = share_pairs[engine.name]
    del engines
    gc.collect()
    return results


# ---------------------------------------------------------------------------------------------------------
# Peak RSS, one engine per fresh process


def own_vm_hwm_mib() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries the forking parent's high-water mark across exec
    into the child's ru_maxrss, so every child of the (large) benchmark process reported the parent's peak."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    fail("no VmHWM in /proc/self/status")


def rss_only(args, items: list) -> None:
    name = args.rss_only
    max_docs = max(len(it["passages"]) for it in items)
    n = min(args.rss_queries, len(items))
    if name.startswith("tamis"):
        engine = TamisLlmEngine(name, args)
        for it in items[:n]:
            engine.run(it)
        peak = engine.vm_hwm_mib()
        engine.close()
        print(json.dumps({"engine": name, "peak_rss_mib": peak, "queries": n,
                          "source": "VmHWM of the tamis process (/proc/PID/status), read before it exits"}))
        return
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import transformers  # noqa: F401
    import mxbai_rerank  # noqa: F401

    base = own_vm_hwm_mib()
    (engine,) = make_engines([name], args, max_docs)
    engine.configure(json.loads(args.rss_settings) or engine.settings)
    for it in items[:n]:
        engine.run(it)
    peak = own_vm_hwm_mib()
    print(json.dumps({"engine": name, "peak_rss_mib": peak, "after_imports_rss_mib": base,
                      "queries": n, "settings": engine.settings,
                      "source": "VmHWM of a fresh Python process (imports of torch/transformers included)"}))


def measure_rss(args, name: str, settings: dict, workload: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-only", name, "--workload", str(workload),
           "--qwen3-model", str(args.models["qwen3"]), "--mxbai-model", str(args.models["mxbai"]),
           "--threads", str(args.threads), "--max-length", str(args.max_length),
           "--rss-queries", str(args.rss_queries), "--tamis-cmd", args.tamis_cmd,
           "--ready-timeout", str(args.ready_timeout)]
    if args.tamis is not None:
        cmd += ["--tamis", str(args.tamis)]
    if not name.startswith("tamis"):
        cmd += ["--rss-settings", json.dumps(settings)]
    print(f"  peak RSS of {name} ...", flush=True)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or not lines:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-5:])
        print(f"  warning: the RSS process of {name} failed (status {res.returncode}):\n{tail}", file=sys.stderr)
        return {"error": f"status {res.returncode}: {tail}"}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------------------
# Report


def versions(args) -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("torch", "transformers", "tokenizers", "mxbai-rerank", "accelerate", "batched", "safetensors", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    if args.tamis is not None:
        try:
            out["tamis"] = subprocess.run([str(args.tamis), "--version"], capture_output=True, text=True,
                                          timeout=30).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            out["tamis"] = None
    return out


def machine() -> dict:
    info = bench.machine_info()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in lscpu.splitlines():
            if line.startswith("Flags:"):
                info["cpu_flags"] = line.split(":", 1)[1].split()
            elif ":" in line and line.split(":", 1)[0].strip() in ("L2 cache", "L3 cache", "CPU max MHz", "Hypervisor vendor"):
                info[line.split(":", 1)[0].strip()] = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import torch

        info["torch_parallel_info"] = torch.__config__.parallel_info().strip().splitlines()
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001  (informational only)
        pass
    return info


def model_info(d: Path) -> dict:
    cfg = json.loads((d / "config.json").read_text())
    keys = ("architectures", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "intermediate_size", "vocab_size", "tie_word_embeddings", "rope_theta",
            "max_position_embeddings", "dtype", "torch_dtype")
    return {"dir": str(d.resolve()), **{k: cfg[k] for k in keys if k in cfg},
            "weights_bytes": sum(p.stat().st_size for p in d.glob("*.safetensors"))}


def main() -> None:
    args = parse_args()
    check_inputs(args)
    bench.set_thread_env(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    if args.workload is not None:
        items = list(read_jsonl(args.workload))
    else:
        from tokenizers import Tokenizer

        tok_dir = args.models[MODEL_OF[args.engines[0]]]
        items = build_workload(args, Tokenizer.from_file(str(tok_dir / "tokenizer.json")))
    if not items:
        fail("empty workload")
    if args.rss_only:
        rss_only(args, items)
        return

    import numpy as np
    import torch
    import transformers
    import warnings
    from tokenizers import Tokenizer

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message="`max_length` is ignored when `padding`=`True`")

    keys = list(dict.fromkeys(MODEL_OF[e] for e in args.engines))
    tok = Tokenizer.from_file(str(args.models[keys[0]] / "tokenizer.json"))
    tokens = token_stats(items, tok, keys)
    workload_file = args.workload
    if args.workload is None:
        workload_file = args.workload_out or Path(tempfile.mkstemp(prefix="llm-workload-", suffix=".jsonl")[1])
        workload_file.parent.mkdir(parents=True, exist_ok=True)
        workload_file.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    n_pairs = sum(len(it["passages"]) for it in items)
    max_docs = max(len(it["passages"]) for it in items)
    print(f"workload: {len(items)} queries, {n_pairs} pairs, documents {tokens['document_only']} tokens; threads "
          f"{args.threads}, rounds {args.rounds}, block {args.block}, engines {','.join(args.engines)}", flush=True)
    for key in keys:
        t = tokens[key]
        print(f"  {key} prompt tokens: prefix {t['prefix']}, document {t['document']}, suffix {t['suffix']}; "
              f"per query {t['per_query_all_prompts']['mean']} (prefix once: {t['per_query_prefix_once']['mean']})",
              flush=True)

    results, started = {}, time.perf_counter()
    for key in keys:
        results.update(run_phase(key, [e for e in args.engines if MODEL_OF[e] == key], items, args, max_docs))
    timed_wall = time.perf_counter() - started

    for name, res in results.items():
        secs = res.pop("secs")
        total = sum(secs)
        prompt_tokens = tokens[res["model"]]["total_prompt_tokens"] * args.rounds
        res.update({"calls": len(secs), "total_s": round(total, 3), "pairs_per_s": round(n_pairs * args.rounds / total, 3),
                    "prompt_tokens_per_s": round(prompt_tokens / total, 1),
                    "p50_ms": round(percentile([s * 1000 for s in secs], 50), 1),
                    "p95_ms": round(percentile([s * 1000 for s in secs], 95), 1),
                    "mean_ms": round(float(np.mean(secs)) * 1000, 1),
                    # int8 and bf16 are approximate by design: their difference is reported, not flagged.
                    "flagged": (not name.endswith(("-int8", "-bf16")) and res["max_abs_logit_diff"] is not None
                                and res["max_abs_logit_diff"] > args.tolerance)})
    ratios = {}
    for a, b in RATIOS:
        if a in results and b in results:
            ratios[f"{a} / {b}"] = round(results[b]["total_s"] / results[a]["total_s"], 3)
    prefix_share = {}
    for name in results:
        if f"{name}-noshare" in results:
            prefix_share[name] = round(1 - results[name]["total_s"] / results[f"{name}-noshare"]["total_s"], 4)

    if not args.no_rss:
        print("peak RSS, one fresh process per engine:", flush=True)
        for name, res in results.items():
            rss = measure_rss(args, name, res["settings"], workload_file)
            res["peak_rss_mib"] = rss.get("peak_rss_mib")
            res["rss"] = rss

    report = {
        "benchmark": "llm-rerank", "queries": len(items), "pairs": n_pairs, "docs_per_query": args.docs,
        "doc_tokens": args.doc_tokens, "seed": args.seed, "dataset": str(args.dataset), "split": args.split,
        "workload": str(workload_file), "query_ids": [it["query_id"] for it in items],
        "relevant_per_query": [it.get("relevant") for it in items], "tokens": tokens,
        "threads": args.threads, "rounds": args.rounds, "block": args.block, "pause_ms": args.pause_ms,
        "max_length": args.max_length, "batch_sizes": args.batch_sizes, "calibrate": args.calibrate,
        "tolerance": args.tolerance, "engine_order": args.engines, "timed_phases_wall_s": round(timed_wall, 1),
        "tamis_cmd": args.tamis_cmd, "models": {k: model_info(args.models[k]) for k in keys},
        "machine": machine(), "versions": versions(args), "engines": results,
        "speedups": ratios, "prefix_cache_share": prefix_share,
    }
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"\nresults written to {args.json}")
    if any(r["flagged"] for r in results.values()):
        sys.exit(3)


def print_table(report: dict) -> None:
    m, v = report["machine"], report["versions"]
    print()
    print(f"machine: {m.get('cpu_model')}, {m.get('cores')} cores, nproc {m.get('nproc')}, {m.get('mem_gib')} GiB, "
          f"SIMD {' '.join(m.get('simd', []))}")
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val))
    print(f"workload: {report['queries']} queries x {report['docs_per_query']} documents (~{report['doc_tokens']} "
          f"tokens each), {report['rounds']} round(s), threads {report['threads']}, block {report['block']}")
    for key in report["models"]:
        t = report["tokens"][key]
        print(f"  {key}: prompt = prefix {t['prefix']['mean']} + document {t['document']['mean']} + suffix "
              f"{t['suffix']} tokens (means); {t['per_query_all_prompts']['mean']} tokens a query, "
              f"{t['per_query_prefix_once']['mean']} with the prefix once")
    head = (f"{'engine':<20} {'settings':<19} {'pairs/s':>8} {'tok/s':>8} {'p50 ms':>9} {'p95 ms':>9} "
            f"{'peak RSS MiB':>12} {'max|dlogit|':>11}")
    print("(p50/p95: wall time per query; tok/s: prompt tokens of all pairs, whole prompts, per second;"
          " max|dlogit|: vs the PyTorch fp32 reference of the same model)")
    print(head)
    print("-" * len(head))
    for name, r in report["engines"].items():
        rss = r.get("peak_rss_mib")
        agree = r["max_abs_logit_diff"]
        print(f"{name:<20} {describe(r['settings']):<19} {r['pairs_per_s']:>8.2f} {r['prompt_tokens_per_s']:>8.0f} "
              f"{r['p50_ms']:>9.0f} {r['p95_ms']:>9.0f} {(f'{rss:.0f}' if rss else '-'):>12} "
              f"{(f'{agree:.2e}' if agree is not None else '-'):>11}" + ("   <-- FLAGGED" if r["flagged"] else ""))
    refs = {r["model"]: r["reference"] for r in report["engines"].values() if r["reference"]}
    for key, note in refs.items():
        print(f"reference for {key}: {note}")
    if report["speedups"]:
        print()
        for k, val in report["speedups"].items():
            print(f"{k} = {val:.2f}x  (pairs/s ratio; above 1: tamis is faster)")
    for name, share in report["prefix_cache_share"].items():
        print(f"prefix-cache share, {name}: {share * 100:.1f}% of the time without sharing (1 - t/t_noshare)")
    for name, r in report["engines"].items():
        if r["flagged"]:
            print(f"\n!!!!!!!! WARNING: {name} DISAGREES WITH THE REFERENCE: max |logit - reference| = "
                  f"{r['max_abs_logit_diff']:.3e} > {report['tolerance']} !!!!!!!!", file=sys.stderr)


if __name__ == "__main__":
    main()
