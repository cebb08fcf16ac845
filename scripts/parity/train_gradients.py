#!/usr/bin/env python3
"""Reference gradients for tamis-train's backward pass, from PyTorch.

Loads each tiny one-label cross-encoder fixture that generate_fixtures.py wrote
(crates/tamis-models/tests/fixtures/bert-ce-1label, a `BertForSequenceClassification`, and
xlmr-ce-1label, an `XLMRobertaForSequenceClassification`), runs its cases one pair at a time
in eval mode (no dropout, no padding) in float64, and writes the gradient of two losses with
respect to every parameter:

- `weighted`: sum over pairs of logit * weight, weights cycling 1, -0.5, 2;
- `listwise`: softmax cross-entropy over groups of 4 consecutive pairs, the first of each
  group the positive (the fixture's cases, in order, cut into whole groups).

Computed in float64 from the float32 weights, so the reference is exact to far below the
1e-4 relative tolerance the Rust test applies to its float32 gradients.

Output: crates/tamis-train/tests/fixtures/{fixture}-gradients.safetensors, tensors named
`{loss}/{parameter}` with PyTorch's parameter names, plus `{loss}/loss` and `logits`
(computed in float64, stored as float32).

Usage (from the repository root, in the environment of requirements.txt):
    python scripts/parity/train_gradients.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModelForSequenceClassification  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates/tamis-models/tests/fixtures"
OUT_DIR = ROOT / "crates/tamis-train/tests/fixtures"
GROUP = 4


def main() -> None:
    torch.set_num_threads(1)
    for fixture in ["bert-ce-1label", "xlmr-ce-1label"]:
        write_gradients(FIXTURES / fixture, OUT_DIR / f"{fixture}-gradients.safetensors")


def write_gradients(fixture: Path, out: Path) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(fixture, dtype=torch.float64)
    model.eval()
    cases = json.loads((fixture / "expected.json").read_text())["cases"]

    def logits() -> torch.Tensor:
        out = []
        for case in cases:
            ids = torch.tensor([case["input_ids"]])
            types = torch.tensor([case["token_type_ids"]])
            out.append(model(input_ids=ids, token_type_ids=types).logits[0, 0])
        return torch.stack(out)

    weights = torch.tensor([[1.0, -0.5, 2.0][n % 3] for n in range(len(cases))], dtype=torch.float64)
    groups = len(cases) // GROUP
    assert groups >= 2, "the fixture has too few cases for two groups"

    def weighted(z: torch.Tensor) -> torch.Tensor:
        return (z * weights).sum()

    def listwise(z: torch.Tensor) -> torch.Tensor:
        grouped = z[: groups * GROUP].view(groups, GROUP)
        target = torch.zeros(groups, dtype=torch.long)
        return torch.nn.functional.cross_entropy(grouped, target)

    tensors: dict[str, torch.Tensor] = {}
    for name, loss_fn in [("weighted", weighted), ("listwise", listwise)]:
        model.zero_grad()
        z = logits()
        loss = loss_fn(z)
        loss.backward()
        tensors[f"{name}/loss"] = loss.detach().reshape(1)
        tensors["logits"] = z.detach()
        for param_name, param in model.named_parameters():
            tensors[f"{name}/{param_name}"] = param.grad.detach().clone()
    out.parent.mkdir(parents=True, exist_ok=True)
    # Stored as float32: the Rust side computes in float32, and rounding the float64
    # reference once costs 6e-8 relative, far below the test's tolerance.
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()}, out)
    print(f"wrote {out.relative_to(ROOT)}: {len(tensors)} tensors, {groups} listwise groups")


if __name__ == "__main__":
    main()
