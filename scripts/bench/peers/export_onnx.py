"""Export a Hugging Face BERT model directory to ONNX, in three variants, for the peer benchmark.

Usage:
    python export_onnx.py --model DIR --kind rerank|embed --out OUT_DIR [--force]
    python export_onnx.py --shared ../shared --out target/peers-onnx      # both models of shared/

For a cross-encoder (kind rerank, BertForSequenceClassification) the graph outputs `logits` [batch, n_labels];
for a bi-encoder (kind embed, a sentence-transformers BertModel) it outputs `last_hidden_state`
[batch, seq, hidden], and bench.py does mean pooling + L2 normalisation in numpy, as sentence-transformers does.
Inputs: input_ids, attention_mask, token_type_ids (int64 [batch, seq], both axes dynamic).

Written into OUT_DIR/<model dir name>/:
    model.onnx         fp32, as exported by torch.onnx.export (TorchScript exporter, opset 17)
    model-opt.onnx     fp32, onnxruntime.transformers.optimizer (model_type bert: fused attention, GELU,
                       LayerNorm, embedding layer norm, SkipLayerNorm, BiasGelu)
    model-int8.onnx    model-opt.onnx dynamically quantised (onnxruntime.quantization.quantize_dynamic, QInt8
                       weights, per channel; --int8-per-tensor for quantize_dynamic's per-tensor default)
    export.json        what was done (versions, fused operator counts)
A variant already present is kept (delete it, or pass --force, to redo it).
"""
import argparse
import json
import os
import sys
from pathlib import Path

OPSET = 17
VARIANTS = {"fp32": "model.onnx", "opt": "model-opt.onnx", "int8": "model-int8.onnx"}


def model_config(model_dir: Path) -> dict:
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        sys.exit(f"error: {model_dir} is not a Hugging Face model directory (no config.json)")
    return json.loads(config_path.read_text())


def export_fp32(model_dir: Path, kind: str, out_path: Path) -> None:
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    # eager attention: the exported graph then has the MatMul/Softmax pattern that the
    # onnxruntime BERT optimizer recognises and fuses into its Attention operator
    loader = AutoModelForSequenceClassification if kind == "rerank" else AutoModel
    model = loader.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    sample = tokenizer(["a short query", "another query"], ["a passage of text", "a second, longer passage of text"],
                       padding=True, return_tensors="pt")
    inputs = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    output_name = "logits" if kind == "rerank" else "last_hidden_state"
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    dynamic_axes[output_name] = {0: "batch"} if kind == "rerank" else {0: "batch", 1: "sequence"}

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             return_dict=True)
            return out["logits"] if kind == "rerank" else out["last_hidden_state"]

    tmp_path = out_path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(Wrapper(model), inputs, str(tmp_path), dynamo=False, opset_version=OPSET,
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=[output_name],
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    os.replace(tmp_path, out_path)


def optimize(in_path: Path, out_path: Path, config: dict) -> dict:
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(in_path), model_type="bert", num_heads=config["num_attention_heads"],
                                     hidden_size=config["hidden_size"], opt_level=None, use_gpu=False)
    fused = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    tmp_path = out_path.with_suffix(".tmp.onnx")
    model.save_model_to_file(str(tmp_path))
    os.replace(tmp_path, out_path)
    return fused


