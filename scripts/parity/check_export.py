#!/usr/bin/env python3
"""Check that a model written by `tamis train` loads in `transformers` and in
sentence-transformers' `CrossEncoder` and scores exactly as `tamis rerank` scores it.

It writes a tiny BEIR-layout dataset (40 documents, 8 queries, qrels/train.tsv) in --work,
runs `tamis train --no-dev` on it from four bases, and for each exported model:

* `tamis rerank --raw` scores 20 (query, document) pairs: one pair is longer than the
  exported max length on the document side, one on both sides, one is non-ASCII and one
  has a one-character document;
* `AutoModelForSequenceClassification` + `AutoTokenizer` (pairs tokenized with
  truncation="longest_first", max_length = the exported tokenizer_config's
  model_max_length) must load every tensor, with none missing or unexpected, and give
  every logit within 1e-4 of tamis's; the untruncated pair length decides which pairs
  tamis must flag `truncated`;
* `CrossEncoder(OUT).predict(pairs, activation_fn=Identity())` must give the same logits
  within 1e-4, and its default `predict` (the activation that config.json declares:
  Sigmoid or Identity) that activation of tamis's logits within 1e-4.

The logits of each model must spread over more than 1e-3, ten times the tolerance: equal
logits (a zero head) would make the comparison vacuous.

The bases:

* `fixture`: the tiny sentence-transformers BERT in
  crates/tamis-models/tests/fixtures/bert-embed-cls (a bi-encoder: a new head is drawn);
* `xlmr`: the tiny `XLMRobertaForSequenceClassification` in
  crates/tamis-models/tests/fixtures/xlmr-ce-1label (training continues; 50 positions, so
  trained at a max length of 40). A fresh head on the tiny XLM-R bi-encoder spreads its
  logits over less than 1e-3, too little to compare; tamis-cli's tests train that case;
* `minilm`: the real `<shared>/models/all-MiniLM-L6-v2` (a bi-encoder), a few steps;
* `round-trip`: the cross-encoder `<shared>/models/tamis-ce-minilm-l6-nfcorpus`, one step
  at a learning rate of 1e-30, which leaves every weight as it was: every exported tensor
  must equal the base's within 1e-6, which the logit comparisons cannot see (tamis and
  `transformers` read the same file, so Q, K and V split in the wrong order, or one
  layer's tensors written under another's names, would still agree).

The stage-1 index (hard negatives) is built once with the fixture bi-encoder: which
negatives are drawn does not matter here, and it keeps a debug binary fast.

Prints one `ok <base> <what>` line per check with the largest difference found, and on the
first failure one `check_export: FAIL <base>: why` line, exiting 1.

Usage:
    python scripts/parity/check_export.py --tamis target/debug/tamis [--shared DIR]
        [--work DIR] [--bases fixture,xlmr,minilm,round-trip] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# Everything is local: never let transformers or sentence-transformers reach for the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from sentence_transformers import CrossEncoder  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "crates/tamis-models/tests/fixtures/bert-embed-cls"
XLMR_FIXTURE = REPO / "crates/tamis-models/tests/fixtures/xlmr-ce-1label"

LOGIT_TOL = 1e-4  # the bound: every logit within 1e-4 of tamis's
MIN_SPREAD = 10 * LOGIT_TOL  # logits closer together than this would prove nothing
TENSOR_TOL = 1e-6  # round trip: a 1e-30 learning rate moves no float32 weight this far
MAX_LENGTH = 64  # --max-length for training (a base's own when it has fewer positions)
TRAIN_TIMEOUT_S = 1800
RERANK_TIMEOUT_S = 600


class CheckFailed(Exception):
    pass


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# The score activations a config.json may declare (`sentence_transformers.activation_fn`).
ACTIVATIONS = {
    "torch.nn.modules.activation.Sigmoid": sigmoid,
    "torch.nn.modules.linear.Identity": lambda x: x,
}


# Eight topics of five documents; each query's first two documents are judged relevant
# and the other three are near misses. Health and nutrition, like the NFCorpus text the
# fixture's vocabulary was learned on.
TOPICS: list[tuple[str, list[str]]] = [
    (
        "does vitamin d protect against bone fractures",
        [
            "Vitamin D supplements with calcium reduced hip fractures in elderly women.",
            "Low vitamin D levels were linked to weaker bones and more fractures.",
            "Sunlight exposure raises vitamin D levels in the skin during summer.",
            "Calcium from dairy products is absorbed less well than often assumed.",
            "Bone density declines with age in both men and women.",
        ],
    ),
    (
        "omega-3 fatty acids and heart disease risk",
        [
            "Fish oil rich in omega-3 fatty acids lowered the risk of cardiac death.",
            "Eating fatty fish twice a week was associated with less heart disease.",
            "Flaxseed contains plant omega-3 fats that the body converts poorly.",
            "Mercury in large fish raises concerns for pregnant women.",
            "Triglyceride levels in the blood fall with high doses of fish oil.",
        ],
    ),
    (
        "green tea and cancer prevention",
        [
            "Green tea catechins slowed the growth of tumour cells in the laboratory.",
            "Women who drank green tea daily had fewer breast cancer recurrences.",
            "Black tea is fermented and contains fewer catechins than green tea.",
            "Caffeine in tea can interfere with iron absorption from plant foods.",
            "Tea consumption is highest in China, Japan and the United Kingdom.",
        ],
    ),
    (
        "sugar sweetened beverages and obesity in children",
        [
            "Children who drank more soda gained more weight over two years.",
            "Replacing sugary drinks with water reduced body fat in school children.",
            "Fruit juice contains as much sugar as many soft drinks.",
            "Artificial sweeteners may change the gut microbiome.",
            "Physical activity in children has declined over recent decades.",
        ],
    ),
    (
        "red meat consumption and colorectal cancer",
        [
            "Processed meat intake increased the risk of colorectal cancer.",
            "Heme iron in red meat may damage the lining of the colon.",
            "Grilling meat at high temperature forms heterocyclic amines.",
            "Vegetarians have lower cholesterol levels on average.",
            "Colon cancer screening with colonoscopy reduces mortality.",
        ],
    ),
    (
        "dietary fiber and type 2 diabetes",
        [
            "A diet high in cereal fiber lowered the risk of type 2 diabetes.",
            "Soluble fiber slows glucose absorption and improves insulin sensitivity.",
            "Whole grains contain fiber, vitamins and minerals lost in refining.",
            "Beans and lentils are rich sources of protein and fiber.",
            "Blood sugar is measured with the HbA1c test.",
        ],
    ),
    (
        "caffeine intake and sleep quality",
        [
            "Coffee drunk six hours before bedtime shortened total sleep time.",
            "Caffeine blocks adenosine receptors and delays the onset of sleep.",
            "Energy drinks contain caffeine, sugar and taurine.",
            "Melatonin is released by the pineal gland in darkness.",
            "Shift workers often report poor sleep and fatigue.",
        ],
    ),
    (
        "salt reduction lowers blood pressure",
        [
            "Cutting sodium intake lowered systolic blood pressure in hypertensive adults.",
            "The DASH diet with less salt reduced blood pressure within weeks.",
            "Potassium from fruits and vegetables counters the effect of sodium.",
            "Most dietary salt comes from bread and processed foods.",
            "Hypertension is a major risk factor for stroke.",
        ],
    ),
]

LONG_DOCUMENT = " ".join(doc for _, docs in TOPICS[:3] for doc in docs)  # ~200 tokens
LONG_QUERY = " ".join(query for query, _ in TOPICS) + " " + TOPICS[7][1][0]  # ~70 tokens


def pairs_to_score() -> list[tuple[str, str]]:
    """Twenty pairs: each query with its first relevant document and with the next
    topic's first document, then the edge cases."""
    pairs = []
    for i, (query, docs) in enumerate(TOPICS):
        pairs.append((query, docs[0]))
        pairs.append((query, TOPICS[(i + 1) % len(TOPICS)][1][0]))
    pairs.append((TOPICS[0][0], LONG_DOCUMENT))  # the document is cut
    pairs.append((LONG_QUERY, LONG_DOCUMENT))  # both sides are cut
    pairs.append((TOPICS[1][0], "Café, naïve Übersicht: ω-3 Fettsäuren und Herz 心臓"))
    pairs.append((TOPICS[2][0], "x"))
    return pairs


