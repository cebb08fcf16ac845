#!/usr/bin/env python3
"""Parity fixtures for the encoder families beyond BERT and XLM-R (issue 24).

Builds tiny random ModernBERT, DeBERTa-v2/v3 and jina-reranker-v2 models with `transformers` (no Hub access) and records what
`transformers` and `sentence-transformers` compute for them, in the layout of the BERT
fixtures (`expected.json` beside each model), so the Rust tests read them the same way.

Usage (from the repository root, in the environment of requirements.txt):
    python scripts/parity/generate_encoder_families.py [--shared DIR] [--out DIR]

It imports the helpers of generate_fixtures.py (seeds, noise, float format, corpus) and reads
the byte-level BPE tokenizer of `llm/qwen3-reranker-tied/` (generate_llm_rerankers.py), to
which it adds ModernBERT's special tokens and [CLS]/[SEP] template. See scripts/parity/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_fixtures import (  # noqa: E402
    NOISE_STD,
    REPO_ROOT,
    SEED,
    TOKENIZER_VOCAB,
    _spm_rules,
    train_xlmr_tokenizer,
    training_texts,
    wrap_xlmr,
    xlmr_config,
    T_ACCENTS_Q,
    T_CJK_D,
    build_model,
    ce_cases,
    default_shared,
    embed_texts,
    floats,
    load_corpus,
    remove_empty_dirs,
    reset_dir,
    write_fixture_json,
)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tokenizers import AddedToken, Tokenizer, processors  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DebertaV2Model,
    DebertaV2Tokenizer,
    DebertaV2TokenizerFast,
    ModernBertConfig,
    ModernBertForSequenceClassification,
    ModernBertModel,
    PreTrainedTokenizerFast,
    XLMRobertaForSequenceClassification,
)
from safetensors.torch import save_file  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers import models as st_models  # noqa: E402

HIDDEN = 32
HEADS = 4
LAYERS = 4  # global attention in layers 0 and 3 (every 3rd), local in 1 and 2
INTERMEDIATE = 48
MAX_LENGTH = 512
LOCAL_ATTENTION = 16  # keys within 8 rows either side in local layers
VOCAB_SIZE = 960  # the tokenizer's 910 entries rounded up to a multiple of 64
MODERNBERT_SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]

CE_SPECS = [
    # name, num_labels, extra config, seed offset
    ("modernbert-ce-1label", 1, dict(), 30),
    ("modernbert-ce-2label-mean", 2, dict(
        classifier_pooling="mean", hidden_activation="gelu_pytorch_tanh", norm_bias=True,
        attention_bias=True, mlp_bias=True, classifier_bias=True, classifier_activation="silu",
        global_attn_every_n_layers=2,
    ), 31),
]
EMBED_SPEC = ("modernbert-embed-mean", 32)

DEBERTA_SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]  # ids 0-3 as in DeBERTa-v3; [MASK] last
DEBERTA_LAYERS = 2
DEBERTA_INTERMEDIATE = 64
# DeBERTa-v3 (mxbai-rerank-*-v1): shared key projections, both position terms, log buckets,
# a normed relative table, no absolute positions, no token types.
DEBERTA_V3 = dict(
    relative_attention=True, position_buckets=16, max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
    share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False, type_vocab_size=0,
    layer_norm_eps=1e-7,
)
DEBERTA_CE_SPECS = [
    # name, num_labels, extra config, seed offset
    ("deberta-v3-ce-1label", 1, DEBERTA_V3, 40),
    # DeBERTa-v2 style: separate position projections, c2p only, no buckets (distances clamped at
    # 24), absolute positions added to the input, two token types, an un-normed table, tanh GELU.
    ("deberta-v2-ce-2label", 2, dict(
        relative_attention=True, position_buckets=-1, max_relative_positions=24, pos_att_type=["c2p"],
        share_att_key=False, norm_rel_ebd="none", position_biased_input=True, type_vocab_size=2,
        hidden_act="gelu_new", pooler_hidden_act="gelu_new",
    ), 41),
]
DEBERTA_EMBED_SPEC = ("deberta-v3-embed-mean", 42)

JINA_NAME, JINA_SEED = "jina-reranker-v2", 50
# The layer names of Jina's "XLM-RoBERTa flash implementation", from transformers' (per layer).
JINA_LAYER_NAMES = [
    ("attention.output.dense.", "mixer.out_proj."),
    ("attention.output.LayerNorm.", "norm1."),
    ("intermediate.dense.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."),
    ("output.LayerNorm.", "norm2."),
]


def modernbert_tokenizer(qwen_tokenizer: Path) -> Tokenizer:
    """ModernBERT's pipeline: byte-level BPE, special tokens after the vocabulary, and the
    `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B [SEP]` template (the second text's type id 1)."""
    tok = Tokenizer.from_file(str(qwen_tokenizer))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in MODERNBERT_SPECIALS])
    vocab = tok.get_vocab()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    assert tok.get_vocab_size() <= VOCAB_SIZE, tok.get_vocab_size()
    return tok


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=MAX_LENGTH, unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]",
        model_input_names=["input_ids", "attention_mask"],
    )


