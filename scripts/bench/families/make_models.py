#!/usr/bin/env python3
"""Random-weight cross-encoders at the real sizes of each encoder family, and the workloads to time them.

The real checkpoints cannot be downloaded here, and speed does not depend on the weights' values: these
models have each family's real layer shapes (hidden size, layers, heads, feed-forward width, attention
windows, relative buckets) with transformers' default initialization, so `tamis bench rerank` measures the
work the real models do. The vocabulary is the shared all-MiniLM-L6-v2's (30,522 WordPiece tokens, its
tokenizer.json copied beside each model), which changes only the size of the embedding table, never the
FLOPs.

Usage: python make_models.py --shared DIR --out DIR

Writes under --out:
  bert-base/                 BertForSequenceClassification, 768 x 12 layers (BERT-base: the class baseline)
  jina-reranker-v2-base/     XLMRobertaForSequenceClassification at jina-reranker-v2-base-multilingual's
                             shape (768 x 12, 1026 positions), saved under its flash-attention tensor names
  modernbert-base/           ModernBertForSequenceClassification at gte-reranker-modernbert-base's shape
                             (768 x 22, intermediate 1152, window 128, global every 3rd layer, 8192 positions)
  deberta-v3-xsmall/         DebertaV2ForSequenceClassification at mxbai-rerank-xsmall-v1's shape
                             (384 x 12, 6 heads, 256 buckets, both position terms, shared keys)
  deberta-v3-base/           the same at mxbai-rerank-base-v1's shape (768 x 12)
  rerank.jsonl               8 NFCorpus test queries x 32 passages (their first 32 qrels documents)
  long.jsonl                 4 queries x 25 passages of about 2,000 tokens (NFCorpus abstracts joined)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    ModernBertConfig,
    ModernBertForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "parity"))
from generate_encoder_families import jina_state_dict  # noqa: E402

VOCAB = 30522
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)


def models():
    bert_ids = dict(pad_token_id=0)
    yield "bert-base", BertForSequenceClassification, BertConfig(
        vocab_size=VOCAB, max_position_embeddings=512, num_labels=1, **BASE, **bert_ids)
    yield "jina-reranker-v2-base", XLMRobertaForSequenceClassification, XLMRobertaConfig(
        vocab_size=VOCAB, max_position_embeddings=1026, type_vocab_size=1, layer_norm_eps=1e-5, num_labels=1,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, **BASE)
    yield "modernbert-base", ModernBertForSequenceClassification, ModernBertConfig(
        vocab_size=VOCAB, hidden_size=768, intermediate_size=1152, num_hidden_layers=22, num_attention_heads=12,
        max_position_embeddings=8192, local_attention=128, global_attn_every_n_layers=3, num_labels=1,
        pad_token_id=0, cls_token_id=101, sep_token_id=102, bos_token_id=101, eos_token_id=102,
        classifier_pooling="mean")
    v3 = dict(relative_attention=True, position_buckets=256, max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
              share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False, type_vocab_size=0,
              layer_norm_eps=1e-7, max_position_embeddings=512, num_labels=1, pad_token_id=0)
    yield "deberta-v3-xsmall", DebertaV2ForSequenceClassification, DebertaV2Config(
        vocab_size=VOCAB, hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
        pooler_hidden_size=384, **v3)
    yield "deberta-v3-base", DebertaV2ForSequenceClassification, DebertaV2Config(
        vocab_size=VOCAB, pooler_hidden_size=768, **BASE, **v3)


def passage(doc: dict) -> str:
    return ((doc.get("title") or "") + " " + (doc.get("text") or "")).strip()


def workloads(dataset: Path, out: Path) -> None:
    corpus = {}
    with (dataset / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            corpus[doc["_id"]] = passage(doc)
    queries = {}
    with (dataset / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    judged: dict[str, list[str]] = {}
    with (dataset / "qrels" / "test.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, _ = line.rstrip("\n").split("\t")
            if did in corpus:
                judged.setdefault(qid, []).append(did)
    chosen = [q for q in judged if len(judged[q]) >= 32][:8]
    with (out / "rerank.jsonl").open("w", encoding="utf-8") as f:
        for qid in chosen:
            f.write(json.dumps({"query_id": qid, "query": queries[qid],
                                "passages": [corpus[d] for d in judged[qid][:32]]}) + "\n")
    # About 2,000 WordPiece tokens each: abstracts joined until 9,000 characters.
    texts = [t for t in corpus.values() if len(t) > 800]
    with (out / "long.jsonl").open("w", encoding="utf-8") as f:
        at = 0
        for qid in chosen[:4]:
            passages = []
            for _ in range(25):
                joined = ""
                while len(joined) < 9000:
                    joined += texts[at % len(texts)] + " "
                    at += 1
                passages.append(joined.strip())
            f.write(json.dumps({"query_id": qid, "query": queries[qid], "passages": passages}) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    tokenizer = args.shared / "models" / "all-MiniLM-L6-v2"
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, cls, config in models():
        d = args.out / name
        if (d / "config.json").is_file():
            print(f"kept {d}")
            continue
        model = cls(config).eval()
        if name.startswith("jina"):
            d.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in jina_state_dict(model).items()}, str(d / "model.safetensors"))
            config.architectures = ["XLMRobertaForSequenceClassification"]
            config.save_pretrained(d)
            raw = json.loads((d / "config.json").read_text())
            raw.pop("model_type", None)  # as jina's config.json: the architecture names the family
            (d / "config.json").write_text(json.dumps(raw, indent=2))
        else:
            model.save_pretrained(d, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(tokenizer / f, d / f)
        if name.startswith("jina"):
            # One token type, as XLM-R's tokenizer gives: the second text's type id 0 too.
            tj = json.loads((d / "tokenizer.json").read_text())
            for piece in tj["post_processor"]["pair"]:
                next(iter(piece.values()))["type_id"] = 0
            (d / "tokenizer.json").write_text(json.dumps(tj))
        tc = json.loads((d / "tokenizer_config.json").read_text())
        tc["model_max_length"] = config.max_position_embeddings - (2 if name.startswith("jina") else 0)
        (d / "tokenizer_config.json").write_text(json.dumps(tc, indent=2))
        params = sum(p.numel() for p in model.parameters())
        print(f"wrote {d}: {params / 1e6:.1f}M parameters")
    workloads(args.shared / "datasets" / "nfcorpus", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