def write_dataset(root: Path) -> None:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        for t, (_, docs) in enumerate(TOPICS):
            for d, text in enumerate(docs):
                title = text.split()[0] + " study"
                corpus.write(json.dumps({"_id": f"d{t}-{d}", "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as queries:
        for t, (query, _) in enumerate(TOPICS):
            queries.write(json.dumps({"_id": f"q{t}", "text": query}) + "\n")
    with open(root / "qrels" / "train.tsv", "w", encoding="utf-8") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for t in range(len(TOPICS)):
            for d in range(2):
                qrels.write(f"q{t}\td{t}-{d}\t1\n")


@dataclass
class Base:
    name: str
    path: Path
    steps: int
    lr: str | None = None  # tamis' default when None
    round_trip: bool = False
    max_length: int = MAX_LENGTH  # --max-length, so the exported model_max_length
    architecture: str = "BertForSequenceClassification"  # the class transformers must load


def run_tamis(args: list[str], log: Path, timeout_s: int, stdin: str | None = None) -> str:
    """Runs tamis with its standard error in `log`; a failure is one line: the exit
    status and the last line tamis wrote."""
    with open(log, "w", encoding="utf-8") as err:
        try:
            proc = subprocess.run(
                args,
                input=stdin,
                check=False,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"`{' '.join(args[:2])}` ran over {timeout_s} s (log: {log})")
    if proc.returncode != 0:
        lines = [
            line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
        ]
        last = lines[-1] if lines else "(no message)"
        raise CheckFailed(f"`{' '.join(args[:2])}` exited {proc.returncode}: {last}")
    return proc.stdout


def train(opts: argparse.Namespace, base: Base, dataset: Path, work: Path, stage1: Path) -> Path:
    out = work / f"model-{base.name}"
    cmd = [
        str(opts.tamis), "train",
        "--dataset", str(dataset),
        "--base", str(base.path),
        "--model", str(stage1),
        "--output", str(out),
        "--overwrite",
        "--max-steps", str(base.steps),
        "--no-dev",
        "--negatives", "3",
        "--skip", "0",
        "--window", "20",
        "--batch-size", "2",
        "--max-length", str(base.max_length),
        "--cache-dir", str(work / "cache"),
        "--seed", "1",
    ]  # fmt: skip
    if base.lr is not None:
        cmd += ["--lr", base.lr]
    if opts.threads is not None:
        cmd += ["--threads", str(opts.threads)]
    run_tamis(cmd, work / f"train-{base.name}.log", TRAIN_TIMEOUT_S)
    expect((out / "model.safetensors").is_file(), f"tamis train wrote no {out}/model.safetensors")
    return out


def tamis_scores(
    opts: argparse.Namespace, model: Path, pairs: list[tuple[str, str]], log: Path
) -> list[tuple[float, bool]]:
    """`tamis rerank --raw` on the pairs, grouped by query: (logit, truncated) per pair."""
    groups: dict[str, list[int]] = {}
    for i, (query, _) in enumerate(pairs):
        groups.setdefault(query, []).append(i)
    lines = [json.dumps({"query": q, "documents": [pairs[i][1] for i in idx]}) for q, idx in groups.items()]
    cmd = [str(opts.tamis), "rerank", "--model", str(model), "--raw"]
    if opts.threads is not None:
        cmd += ["--threads", str(opts.threads)]
    stdout = run_tamis(cmd, log, RERANK_TIMEOUT_S, stdin="\n".join(lines) + "\n")
    answers = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    expect(
        len(answers) == len(groups), f"tamis rerank answered {len(answers)} lines for {len(groups)} queries"
    )
    scores: list[tuple[float, bool] | None] = [None] * len(pairs)
    for idx, answer in zip(groups.values(), answers):
        results = answer["results"]
        expect(
            sorted(r["index"] for r in results) == list(range(len(idx))),
            f"tamis rerank results {results} do not cover {len(idx)} documents",
        )
        for r in results:
            expect(isinstance(r["score"], (int, float)), f"tamis rerank gave a score of {r['score']!r}")
            scores[idx[r["index"]]] = (float(r["score"]), bool(r["truncated"]))
    return scores  # type: ignore[return-value]


def max_diff(a: list[float], b: list[float]) -> tuple[float, int]:
    diffs = [abs(x - y) for x, y in zip(a, b)]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    return diffs[worst], worst


def check_logits(what: str, theirs: list[float], ours: list[float], pairs: list[tuple[str, str]]) -> float:
    # A NaN would compare as within any tolerance.
    expect(all(map(math.isfinite, theirs)), f"{what}: a logit is not finite: {theirs}")
    expect(all(map(math.isfinite, ours)), f"{what}: a tamis logit is not finite: {ours}")
    diff, worst = max_diff(theirs, ours)
    if diff > LOGIT_TOL:
        q, d = pairs[worst]
        raise CheckFailed(
            f"{what}: logit {theirs[worst]:.6f} vs tamis {ours[worst]:.6f} "
            f"(|diff| {diff:.2e} > {LOGIT_TOL}) on ({q[:40]!r}, {d[:40]!r})"
        )
    return diff


def check_transformers(
    base: Base, out: Path, pairs: list[tuple[str, str]], tamis: list[tuple[float, bool]]
) -> float:
    tokenizer = AutoTokenizer.from_pretrained(out)
    expect(tokenizer.is_fast, "AutoTokenizer did not load tokenizer.json (a slow tokenizer)")
    max_length = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))["model_max_length"]
    expect(
        max_length == base.max_length,
        f"tokenizer_config.json model_max_length is {max_length}, trained with {base.max_length}",
    )
    model, info = AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        expect(not info.get(kind), f"transformers loading: {kind} {info.get(kind)}")
    expect(
        type(model).__name__ == base.architecture,
        f"transformers loaded a {type(model).__name__}, not a {base.architecture}",
    )
    expect(model.config.num_labels == 1, f"num_labels is {model.config.num_labels}")
    model.eval()
    logits = []
    with torch.no_grad():
        for i, (query, doc) in enumerate(pairs):
            full = len(tokenizer(query, doc, verbose=False)["input_ids"])
            expect(
                tamis[i][1] == (full > max_length),
                f"pair {i} has {full} tokens (max {max_length}) but tamis says truncated={tamis[i][1]}",
            )
            enc = tokenizer(
                query, doc, truncation="longest_first", max_length=max_length, return_tensors="pt"
            )
            logits.append(float(model(**enc).logits[0, 0]))
    return check_logits("transformers", logits, [s for s, _ in tamis], pairs)


def check_cross_encoder(
    base: Base, out: Path, pairs: list[tuple[str, str]], tamis: list[tuple[float, bool]]
) -> tuple[float, float]:
    model = CrossEncoder(str(out), device="cpu")
    expect(
        model.max_length == base.max_length,
        f"CrossEncoder max_length is {model.max_length}, trained with {base.max_length}",
    )
    logits = [s for s, _ in tamis]
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    declared_name = config.get("sentence_transformers", {}).get("activation_fn")
    expect(declared_name in ACTIVATIONS, f"config.json declares activation_fn {declared_name!r}")
    activation = ACTIVATIONS[declared_name]
    # The declared activation first: passing activation_fn to predict keeps it for later calls.
    declared = [float(x) for x in model.predict(pairs, batch_size=8, show_progress_bar=False)]
    declared_diff = check_logits(
        f"CrossEncoder default activation ({declared_name.rsplit('.', 1)[-1]})",
        declared,
        [activation(x) for x in logits],
        pairs,
    )
    raw = [
        float(x)
        for x in model.predict(
            pairs, batch_size=8, show_progress_bar=False, activation_fn=torch.nn.Identity()
        )
    ]
    return check_logits("CrossEncoder", raw, logits, pairs), declared_diff


def check_round_trip(base: Path, out: Path) -> float:
    theirs = load_file(str(base / "model.safetensors"))
    ours = load_file(str(out / "model.safetensors"))
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    expect(
        not missing and not extra,
        f"exported tensors differ from the base's: missing {missing[:3]}, extra {extra[:3]}",
    )
    worst, worst_name = 0.0, ""
    for name, tensor in theirs.items():
        expect(
            ours[name].shape == tensor.shape, f"{name}: shape {ours[name].shape} vs the base's {tensor.shape}"
        )
        expect(bool(np.isfinite(ours[name]).all()), f"{name}: exported with a non-finite value")
        diff = float(np.abs(ours[name].astype(np.float64) - tensor.astype(np.float64)).max())
        if diff > worst:
            worst, worst_name = diff, name
    expect(worst <= TENSOR_TOL, f"{worst_name} moved {worst:.2e} from the base's (> {TENSOR_TOL})")
    return worst


def check_base(
    opts: argparse.Namespace, base: Base, dataset: Path, work: Path, pairs: list[tuple[str, str]]
) -> None:
    started = time.monotonic()
    out = train(opts, base, dataset, work, FIXTURE)
    trained_s = time.monotonic() - started
    tamis = tamis_scores(opts, out, pairs, work / f"rerank-{base.name}.log")
    logits = [s for s, _ in tamis]
    spread = max(logits) - min(logits)
    expect(
        spread > MIN_SPREAD,
        f"tamis logits spread over only {spread:.2e} (all equal: the check would prove nothing)",
    )
    n_truncated = sum(t for _, t in tamis)
    expect(
        n_truncated >= 2,
        f"only {n_truncated} pair(s) truncated at {base.max_length} tokens; the long pairs should be",
    )
    print(
        f"ok {base.name} trained {base.steps} step(s) in {trained_s:.1f} s; {len(pairs)} pairs, "
        f"{n_truncated} truncated, logits in [{min(logits):.4f}, {max(logits):.4f}]"
    )
    if base.round_trip:
        print(
            f"ok {base.name} exported tensors: max |diff| from the base's "
            f"{check_round_trip(base.path, out):.2e}"
        )
    diff = check_transformers(base, out, pairs, tamis)
    print(f"ok {base.name} transformers: max |logit - tamis| {diff:.2e}")
    raw_diff, declared_diff = check_cross_encoder(base, out, pairs, tamis)
    print(
        f"ok {base.name} CrossEncoder: max |logit - tamis| {raw_diff:.2e}; "
        f"default predict vs declared activation(tamis) {declared_diff:.2e}"
    )
    print(f"   {base.name}: {time.monotonic() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tamis", required=True, type=Path, help="the tamis binary")
    default_shared = os.environ.get("TAMIS_SHARED_DIR") or str(REPO.parent / "shared")
    parser.add_argument(
        "--shared",
        default=default_shared,
        type=Path,
        help="shared test data (default: $TAMIS_SHARED_DIR, else ../shared beside the repository)",
    )
    parser.add_argument(
        "--work", type=Path, help="working directory, kept (default: a temporary one, removed)"
    )
    parser.add_argument(
        "--bases",
        default="fixture,xlmr,minilm,round-trip",
        help="comma-separated: fixture, xlmr, minilm, round-trip",
    )
    parser.add_argument(
        "--threads", type=int, help="threads for tamis (default: its own) and torch (default: 1)"
    )
    opts = parser.parse_args()
    opts.tamis = opts.tamis.resolve()
    torch.set_num_threads(opts.threads or 1)
    transformers_logging.set_verbosity_error()

    models = opts.shared / "models"
    known = {
        "fixture": Base("fixture", FIXTURE, steps=8),
        "xlmr": Base(
            "xlmr", XLMR_FIXTURE, steps=8, max_length=40, architecture="XLMRobertaForSequenceClassification"
        ),
        "minilm": Base("minilm", models / "all-MiniLM-L6-v2", steps=3),
        "round-trip": Base(
            "round-trip", models / "tamis-ce-minilm-l6-nfcorpus", steps=1, lr="1e-30", round_trip=True
        ),
    }
    started = time.monotonic()
    name = "setup"
    work: Path | None = None
    try:
        bases = [known.get(n) for n in opts.bases.split(",")]
        expect(None not in bases, f"--bases: choose among {', '.join(known)}")
        expect(
            os.access(opts.tamis, os.X_OK),
            f"{opts.tamis} is not an executable (build it first: cargo build -p tamis-cli)",
        )
        for base in bases:
            expect(
                (base.path / "config.json").is_file(),
                f"{base.path}/config.json not found (set --shared or TAMIS_SHARED_DIR)",
            )
        work = opts.work.resolve() if opts.work else Path(tempfile.mkdtemp(prefix="check_export."))
        work.mkdir(parents=True, exist_ok=True)
        dataset = work / "dataset"
        write_dataset(dataset)
        pairs = pairs_to_score()
        for base in bases:
            name = base.name
            check_base(opts, base, dataset, work, pairs)
    except Exception as err:
        if not isinstance(err, CheckFailed):  # a loader that raised: its trace, then the reason
            traceback.print_exc()
            err = f"{type(err).__name__}: {err}"
        kept = f" (logs kept in {work})" if work else ""
        print(f"check_export: FAIL {name}: {err}{kept}", file=sys.stderr)
        return 1
    if not opts.work:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"check_export: {len(bases)} base(s), every logit within {LOGIT_TOL} of tamis's "
        f"in transformers and CrossEncoder ({time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