def config(tok: Tokenizer, **kw) -> ModernBertConfig:
    vocab = tok.get_vocab()
    base = dict(
        vocab_size=VOCAB_SIZE, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS, max_position_embeddings=MAX_LENGTH,
        local_attention=LOCAL_ATTENTION, pad_token_id=vocab["[PAD]"], cls_token_id=vocab["[CLS]"],
        bos_token_id=vocab["[CLS]"], sep_token_id=vocab["[SEP]"], eos_token_id=vocab["[SEP]"],
        attn_implementation="sdpa",
    )
    base.update(kw)
    return ModernBertConfig(**base)


def train_deberta_tokenizer(texts: list[str]) -> Tokenizer:
    """SentencePiece Unigram (deterministic, single thread) with DeBERTa-v3's special pieces,
    converted the way transformers converts DeBERTa-v2/v3 (`DebertaV2Converter`: Strip, the
    precompiled normalizer, runs of spaces collapsed, Metaspace, the [CLS]/[SEP] template)."""
    import sentencepiece as spm
    from transformers.convert_slow_tokenizer import convert_slow_tokenizer

    with tempfile.TemporaryDirectory(prefix="tamis-spm-") as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text(
            "".join(" ".join(f"{c:X}" for c in s) + "\t" + " ".join(f"{c:X}" for c in t) + "\n"
                    for s, t in _spm_rules()),
            encoding="utf-8",
        )
        model = Path(tmp) / "spm.model"
        with model.open("wb") as f:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=f, model_type="unigram",
                vocab_size=TOKENIZER_VOCAB - 1, character_coverage=1.0, normalization_rule_tsv=str(rules),
                num_threads=1, shuffle_input_sentence=False, input_sentence_size=0, byte_fallback=False,
                pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]",
                eos_piece="[SEP]", unk_piece="[UNK]", minloglevel=2,
            )
        slow = DebertaV2Tokenizer(vocab_file=str(model), do_lower_case=False, split_by_punct=False)
        tok = convert_slow_tokenizer(slow)
    tok.add_special_tokens([AddedToken("[MASK]", special=True, normalized=False)])
    vocab = tok.get_vocab()
    for i, t in enumerate(DEBERTA_SPECIALS):
        assert vocab[t] == i, (t, vocab[t])
    return tok


def wrap_deberta(tok: Tokenizer) -> DebertaV2TokenizerFast:
    return DebertaV2TokenizerFast(
        tokenizer_object=tok, model_max_length=MAX_LENGTH, do_lower_case=False, split_by_punct=False,
        bos_token="[CLS]", eos_token="[SEP]", unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
        cls_token="[CLS]", mask_token="[MASK]",
    )


