"""Training steps per second of a cross-encoder: sentence-transformers on PyTorch (CPU), or tamis.

Usage:
    python train_speed.py --groups groups.jsonl --model DIR [--batch-size 2] [--max-length 160] [--steps 40] \
        [--warmup-steps 3] [--threads 2] [--seed 0] [--max-grad-norm 0]
    python train_speed.py --engine tamis --tamis BIN --groups groups.jsonl --model DIR [same options]
    python train_speed.py --table results.jsonl      (the markdown summary of train.sh's results)

Both engines run the same training step on the same groups (train_workload.py), in file order, --batch-size
groups a step (batch_size x group_size pairs), the file read again from its start if the steps need more,
and print one JSON object:
    {"engine", "steps", "seconds", "steps_per_s", "pairs_per_s", "peak_rss_mib", "versions", ...}
`steps` counts the timed steps only; `seconds` is the wall time (time.perf_counter) of those steps, after
--warmup-steps untimed ones; loading the model and reading the groups are not timed.

sentence-transformers (the default engine): `CrossEncoder(DIR, num_labels=1, max_length=L)` on the CPU;
from a bi-encoder directory that is a new, seeded classification head, as `tamis train` makes it. The model
is in train mode (dropout on). One step is what the CrossEncoderTrainer runs for a listwise loss:
tokenise the step's (query, document) pairs with the CrossEncoder's tokenizer (padding to the longest pair
of the step, truncation longest_first at max_length), forward, softmax cross-entropy over each group's
logits with the positive (the first document) as the target, backward, torch.optim.AdamW (lr 3e-5, weight
decay 0.01 except biases and LayerNorm, as transformers' Trainer groups them), a linear warmup/decay
scheduler step (warmup a tenth of all steps, as `tamis bench train`), zero_grad. --max-grad-norm N > 0
adds the gradient clipping transformers' Trainer does by default (N = 1); off by default since tamis does
not clip.

tamis (--engine tamis): runs `BIN bench train --base DIR --groups FILE --batch-size B --max-length L --steps N
--warmup-steps W --threads T --seed S --json` with the thread variables set as for PyTorch, checks its JSON
object and prints it (adding the binary's --version under "versions" if it has no "versions").
"""
import argparse
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REQUIRED_FIELDS = ("engine", "steps", "seconds", "steps_per_s", "pairs_per_s", "peak_rss_mib")


