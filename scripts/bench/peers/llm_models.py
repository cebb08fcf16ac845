"""Random-weight LLM rerankers at the real shapes, for the LLM peer benchmark (llm_bench.py).

Usage:
    python llm_models.py [--out target/llm-models] [--seed 0] [--only qwen3|mxbai] [--force]

Writes, in bfloat16 with `save_pretrained` (one model.safetensors each, tied embeddings):
    OUT/qwen3-reranker-0.6b-random/     Qwen3ForCausalLM, the shapes of Qwen/Qwen3-Reranker-0.6B (~1.2 GB)
    OUT/mxbai-rerank-base-v2-random/    Qwen2ForCausalLM, the shapes of mixedbread-ai/mxbai-rerank-base-v2 (~1.0 GB)
with the tokenizer files of the tiny parity fixture (crates/tamis-models/tests/fixtures/llm/qwen3-reranker-tied:
a 905-token byte-level BPE with Qwen's pipeline; every id is far below the 151936 embedding rows). The speed of a
decoder does not depend on its weights' values, and both engines load the same directory, so random weights are
enough to time them and to compare their scores.

A directory that already has config.json, model.safetensors and tokenizer.json is kept (--force rebuilds it).
The weights are created directly in bfloat16 (transformers' default initialisation: N(0, initializer_range) for
linear and embedding weights, ones for the RMSNorm weights), so the peak memory is about one model in bf16.
"""
import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "crates" / "tamis-models" / "tests" / "fixtures" / "llm" / "qwen3-reranker-tied"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

# memo (notes/issue20-design.md) 1.1, "Real shapes"
MODELS = {
    "qwen3": ("qwen3-reranker-0.6b-random", "Qwen3ForCausalLM", dict(
        hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
        intermediate_size=3072, vocab_size=151936, tie_word_embeddings=True, rope_theta=1_000_000.0,
        max_position_embeddings=40960, rms_norm_eps=1e-6, hidden_act="silu", attention_bias=False,
        use_sliding_window=False, rope_scaling=None)),
    "mxbai": ("mxbai-rerank-base-v2-random", "Qwen2ForCausalLM", dict(
        hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
        intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True, rope_theta=1_000_000.0,
        max_position_embeddings=32768, rms_norm_eps=1e-6, hidden_act="silu", use_sliding_window=False,
        rope_scaling=None)),  # Qwen2: head_dim = 896 / 14 = 64
}


def complete(d: Path) -> bool:
    return all((d / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json"))


def build(key: str, out: Path, seed: int, force: bool) -> Path:
    name, arch, shape = MODELS[key]
    d = out / name
    if complete(d) and not force:
        print(f"{d}: already there, kept", flush=True)
        return d
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tok_cfg = json.loads((FIXTURE / "tokenizer_config.json").read_text(encoding="utf-8"))
    eos_id = next(int(i) for i, t in tok_cfg["added_tokens_decoder"].items() if t["content"] == "<|im_end|>")
    config_cls, model_cls = (Qwen3Config, Qwen3ForCausalLM) if key == "qwen3" else (Qwen2Config, Qwen2ForCausalLM)
    config = config_cls(**shape, bos_token_id=None, eos_token_id=eos_id, pad_token_id=None)
    config.architectures = [arch]
    started = time.perf_counter()
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # allocate and initialise in bf16: no fp32 copy
    try:
        model = model_cls(config).eval()
    finally:
        torch.set_default_dtype(previous)
    assert model.dtype == torch.bfloat16, model.dtype
    params = sum(p.numel() for p in model.parameters())
    tmp = d.with_name(d.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True, max_shard_size="20GB")
    del model
    for f in TOKENIZER_FILES:
        shutil.copy2(FIXTURE / f, tmp / f)
    (tmp / "RANDOM_WEIGHTS.txt").write_text(
        f"Random weights (seed {seed}) at the shapes of {'Qwen/Qwen3-Reranker-0.6B' if key == 'qwen3' else 'mixedbread-ai/mxbai-rerank-base-v2'}, "
        f"built by scripts/bench/peers/llm_models.py for speed measurements only; the tokenizer is the tiny "
        f"parity fixture's ({FIXTURE.relative_to(REPO)}).\n", encoding="utf-8")
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)
    size = sum(p.stat().st_size for p in d.iterdir() if p.is_file())
    print(f"{d}: {arch}, {params / 1e6:.1f} M parameters, {size / 1e9:.2f} GB, "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "target" / "llm-models",
                    help="output directory (default: target/llm-models)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=sorted(MODELS), help="build one of the two models only")
    ap.add_argument("--force", action="store_true", help="rebuild models that are already there")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the initialisation (default 2)")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if not (FIXTURE / "tokenizer.json").is_file():
        print(f"error: fixture tokenizer {FIXTURE} not found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for key in [args.only] if args.only else list(MODELS):
        build(key, args.out, args.seed, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
