"""How far int8 moves a cross-encoder's logits, by activation scale group size.

Simulates tamis' int8 layers in PyTorch: every `nn.Linear` of the encoder (the
classifier head stays fp32, as in tamis) multiplies quantized-then-dequantized operands
in f32. Weights: symmetric, 127 levels, one scale per output channel. Activations:
symmetric, 127 levels, one scale per row and group of G consecutive inputs (G = 0: one
per row). Rounding is half to even, as the kernels round.

For each G it prints the largest and mean |Δ logit| against fp32, and the share of
document pairs within each query whose order flips. Pairs: the model's reference pairs
(`reference_scores.jsonl`), plus `--queries` test queries of a BEIR dataset, each
against `--docs` documents drawn with a fixed seed.

    .venv-peers/bin/python scripts/eval/int8_group_sim.py \
        --model ../shared/models/tamis-ce-minilm-l6-nfcorpus \
        --dataset ../shared/datasets/nfcorpus --groups 0 32 64 128
"""

import argparse
import json
import random
import sys
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def quantize(x: torch.Tensor, group: int) -> torch.Tensor:
    """Symmetric int8 per row (group 0) or per row and group of `group` inputs,
    dequantized back to f32."""
    shape = x.shape
    k = shape[-1]
    if group == 0 or group >= k:
        rows = x.reshape(-1, 1, k)
    else:
        pad = (-k) % group
        rows = torch.nn.functional.pad(x.reshape(-1, k), (0, pad)).reshape(-1, (k + pad) // group, group)
    scale = rows.abs().amax(dim=-1, keepdim=True) / 127.0
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(rows / safe).clamp(-127, 127) * scale
    q = q.reshape(q.shape[0], -1)[:, :k]
    return q.reshape(shape)


class Int8Linear(torch.nn.Module):
    def __init__(self, linear: torch.nn.Linear, group: int):
        super().__init__()
        self.group = group
        w = linear.weight.detach()
        self.weight = quantize(w, 0)  # one scale per output channel (row of [out, in])
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x):
        return torch.nn.functional.linear(quantize(x, self.group), self.weight, self.bias)


def swap_linears(module: torch.nn.Module, group: int):
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, Int8Linear(child, group))
        else:
            swap_linears(child, group)


def read_jsonl(path: Path):
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def pair_lists(model_dir: Path, dataset: Path | None, queries: int, docs: int, seed: int):
    """[(query, [documents])]: the reference pairs, then the dataset's."""
    lists = []
    ref = model_dir / "reference_scores.jsonl"
    if ref.exists():
        lists += [(r["query"], r["documents"]) for r in read_jsonl(ref)]
    if dataset is not None:
        qrels = dataset / "qrels" / "test.tsv"
        test_ids = {line.split("\t")[0] for line in qrels.read_text().splitlines()[1:] if line.strip()}
        qs = [q for q in read_jsonl(dataset / "queries.jsonl") if q["_id"] in test_ids][:queries]
        corpus = read_jsonl(dataset / "corpus.jsonl")
        rng = random.Random(seed)
        for q in qs:
            picked = rng.sample(corpus, docs)
            lists.append((q["text"], [(d.get("title", "") + " " + d["text"]).strip() for d in picked]))
    return lists


@torch.no_grad()
def logits(model, tokenizer, lists, max_length: int):
    out = []
    for query, documents in lists:
        enc = tokenizer([query] * len(documents), documents, truncation=True, max_length=max_length,
                        padding=True, return_tensors="pt")
        out.append(model(**enc).logits.squeeze(-1).float())
    return out


def flips(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int]:
    da = a[:, None] - a[None, :]
    db = b[:, None] - b[None, :]
    upper = torch.triu(torch.ones_like(da, dtype=torch.bool), diagonal=1)
    return int(((da * db) < 0)[upper].sum()), int(upper.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--dataset", type=Path)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--docs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--groups", type=int, nargs="+", default=[0, 32, 64, 128])
    args = ap.parse_args()
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    lists = pair_lists(args.model, args.dataset, args.queries, args.docs, args.seed)
    if not lists:
        sys.exit(f"no pairs: {args.model / 'reference_scores.jsonl'} is missing and no --dataset was given")
    n_pairs = sum(len(d) for _, d in lists)
    print(f"model {args.model}, {len(lists)} queries, {n_pairs} pairs, max_length {args.max_length}")
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    reference = logits(model, tokenizer, lists, args.max_length)
    print("| activation group | max abs dlogit | mean abs dlogit | order flips |")
    print("|---|---:|---:|---:|")
    for group in args.groups:
        quantized = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
        swap_linears(quantized.bert.encoder if hasattr(quantized, "bert") else quantized.base_model, group)
        got = logits(quantized, tokenizer, lists, args.max_length)
        deltas = torch.cat([(g - r).abs() for g, r in zip(got, reference)])
        flipped = [flips(g, r) for g, r in zip(got, reference)]
        f, t = sum(x for x, _ in flipped), sum(y for _, y in flipped)
        label = "per row" if group == 0 else f"{group} inputs"
        print(f"| {label} | {deltas.max():.4f} | {deltas.mean():.4f} | {f} of {t} ({100 * f / t:.2f} %) |",
              flush=True)


if __name__ == "__main__":
    main()