def deberta_config(tok: Tokenizer, **kw) -> DebertaV2Config:
    base = dict(
        vocab_size=tok.get_vocab_size(), hidden_size=HIDDEN, num_hidden_layers=DEBERTA_LAYERS,
        num_attention_heads=HEADS, intermediate_size=DEBERTA_INTERMEDIATE, max_position_embeddings=MAX_LENGTH,
        pad_token_id=0, hidden_act="gelu", pooler_hidden_act="gelu", pooler_hidden_size=HIDDEN,
        pooler_dropout=0, attn_implementation="eager",
    )
    base.update(kw)
    return DebertaV2Config(**base)


def reference_buckets(config: DebertaV2Config) -> list[int]:
    """transformers' bucket of every distance -(MAX_LENGTH-1)..MAX_LENGTH-1, as the model computes it."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    distances = torch.arange(-(MAX_LENGTH - 1), MAX_LENGTH, dtype=torch.long)
    max_relative = config.max_relative_positions if config.max_relative_positions > 0 else config.max_position_embeddings
    if config.position_buckets > 0:
        return [int(b) for b in make_log_bucket_position(distances, config.position_buckets, max_relative)]
    return [int(b) for b in distances]


def jina_state_dict(model) -> dict[str, torch.Tensor]:
    """transformers' XLM-R tensors under jina-reranker-v2's names: `emb_ln`, `encoder.layers.N.mixer.Wqkv`
    (Q, K, V stacked by rows), `mixer.out_proj`, `norm1`, `mlp.fc1`, `mlp.fc2`, `norm2`."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    out = {}
    for name in sorted(state):
        if ".attention.self." in name:
            continue
        new = name.replace("roberta.embeddings.LayerNorm.", "roberta.emb_ln.")
        if ".encoder.layer." in new:
            prefix, rest = new.split(".encoder.layer.", 1)
            layer, part = rest.split(".", 1)
            for old, jina in JINA_LAYER_NAMES:
                if part.startswith(old):
                    part = jina + part[len(old):]
                    break
            new = f"{prefix}.encoder.layers.{layer}.{part}"
        out[new] = state[name]
    for layer in range(model.config.num_hidden_layers):
        for kind in ("weight", "bias"):
            parts = [state[f"roberta.encoder.layer.{layer}.attention.self.{p}.{kind}"] for p in ("query", "key", "value")]
            out[f"roberta.encoder.layers.{layer}.mixer.Wqkv.{kind}"] = torch.cat(parts, dim=0)
    return out