def fail(message: str) -> "NoReturn":  # noqa: F821
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sentence-transformers", "st", "tamis"], default="sentence-transformers")
    parser.add_argument("--tamis", type=Path, help="the tamis binary (--engine tamis)")
    parser.add_argument("--groups", type=Path, help="JSONL from train_workload.py")
    parser.add_argument("--model", type=Path, help="the base model directory (a BERT bi-encoder or cross-encoder)")
    parser.add_argument("--batch-size", type=int, default=2, help="groups per step (default 2)")
    parser.add_argument("--max-length", type=int, default=160, help="token limit of a pair (default 160)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps (default 40)")
    parser.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the new head and dropout (default 0)")
    parser.add_argument("--max-grad-norm", type=float, default=0.0,
                        help="sentence-transformers: clip the gradient norm to this (default 0 = no clipping)")
    parser.add_argument("--table", type=Path, help="print the markdown summary of a JSONL of results and exit")
    args = parser.parse_args()
    if args.table is not None:
        return args
    if args.engine == "st":
        args.engine = "sentence-transformers"
    for name in ("batch_size", "max_length", "steps", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup_steps < 0:
        parser.error("--warmup-steps must be at least 0")
    if args.groups is None or not args.groups.is_file():
        fail(f"groups file {args.groups} not found (build it with train_workload.py)")
    if args.model is None or not (args.model / "config.json").is_file():
        fail(f"model directory {args.model} not found or not a Hugging Face model (no config.json)")
    if args.engine == "tamis":
        found = args.tamis.resolve() if args.tamis is not None and args.tamis.is_file() else None
        if found is None and args.tamis is not None:
            found = shutil.which(str(args.tamis))
        if found is None or not os.access(found, os.X_OK):
            fail(f"tamis binary {args.tamis} not found or not executable (cargo build --release)")
        args.tamis = Path(found)
    return args


def set_thread_env(threads: int) -> None:
    """Thread counts for every runtime, set before torch is imported (and inherited by tamis)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def read_groups(path: Path) -> list:
    groups = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            group = json.loads(line)
            if not isinstance(group.get("query"), str) or not isinstance(group.get("documents"), list):
                fail(f"{path}:{n}: expected {{\"query\": \"...\", \"documents\": [...]}}")
            size = len(groups[0]["documents"]) if groups else len(group["documents"])
            if len(group["documents"]) < 2 or len(group["documents"]) != size:
                fail(f"{path}:{n}: {len(group['documents'])} documents; every group needs the positive and at "
                     f"least one negative, and as many documents as the first ({size})")
            groups.append(group)
    if not groups:
        fail(f"groups file {path} is empty")
    return groups


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def run_sentence_transformers(args) -> dict:
    import importlib.metadata as md
    import platform

    import torch
    from sentence_transformers import CrossEncoder
    from transformers import get_linear_schedule_with_warmup

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    groups = read_groups(args.groups)
    group_size = len(groups[0]["documents"])

    torch.manual_seed(args.seed)  # the new head's initialisation and the dropout masks
    model = CrossEncoder(str(args.model), num_labels=1, max_length=args.max_length, device="cpu")
    module = model.model  # transformers' AutoModelForSequenceClassification
    tokenizer = model.tokenizer
    module.train()  # dropout on, as in training

    # transformers' Trainer: weight decay on everything but biases and LayerNorm parameters.
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    no_decay = [p for n, p in named if n.endswith(".bias") or "LayerNorm" in n]
    decay = [p for n, p in named if not (n.endswith(".bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=3e-5)
    total = args.warmup_steps + args.steps
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=total // 10, num_training_steps=total)
    target = torch.zeros(args.batch_size, dtype=torch.long)  # the positive is each group's first document

    nxt = 0
    started = None
    for step in range(total):
        if step == args.warmup_steps:
            started = time.perf_counter()
        batch = [groups[(nxt + i) % len(groups)] for i in range(args.batch_size)]
        nxt = (nxt + args.batch_size) % len(groups)
        queries = [g["query"] for g in batch for _ in g["documents"]]
        documents = [d for g in batch for d in g["documents"]]
        features = tokenizer(queries, documents, padding=True, truncation="longest_first",
                             max_length=args.max_length, return_tensors="pt")
        logits = module(**features, return_dict=True).logits.view(args.batch_size, group_size)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(module.parameters(), args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if not torch.isfinite(loss):
            fail(f"the loss is {loss.item()} at step {step}")
    seconds = time.perf_counter() - started

    versions = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "sentence-transformers", "tokenizers"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"engine": "sentence-transformers", "steps": args.steps, "seconds": round(seconds, 4),
            "steps_per_s": round(args.steps / seconds, 4),
            "pairs_per_s": round(args.steps * args.batch_size * group_size / seconds, 2),
            "peak_rss_mib": peak_rss_mib(), "threads": args.threads, "batch_size": args.batch_size,
            "group_size": group_size, "max_length": args.max_length, "last_loss": round(loss.item(), 4),
            "cpu": cpu_model(), "versions": versions}


def run_tamis(args) -> dict:
    cmd = [str(args.tamis), "bench", "train", "--base", str(args.model), "--groups", str(args.groups),
           "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--steps", str(args.steps),
           "--warmup-steps", str(args.warmup_steps), "--threads", str(args.threads), "--seed", str(args.seed),
           "--json"]
    print(f"running {shlex.join(cmd)}", file=sys.stderr, flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        tail = "\n".join(res.stderr.strip().splitlines()[-20:])
        fail(f"tamis exited with status {res.returncode}: {shlex.join(cmd)}\n--- tamis stderr (last lines) ---\n{tail}")
    report = None
    for line in reversed(res.stdout.strip().splitlines()):
        try:
            report = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    if not isinstance(report, dict):
        fail(f"tamis printed no JSON object on stdout: {res.stdout[-300:]!r}")
    missing = [k for k in REQUIRED_FIELDS if k not in report]
    if missing or report.get("engine") != "tamis":
        fail(f"tamis' JSON lacks {missing or 'engine = tamis'}: {json.dumps(report)[:300]}")
    asked = {"steps": args.steps, "batch_size": args.batch_size, "max_length": args.max_length,
             "threads": args.threads, "group_size": len(read_groups(args.groups)[0]["documents"])}
    for key, value in asked.items():
        if key in report and report[key] != value:
            fail(f"tamis ran with {key} {report[key]}, not {value}")
    if "versions" not in report:
        version = subprocess.run([str(args.tamis), "--version"], capture_output=True, text=True).stdout.strip()
        report["versions"] = {"tamis": version or None}
    return report


def table(path: Path) -> str:
    """Markdown summary of a JSONL of results: median per engine over the rounds, and tamis / st."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        fail(f"{path} holds no result")
    by_engine = {}
    for row in rows:
        by_engine.setdefault(row["engine"], []).append(row)
    first = rows[0]
    shape = {k: first.get(k) for k in ("threads", "batch_size", "group_size", "max_length")}
    lines = [f"CPU: {cpu_model()}; threads {shape['threads']}; "
             f"step = {shape['batch_size']} groups x {shape['group_size']} documents "
             f"({(shape['batch_size'] or 0) * (shape['group_size'] or 0)} pairs), max_length {shape['max_length']}; "
             f"{first['steps']} timed steps a run", "",
             "| engine | runs | median steps/s | median pairs/s | min–max steps/s | peak RSS MiB (max) |",
             "|---|---|---|---|---|---|"]
    medians = {}
    for engine, runs in by_engine.items():
        rates = [r["steps_per_s"] for r in runs]
        medians[engine] = statistics.median(rates)
        rss = [r["peak_rss_mib"] for r in runs if r.get("peak_rss_mib") is not None]
        rss_text = f"{max(rss):.0f}" if rss else "-"
        lines.append(f"| {engine} | {len(runs)} | {medians[engine]:.3f} | "
                     f"{statistics.median(r['pairs_per_s'] for r in runs):.1f} | {min(rates):.3f}–{max(rates):.3f} | "
                     f"{rss_text} |")
    if "tamis" in medians and "sentence-transformers" in medians:
        ratio = medians["tamis"] / medians["sentence-transformers"]
        lines += ["", f"tamis / sentence-transformers = {ratio:.2f}x (median steps/s; target >= 1.0x: "
                      f"{'met' if ratio >= 1.0 else 'NOT met'})"]
    versions = {}
    for row in rows:
        versions.update({k: v for k, v in (row.get("versions") or {}).items() if v})
    lines += ["", "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.table is not None:
        print(table(args.table))
        return
    set_thread_env(args.threads)
    report = run_tamis(args) if args.engine == "tamis" else run_sentence_transformers(args)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