def quantize(in_path: Path, out_path: Path, per_channel: bool) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp_path = out_path.with_suffix(".tmp.onnx")
    # shape inference does not know the fused com.microsoft operators (Attention, SkipLayerNormalization):
    # tell the quantizer that tensors of unknown type are float
    quantize_dynamic(str(in_path), str(tmp_path), weight_type=QuantType.QInt8, per_channel=per_channel,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    os.replace(tmp_path, out_path)


def check(path: Path, kind: str) -> None:
    """Load the file in onnxruntime and run it once, so a broken export fails here, not in the benchmark."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"input_ids": np.array([[101, 2023, 102, 2003, 102]], dtype=np.int64),
            "attention_mask": np.ones((1, 5), dtype=np.int64),
            "token_type_ids": np.array([[0, 0, 0, 1, 1]], dtype=np.int64)}
    feed = {i.name: feed[i.name] for i in session.get_inputs()}
    (out,) = session.run(None, feed)
    if not np.all(np.isfinite(out)):
        sys.exit(f"error: {path} gives non-finite outputs")


def detect_kind(model_dir: Path) -> str:
    archs = model_config(model_dir).get("architectures") or []
    return "rerank" if any("SequenceClassification" in a for a in archs) else "embed"


def export(model_dir: Path, kind: str, out_root: Path, force: bool, per_channel: bool) -> Path:
    if not model_dir.is_dir():
        sys.exit(f"error: model directory {model_dir} not found")
    config = model_config(model_dir)
    if config.get("model_type") != "bert":
        print(f"warning: {model_dir} has model_type {config.get('model_type')!r}; the optimizer is run as bert",
              file=sys.stderr)
    out_dir = out_root / model_dir.resolve().name
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / v for k, v in VARIANTS.items()}
    if force:
        for p in paths.values():
            p.unlink(missing_ok=True)
    meta_path = out_dir / "export.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() and not force else {}
    int8_options = {"weight_type": "QInt8", "per_channel": per_channel}
    if paths["int8"].is_file() and meta.get("int8_options") != int8_options:
        print(f"{paths['int8']} was quantized with other options ({meta.get('int8_options')}): redoing it")
        paths["int8"].unlink()

    done = []
    if not paths["fp32"].is_file():
        print(f"exporting {model_dir} ({kind}) -> {paths['fp32']}", flush=True)
        export_fp32(model_dir, kind, paths["fp32"])
        check(paths["fp32"], kind)
        done.append("fp32")
    if not paths["opt"].is_file():
        print(f"optimizing -> {paths['opt']}", flush=True)
        meta["fused_operators"] = optimize(paths["fp32"], paths["opt"], config)
        print(f"  fused operators: {meta['fused_operators']}", flush=True)
        check(paths["opt"], kind)
        done.append("opt")
    if not paths["int8"].is_file():
        print(f"quantizing (dynamic, QInt8 weights, {'per channel' if per_channel else 'per tensor'})"
              f" -> {paths['int8']}", flush=True)
        quantize(paths["opt"], paths["int8"], per_channel)
        meta["int8_options"] = int8_options
        check(paths["int8"], kind)
        done.append("int8")
    if done:
        import onnx
        import onnxruntime
        import torch
        import transformers

        meta.update({"model_dir": str(model_dir.resolve()), "kind": kind, "opset": OPSET,
                     "files": {k: v.name for k, v in paths.items()},
                     "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                  "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}})
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    else:
        print(f"{out_dir}: all variants already exported (use --force to redo)", flush=True)
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a Hugging Face model directory")
    parser.add_argument("--kind", choices=["rerank", "embed"], help="default: from config.json architectures")
    parser.add_argument("--shared", type=Path,
                        help="export shared/models/tamis-ce-minilm-l6-nfcorpus and shared/models/all-MiniLM-L6-v2")
    parser.add_argument("--out", type=Path, required=True, help="output root (one sub-directory per model)")
    parser.add_argument("--force", action="store_true", help="re-export even if the files exist")
    parser.add_argument("--int8-per-tensor", action="store_true",
                        help="quantize weights per tensor (quantize_dynamic's default) instead of per channel; "
                             "per tensor is as fast here but much less accurate (embedding cosine ~0.92 vs ~0.993)")
    args = parser.parse_args()
    if bool(args.model) == bool(args.shared):
        parser.error("give exactly one of --model or --shared")
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    if args.shared:
        for name, kind in (("tamis-ce-minilm-l6-nfcorpus", "rerank"), ("all-MiniLM-L6-v2", "embed")):
            print(export(args.shared / "models" / name, kind, args.out, args.force, not args.int8_per_tensor))
    else:
        print(export(args.model, args.kind or detect_kind(args.model), args.out, args.force,
                     not args.int8_per_tensor))


if __name__ == "__main__":
    main()