def from_jina(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of `jina_state_dict`, to check it loses nothing."""
    out = {}
    for name, tensor in state.items():
        new = name.replace("roberta.emb_ln.", "roberta.embeddings.LayerNorm.")
        if ".encoder.layers." in new:
            prefix, rest = new.split(".encoder.layers.", 1)
            layer, part = rest.split(".", 1)
            if part.startswith("mixer.Wqkv."):
                kind = part.rsplit(".", 1)[1]
                for p, chunk in zip(("query", "key", "value"), tensor.chunk(3, dim=0)):
                    out[f"{prefix}.encoder.layer.{layer}.attention.self.{p}.{kind}"] = chunk
                continue
            for old, jina in JINA_LAYER_NAMES:
                if part.startswith(jina):
                    part = old + part[len(jina):]
                    break
            new = f"{prefix}.encoder.layer.{layer}.{part}"
        out[new] = tensor
    return out


def generate_jina(out: Path, raw_tok: Tokenizer, cases) -> Path:
    """jina-reranker-v2's layout: its config.json (no model_type, remote-code auto_map), its tensor names,
    bf16 weights. Its remote code cannot be downloaded here; its layers are transformers' XLM-R operations
    (post-norm, exact GELU, scale 1/sqrt(d), positions from pad + 1, a one-row token-type table,
    RobertaClassificationHead), so the reference is XLMRobertaForSequenceClassification on the same
    (bf16-rounded) weights."""
    d = out / JINA_NAME
    reset_dir(d)
    hf_tok = wrap_xlmr(raw_tok, MAX_LENGTH)
    cfg = xlmr_config(raw_tok.get_vocab_size(), num_labels=1, layer_norm_eps=1e-5, max_position_embeddings=MAX_LENGTH + 2)
    model = build_model(XLMRobertaForSequenceClassification, cfg, SEED + JINA_SEED)
    model = model.to(torch.bfloat16).to(torch.float32).eval()  # the checkpoint's bf16 values, computed in fp32
    state = jina_state_dict(model)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in state.items()}, str(d / "model.safetensors"))
    back = XLMRobertaForSequenceClassification(cfg).eval()
    back.load_state_dict(from_jina(state), strict=False)
    missing = set(back.state_dict()) - set(from_jina(state)) - {"roberta.embeddings.position_ids"}
    assert not missing, missing
    config = {
        "_name_or_path": "jinaai/jina-reranker-v2-base-multilingual",
        "architectures": ["XLMRobertaForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "auto_map": {
            "AutoConfig": "configuration_xlm_roberta.XLMRobertaFlashConfig",
            "AutoModel": "modeling_xlm_roberta.XLMRobertaModel",
            "AutoModelForSequenceClassification": "modeling_xlm_roberta.XLMRobertaForSequenceClassification",
        },
        "bos_token_id": 0, "classifier_dropout": None, "emb_pooler": None, "eos_token_id": 2,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": cfg.hidden_size,
        "id2label": {"0": "LABEL_0"}, "initializer_range": 0.02, "intermediate_size": cfg.intermediate_size,
        "label2id": {"LABEL_0": 0}, "layer_norm_eps": 1e-05, "max_position_embeddings": cfg.max_position_embeddings,
        "num_attention_heads": cfg.num_attention_heads, "num_hidden_layers": cfg.num_hidden_layers,
        "output_past": True, "pad_token_id": 1, "position_embedding_type": "absolute", "torch_dtype": "bfloat16",
        "transformers_version": "4.39.3", "type_vocab_size": 1, "use_cache": False, "use_flash_attn": True,
        "vocab_size": cfg.vocab_size,
    }
    (d / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    hf_tok.save_pretrained(d)
    records = []
    worst = 0.0
    for query, document, truncation in cases:
        ids, type_ids, truncated = pair_inputs(hf_tok, raw_tok, query, document, truncation)
        got = logits(model, ids)
        worst = max(worst, float(np.abs(np.array(logits(back, ids)) - np.array(got)).max()))
        records.append({"query": query, "document": document, "truncation": truncation,
                        "input_ids": ids, "token_type_ids": type_ids, "truncated": truncated, "logits": got})
    assert worst == 0.0, ("the renamed weights give other logits", worst)
    write_fixture_json(d / "expected.json", {"max_length": MAX_LENGTH, "num_labels": 1}, records)
    print(f"  {JINA_NAME}: {len(records)} cases, longest {max(len(r['input_ids']) for r in records)} tokens, "
          f"truncated {sum(r['truncated'] for r in records)}")
    return d


def long_cases(corpus: list[dict]) -> list[tuple[str, str, str]]:
    """Pairs near and past 512 tokens, so local windows and truncation both matter."""
    long_docs = [d["text"] for d in corpus if len(d.get("text", "")) > 1500][:6]
    return [
        ("does coffee raise blood pressure", long_docs[0][:900], "longest_first"),
        ("statins and muscle pain", long_docs[1] + " " + long_docs[2], "longest_first"),
        ("statins and muscle pain", long_docs[1] + " " + long_docs[2], "only_second"),
        (long_docs[3][:1200], long_docs[4], "longest_first"),
        (T_ACCENTS_Q, T_CJK_D + " " + long_docs[5][:600], "only_second"),
    ]


def pair_inputs(hf_tok, raw_tok: Tokenizer, query: str, document: str, truncation: str):
    enc = hf_tok(query, document, truncation=truncation, max_length=MAX_LENGTH, return_token_type_ids=True)
    raw = raw_tok.encode(query, document)
    full = len(raw.ids)
    raw_tok.enable_truncation(max_length=MAX_LENGTH, strategy=truncation)
    cut = raw_tok.encode(query, document)
    raw_tok.no_truncation()
    assert cut.ids == enc["input_ids"], (query[:40], "raw tokenizer.json and transformers differ")
    assert cut.type_ids == enc["token_type_ids"], (query[:40], "type ids differ")
    return enc["input_ids"], cut.type_ids, full > MAX_LENGTH


def logits(model, ids: list[int], type_ids: list[int] | None = None) -> list:
    extra = {} if type_ids is None else {"token_type_ids": torch.tensor([type_ids])}
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), **extra)
    return floats(out.logits[0])


def generate_cross_encoder(out: Path, spec, raw_tok: Tokenizer, cases) -> tuple[Path, int]:
    name, num_labels, extra, seed_off = spec
    d = out / name
    reset_dir(d)
    hf_tok = wrap(raw_tok)
    model = build_model(ModernBertForSequenceClassification, config(raw_tok, num_labels=num_labels, **extra),
                        SEED + seed_off)
    model.save_pretrained(d, safe_serialization=True)
    hf_tok.save_pretrained(d)
    eager = AutoModelForSequenceClassification.from_pretrained(d, attn_implementation="eager").eval()
    records, batch = [], []
    for query, document, truncation in cases:
        ids, type_ids, truncated = pair_inputs(hf_tok, raw_tok, query, document, truncation)
        got = logits(model, ids)
        # The eager and sdpa attentions agree, unpadded.
        assert np.abs(np.array(logits(eager, ids)) - np.array(got)).max() < 1e-5, query[:40]
        batch.append(ids)
        records.append({"query": query, "document": document, "truncation": truncation,
                        "input_ids": ids, "token_type_ids": type_ids, "truncated": truncated,
                        "logits": got})
    # One right-padded batch (the sliding-window mask and padding together) gives the same logits.
    pad = raw_tok.get_vocab()["[PAD]"]
    width = max(len(ids) for ids in batch)
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in batch])
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch])
    with torch.no_grad():
        padded = model(input_ids=input_ids, attention_mask=mask).logits.numpy()
    worst = float(np.abs(padded - np.array([r["logits"] for r in records])).max())
    assert worst < 1e-4, (name, "padded batch", worst)
    write_fixture_json(d / "expected.json", {"max_length": MAX_LENGTH, "num_labels": num_labels}, records)
    longest = max(len(r["input_ids"]) for r in records)
    print(f"  {name}: {len(records)} cases, longest {longest} tokens, "
          f"truncated {sum(r['truncated'] for r in records)}, padded batch within {worst:.1e}")
    return d, longest


def generate_deberta_cross_encoder(out: Path, spec, raw_tok: Tokenizer, cases) -> Path:
    name, num_labels, extra, seed_off = spec
    d = out / name
    reset_dir(d)
    hf_tok = wrap_deberta(raw_tok)
    cfg = deberta_config(raw_tok, num_labels=num_labels, **extra)
    model = build_model(DebertaV2ForSequenceClassification, cfg, SEED + seed_off)
    model.save_pretrained(d, safe_serialization=True)
    hf_tok.save_pretrained(d)
    uses_types = cfg.type_vocab_size > 0
    records, batch = [], []
    for query, document, truncation in cases:
        ids, type_ids, truncated = pair_inputs(hf_tok, raw_tok, query, document, truncation)
        batch.append((ids, type_ids))
        records.append({"query": query, "document": document, "truncation": truncation,
                        "input_ids": ids, "token_type_ids": type_ids, "truncated": truncated,
                        "logits": logits(model, ids, type_ids if uses_types else None)})
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.tensor([ids + [0] * (width - len(ids)) for ids, _ in batch])
    types = torch.tensor([t + [0] * (width - len(t)) for _, t in batch])
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch])
    with torch.no_grad():
        padded = model(input_ids=input_ids, attention_mask=mask,
                       **({"token_type_ids": types} if uses_types else {})).logits.numpy()
    worst = float(np.abs(padded - np.array([r["logits"] for r in records])).max())
    assert worst < 1e-4, (name, "padded batch", worst)
    header = {"max_length": MAX_LENGTH, "num_labels": num_labels, "buckets": reference_buckets(cfg)}
    write_fixture_json(d / "expected.json", header, records)
    print(f"  {name}: {len(records)} cases, longest {max(len(r['input_ids']) for r in records)} tokens, "
          f"truncated {sum(r['truncated'] for r in records)}, padded batch within {worst:.1e}")
    return d


def generate_embedder(out: Path, raw_tok: Tokenizer, texts: list[str], deberta: bool = False) -> Path:
    name, seed_off = DEBERTA_EMBED_SPEC if deberta else EMBED_SPEC
    d = out / name
    reset_dir(d)
    with tempfile.TemporaryDirectory(prefix="tamis-parity-") as tmp:
        if deberta:
            model = build_model(DebertaV2Model, deberta_config(raw_tok, **DEBERTA_V3), SEED + seed_off)
            hf_tok = wrap_deberta(raw_tok)
        else:
            model = build_model(ModernBertModel, config(raw_tok), SEED + seed_off)
            hf_tok = wrap(raw_tok)
        model.save_pretrained(tmp, safe_serialization=True)
        hf_tok.save_pretrained(tmp)
        transformer = st_models.Transformer(tmp, max_seq_length=MAX_LENGTH)
        modules = [transformer, st_models.Pooling(HIDDEN, pooling_mode="mean"), st_models.Normalize()]
        st = SentenceTransformer(modules=modules, device="cpu")
        st.eval()
        st.save(str(d), create_model_card=False, safe_serialization=True)
    remove_empty_dirs(d)
    records = []
    for text in texts:
        ids = st.tokenize([text])["input_ids"][0].tolist()
        emb = st.encode(text, convert_to_numpy=True, show_progress_bar=False)
        records.append({"text": text, "prompt_name": None, "input_ids": ids, "embedding": floats(emb)})
    # Batched (padded) encoding agrees with one text at a time.
    together = st.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
    worst = float(np.abs(together - np.array([r["embedding"] for r in records])).max())
    assert worst < 1e-5, (name, "batched", worst)
    write_fixture_json(d / "expected.json", {"max_seq_length": MAX_LENGTH}, records)
    print(f"  {name}: {len(records)} texts, longest {max(len(r['input_ids']) for r in records)} tokens, "
          f"batched within {worst:.1e}")
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=None,
                    help="shared data directory (default: $TAMIS_SHARED_DIR or ../shared relative to the repo root)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "crates" / "tamis-models" / "tests" / "fixtures",
                    help="output directory (default: crates/tamis-models/tests/fixtures)")
    args = ap.parse_args()
    shared = (args.shared or default_shared()).resolve()
    out = args.out.resolve()
    qwen_tokenizer = out / "llm" / "qwen3-reranker-tied" / "tokenizer.json"
    if not qwen_tokenizer.is_file():
        print(f"error: {qwen_tokenizer} not found (run generate_llm_rerankers.py first)", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, noise {NOISE_STD}")
    torch.set_num_threads(1)
    corpus = load_corpus(shared)
    raw_tok = modernbert_tokenizer(qwen_tokenizer)
    cases = ce_cases(corpus) + long_cases(corpus)
    written = []
    for spec in CE_SPECS:
        d, longest = generate_cross_encoder(out, spec, raw_tok, cases)
        assert longest == MAX_LENGTH, (spec[0], longest)
        written.append(d)
    long_doc = next(d["text"] for d in corpus if len(d.get("text", "")) > 2500)
    written.append(generate_embedder(out, raw_tok, embed_texts(corpus) + [long_doc]))
    deberta_tok = train_deberta_tokenizer(training_texts(corpus))
    for spec in DEBERTA_CE_SPECS:
        written.append(generate_deberta_cross_encoder(out, spec, deberta_tok, cases))
    written.append(generate_embedder(out, deberta_tok, embed_texts(corpus) + [long_doc], deberta=True))
    written.append(generate_jina(out, train_xlmr_tokenizer(training_texts(corpus)), cases))
    total = sum(f.stat().st_size for d in written for f in d.rglob("*") if f.is_file())
    print(f"wrote {len(written)} fixtures, {total / 1024:.0f} KiB")
    if total > 3072 * 1024:
        print("error: the fixtures pass 3 MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
