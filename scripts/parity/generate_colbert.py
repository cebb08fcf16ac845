#!/usr/bin/env python3
"""Generate ColBERT (late-interaction) parity fixtures for the tamis-models crate.

Builds three tiny random ColBERT models locally (no Hub access) and records what the
`pylate` package produces for them:

- `colbert-pylate/`: the PyLate / sentence-transformers layout (`modules.json`, `1_Dense/`,
  `config_sentence_transformers.json`, "[Q] " / "[D] " added to the tokenizer and the word
  embeddings resized), as PyLate writes a model it created from a base encoder;
- `colbert-ai/`: the original Stanford colbert-ai layout (`HF_ColBERT` `config.json`,
  `artifact.metadata`, one `model.safetensors` holding `bert.*` and `linear.weight`,
  `[unused0]` / `[unused1]` markers that are plain vocabulary entries), loaded for the
  reference through PyLate's own converter;
- `colbert-modernbert/`: the PyLate layout on a ModernBERT encoder (as GTE-ModernColBERT-v1),
  its byte-level BPE tokenizer copied from `modernbert-embed-mean/` (generate_encoder_families.py),
  local layers reaching 16 rows either side: documents cross windows, and every query row
  still reaches a real token (see `MODERNBERT_LOCAL_ATTENTION`).

The tokenizer is the tiny WordPiece of `bert-embed-cls/` (written by generate_fixtures.py);
for `colbert-ai/` its vocabulary gets `[unused0]`, `[unused1]` inserted at ids 1 and 2, as in
bert-base-uncased, which shifts every other id by 2.

Everything is deterministic: fixed seeds, single-threaded torch and tokenizers, and floats
written as the shortest decimal that reads back as the same float32.

Usage (from the repository root, in the venv of colbert-requirements.txt):
    /tmp/pylate-venv/bin/python scripts/parity/generate_colbert.py [--out DIR] [--no-verify]

See scripts/parity/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import string
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

# generate_fixtures sets the offline and single-thread environment before it imports
# tokenizers / transformers, so it must be imported first.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_fixtures import (  # noqa: E402
    HIDDEN,
    NOISE_STD,
    REPO_ROOT,
    SEED,
    T_ACCENTS_D,
    T_NUMBERS,
    T_WHITESPACE_D,
    bert_config,
    build_model,
    compact,
    floats,
    remove_empty_dirs,
    reset_dir,
    wrap_bert,
)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file as load_safetensors  # noqa: E402
from safetensors.torch import save_file as save_safetensors  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

import transformers  # noqa: E402
from transformers import AutoModel, BertModel, ModernBertConfig, ModernBertModel, PreTrainedTokenizerFast  # noqa: E402

import pylate  # noqa: E402
from pylate import models as pylate_models  # noqa: E402
from pylate import rank as pylate_rank  # noqa: E402
from pylate import scores as pylate_scores  # noqa: E402

transformers.utils.logging.disable_progress_bar()
# PyLate warns "No sentence-transformers model found" for every directory without modules.json.
logging.getLogger("pylate").setLevel(logging.ERROR)

SOURCE_TOKENIZER = "bert-embed-cls"  # tokenizer files copied from this fixture
MODEL_MAX_LENGTH = 64  # tokenizer_config model_max_length = max_position_embeddings
PYLATE_DIM = 24
COLBERT_AI_DIM = 16
QUERY_LENGTH = 16
DOCUMENT_LENGTH = 40
SIZE_BUDGET = 1536 * 1024  # the three directories together
MODERNBERT_SOURCE = "modernbert-embed-mean"  # tokenizer files copied from this fixture
MODERNBERT_DIM = 20
# Local layers reach local_attention / 2 = 16 rows either side: wider than a query
# (QUERY_LENGTH), so no [MASK] expansion row has a window of masked keys only; tamis refuses
# query lengths where that could happen (transformers then averages every key's value).
MODERNBERT_LOCAL_ATTENTION = 32

# ----------------------------------------------------------------------------------------
# Texts
# ----------------------------------------------------------------------------------------

LONG_DOC = (
    "Statin use after a diagnosis of breast cancer was associated with a lower risk of death "
    "from breast cancer in a nationwide cohort of 31,236 women from Finland; the association "
    "was dose-dependent and persisted after adjustment for age, tumour stage and comorbidity, "
    "although residual confounding cannot be excluded (HR 0.54, 95% CI 0.44-0.67)."
)

QUERIES = [
    "what is vitamin d",  # short: expansion fills most of query_length
    "COFFEE & diabetes?",  # upper case, punctuation (kept in queries)
    "Les études sur le café",  # accents (stripped by the BERT normalizer)
    "Crème brûlée, café?",  # exactly query_length with the marker: no expansion, no truncation
    # longer than query_length: truncated, no expansion token left
    "How much protein should an athlete eat per kilogram of body weight each day to build muscle?",
    "coffee ☕ 🦀 tea!",  # ☕ is in the vocabulary, 🦀 and ! are [UNK]
    "",  # empty: [CLS] marker [SEP] and expansion only
]

DOCUMENTS = [
    "Vitamin D is a fat-soluble vitamin that is important for bone health.",
    LONG_DOC,  # longer than document_length: truncated
    T_ACCENTS_D,  # accents and punctuation
    "UPPER CASE TEXT ABOUT OMEGA-3 FATTY ACIDS AND INFLAMMATION",
    "?!... ;-) ### ***",  # nothing left after the skiplist but [CLS] [D] [SEP]
    "Green tea 🦀 contains catechins, and black tea does too! 👍",  # [UNK] tokens, removed too
    T_WHITESPACE_D,  # leading / trailing whitespace, tabs and newlines
    T_NUMBERS,  # numbers, units and punctuation (µ, –, ;)
    "coffee",  # one word
]

# ----------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------


def source_tokenizer(fixtures: Path) -> Tokenizer:
    path = fixtures / SOURCE_TOKENIZER / "tokenizer.json"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found (run generate_fixtures.py first)")
    return Tokenizer.from_file(str(path))


def with_unused_markers(tok: Tokenizer) -> Tokenizer:
    """The same tokenizer with `[unused0]`, `[unused1]` inserted at ids 1 and 2.

    bert-base-uncased has `[PAD]`=0, `[unused0]`=1, `[unused1]`=2, ...; colbert-ai's markers are
    those plain vocabulary entries (not added tokens), so they are put at the same ids here and
    every later id moves up by 2 (`[UNK]`=3 `[CLS]`=4 `[SEP]`=5 `[MASK]`=6).
    """
    spec = json.loads(tok.to_str())
    old = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    assert old[0][0] == "[PAD]" and [t for t, _ in old[1:5]] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    order = [old[0][0], "[unused0]", "[unused1]"] + [t for t, _ in old[1:]]
    vocab = {t: i for i, t in enumerate(order)}
    spec["model"]["vocab"] = vocab
    for added in spec["added_tokens"]:
        added["id"] = vocab[added["content"]]
    for name, special in spec["post_processor"]["special_tokens"].items():
        special["ids"] = [vocab[name]]
    out = Tokenizer.from_str(json.dumps(spec))
    assert out.token_to_id("[unused0]") == 1 and out.token_to_id("[CLS]") == 4
    return out


# ----------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------


def noisy_linear(out_features: int, in_features: int, seed: int) -> torch.Tensor:
    """nn.Linear's default init (U(-1/sqrt(in), 1/sqrt(in))) plus N(0, NOISE_STD), from `seed`."""
    gen = torch.Generator().manual_seed(seed)
    bound = 1.0 / np.sqrt(in_features)
    w = torch.rand((out_features, in_features), generator=gen) * (2 * bound) - bound
    return w + torch.randn((out_features, in_features), generator=gen) * NOISE_STD


def save_pylate(d: Path, base, tokenizer, vocab: int, dim: int, seed: int) -> None:
    """A PyLate model created from the encoder `base` and its `tokenizer` (`vocab` entries)
    the way PyLate does it, then saved into `d` with `save`."""
    reset_dir(d)
    with tempfile.TemporaryDirectory(prefix="tamis-colbert-") as tmp:
        base.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        torch.manual_seed(seed + 1)  # Dense init and the mean-resizing of the new embedding rows
        model = pylate_models.ColBERT(
            model_name_or_path=tmp,
            device="cpu",
            embedding_size=dim,
            query_length=QUERY_LENGTH,
            document_length=DOCUMENT_LENGTH,
        )
    # PyLate appended "[Q] " and "[D] " to the tokenizer and resized the word embeddings; give
    # the new rows and the projection fixed values so the fixture does not depend on how
    # transformers initialises resized rows.
    assert model.query_prefix_id == vocab and model.document_prefix_id == vocab + 1, (model.query_prefix_id, vocab)
    emb = model[0].auto_model.get_input_embeddings().weight
    assert emb.shape == (vocab + 2, HIDDEN)
    gen = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        emb[vocab:] = torch.randn((2, HIDDEN), generator=gen) * NOISE_STD + emb[:vocab].mean(0)
        dense = model[1].linear
        assert dense.bias is None and tuple(dense.weight.shape) == (dim, HIDDEN)
        dense.weight.copy_(noisy_linear(dim, HIDDEN, seed + 3))
    model.eval()
    model.save(str(d), create_model_card=False, safe_serialization=True)
    remove_empty_dirs(d)


def build_pylate(d: Path, raw_tok: Tokenizer, seed: int) -> None:
    """A PyLate model created from a tiny random BERT."""
    base = build_model(BertModel, bert_config(raw_tok.get_vocab_size()), seed)
    save_pylate(d, base, wrap_bert(raw_tok, MODEL_MAX_LENGTH), raw_tok.get_vocab_size(), PYLATE_DIM, seed)


def build_pylate_modernbert(d: Path, fixtures: Path, seed: int) -> None:
    """A PyLate model created from a tiny random ModernBERT with the tokenizer and config of
    `MODERNBERT_SOURCE`, its local windows widened (see `MODERNBERT_LOCAL_ATTENTION`)."""
    source = fixtures / MODERNBERT_SOURCE
    raw_tok = Tokenizer.from_file(str(source / "tokenizer.json"))
    base_config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    for key in ("architectures", "transformers_version", "dtype"):
        base_config.pop(key, None)
    base_config.update(local_attention=MODERNBERT_LOCAL_ATTENTION, global_attn_every_n_layers=3, max_position_embeddings=MODEL_MAX_LENGTH)
    config = ModernBertConfig(**base_config, attn_implementation="sdpa")
    base = build_model(ModernBertModel, config, seed)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw_tok, model_max_length=MODEL_MAX_LENGTH, unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]", model_input_names=["input_ids", "attention_mask"],
    )
    save_pylate(d, base, tokenizer, raw_tok.get_vocab_size(), MODERNBERT_DIM, seed)


def colbert_ai_metadata(dim: int) -> dict:
    """artifact.metadata as colbert-ai writes it (the ColBERTConfig as JSON); the values follow
    colbert-ir/colbertv2.0 except the lengths and dim, which fit the tiny model."""
    return {
        "query_token_id": "[unused0]",
        "doc_token_id": "[unused1]",
        "query_token": "[Q]",
        "doc_token": "[D]",
        "ncells": None,
        "centroid_score_threshold": None,
        "ndocs": None,
        "load_index_with_mmap": False,
        "index_path": None,
        "index_bsize": 64,
        "nbits": 2,
        "kmeans_niters": 4,
        "resume": False,
        "similarity": "cosine",
        "bsize": 32,
        "accumsteps": 1,
        "lr": 1e-05,
        "maxsteps": 400000,
        "save_every": None,
        "warmup": 20000,
        "warmup_bert": None,
        "relu": False,
        "nway": 64,
        "use_ib_negatives": False,
        "reranker": False,
        "distillation_alpha": 1.0,
        "ignore_scores": False,
        "model_name": None,
        "query_maxlen": QUERY_LENGTH,
        "attend_to_mask_tokens": False,
        "interaction": "colbert",
        "dim": dim,
        "doc_maxlen": DOCUMENT_LENGTH,
        "mask_punctuation": True,
        "checkpoint": "bert-base-uncased",
        "triples": "/future/u/okhattab/root/unit/experiments/2021.10/downstream.distillation.round2.2_score/round2.nway6.cosine.ib/examples.64.json",
        "collection": "/future/u/okhattab/data/MSMARCO/collection.tsv",
        "queries": "/future/u/okhattab/data/MSMARCO/queries.train.tsv",
        "index_name": None,
        "overwrite": False,
        "root": "/future/u/okhattab/root/unit/experiments",
        "experiment": "2021.10",
        "index_root": None,
        "name": "kldR2.nway64.ib",
        "rank": 0,
        "nranks": 4,
        "amp": True,
        "gpus": 4,
        "meta": {"hostname": "tamis-fixture", "git_branch": "main", "current_datetime": "1970-01-01", "cmd": "generate_colbert.py"},
    }


def build_colbert_ai(d: Path, raw_tok: Tokenizer, seed: int) -> None:
    """What colbert-ai's HF_ColBERT.save writes: config.json (architectures HF_ColBERT), the state
    dict of HF_ColBERT (BertModel under `bert.`, pooler included, plus `linear.weight`), the
    tokenizer, and artifact.metadata. colbertv2.0's checkpoint predates transformers 4.31 and
    still holds the int64 buffer `bert.embeddings.position_ids`; it is kept here too."""
    reset_dir(d)
    config = bert_config(raw_tok.get_vocab_size(), architectures=["HF_ColBERT"])
    bert = build_model(BertModel, config, seed)
    state = {f"bert.{k}": v.detach().clone().contiguous() for k, v in bert.state_dict().items()}
    state["bert.embeddings.position_ids"] = torch.arange(config.max_position_embeddings, dtype=torch.int64)[None, :]
    state["linear.weight"] = noisy_linear(COLBERT_AI_DIM, HIDDEN, seed + 3).contiguous()
    save_safetensors(state, str(d / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(d)
    wrap_bert(raw_tok, MODEL_MAX_LENGTH).save_pretrained(d)
    (d / "artifact.metadata").write_text(json.dumps(colbert_ai_metadata(COLBERT_AI_DIM), indent=4) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------
# Reference outputs
# ----------------------------------------------------------------------------------------


def load_colbert(d: Path):
    return pylate_models.ColBERT(model_name_or_path=str(d), device="cpu").eval()


def encode(model, texts: list[str], is_query: bool) -> list[np.ndarray]:
    out = model.encode(texts, is_query=is_query, batch_size=32, show_progress_bar=False, convert_to_numpy=True)
    assert all(e.dtype == np.float32 for e in out)
    return out


def tokenized(model, text: str, is_query: bool) -> dict:
    feats = model.tokenize([text], is_query=is_query)
    return {k: feats[k][0].tolist() for k in ("input_ids", "attention_mask")}


def maxsim(q: np.ndarray, d: np.ndarray) -> float:
    s = pylate_scores.colbert_scores(torch.from_numpy(q)[None], torch.from_numpy(d)[None])
    return s[0, 0]


def reference(model, dim: int) -> dict:
    q_emb = encode(model, QUERIES, True)
    d_emb = encode(model, DOCUMENTS, False)
    queries = []
    for text, e in zip(QUERIES, q_emb):
        t = tokenized(model, text, True)
        assert e.shape == (model.query_length, dim), e.shape
        queries.append({"text": text, "input_ids": t["input_ids"], "attention_mask": t["attention_mask"],
                        "embeddings": [floats(v) for v in e]})
    skip = set(model.skiplist)
    documents = []
    for text, e in zip(DOCUMENTS, d_emb):
        t = tokenized(model, text, False)
        kept = [int(i not in skip) for i in t["input_ids"]]
        assert all(t["attention_mask"]) and e.shape == (sum(kept), dim), (e.shape, sum(kept))
        documents.append({"text": text, "input_ids": t["input_ids"], "kept": kept,
                          "embeddings": [floats(v) for v in e]})
    scores = [[maxsim(q, d) for d in d_emb] for q in q_emb]
    ids = list(range(len(DOCUMENTS)))
    reranked = pylate_rank.rerank(
        documents_ids=[ids] * len(QUERIES),
        queries_embeddings=q_emb,
        documents_embeddings=[d_emb] * len(QUERIES),
    )
    rerank = [[{"id": r["id"], "score": np.float32(r["score"])} for r in rs] for rs in reranked]
    return {
        "query_length": model.query_length,
        "document_length": model.document_length,
        "dim": dim,
        "query_prefix": model.query_prefix,
        "document_prefix": model.document_prefix,
        "query_prefix_id": model.query_prefix_id,
        "document_prefix_id": model.document_prefix_id,
        "mask_token_id": model.tokenizer.mask_token_id,
        "do_query_expansion": model.do_query_expansion,
        "attend_to_expansion_tokens": model.attend_to_expansion_tokens,
        "skiplist_ids": sorted(skip),
        "queries": queries,
        "documents": documents,
        "scores": [floats(row) for row in scores],
        "rerank": rerank,
    }


def write_expected(path: Path, exp: dict) -> None:
    """One line per header key, per query, per document, per score row and per rerank list."""
    lines = ["{"]
    keys = list(exp)
    for i, k in enumerate(keys):
        comma = "," if i + 1 < len(keys) else ""
        v = exp[k]
        if isinstance(v, list) and v and isinstance(v[0], (dict, list)):
            lines.append(f"  {json.dumps(k)}: [")
            lines.append(",\n".join("    " + compact(x) for x in v))
            lines.append("  ]" + comma)
        else:
            lines.append(f"  {json.dumps(k)}: {compact(v)}{comma}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))


def generate(d: Path, dim: int) -> dict:
    model = load_colbert(d)  # the reference always comes from what is on disk
    assert model[1].out_features == dim
    exp = reference(model, dim)
    write_expected(d / "expected.json", exp)
    return exp


# ----------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------


def manual_ids(d: Path, exp: dict, text: str, is_query: bool) -> tuple[list[int], list[int]]:
    """The ids and attention mask rebuilt from tokenizer.json alone, following the spec."""
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()
    length = exp["query_length"] if is_query else exp["document_length"]
    tok.enable_truncation(max_length=length - 1)
    ids = tok.encode(text.strip()).ids
    marker = exp["query_prefix_id"] if is_query else exp["document_prefix_id"]
    ids = ids[:1] + [marker] + ids[1:]
    mask = [1] * len(ids)
    if is_query and exp["do_query_expansion"]:
        pad = length - len(ids)
        ids += [exp["mask_token_id"]] * pad
        mask += [1 if exp["attend_to_expansion_tokens"] else 0] * pad
    return ids, mask


def manual_embeddings(d: Path, ids: list[int], mask: list[int], linear: torch.Tensor) -> np.ndarray:
    modern = json.loads((d / "config.json").read_text(encoding="utf-8"))["model_type"] == "modernbert"
    kwargs = {} if modern else {"add_pooling_layer": False}
    encoder = AutoModel.from_pretrained(str(d), **kwargs).eval()
    inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.tensor([mask])}
    if not modern:
        inputs["token_type_ids"] = torch.zeros((1, len(ids)), dtype=torch.long)
    with torch.no_grad():
        h = encoder(**inputs).last_hidden_state[0]
        return torch.nn.functional.normalize(h @ linear.T, p=2, dim=1).numpy()


def linear_weight(d: Path) -> torch.Tensor:
    if (d / "1_Dense").is_dir():
        return load_safetensors(str(d / "1_Dense" / "model.safetensors"))["linear.weight"]
    return load_safetensors(str(d / "model.safetensors"))["linear.weight"]


def verify(d: Path) -> None:
    exp = json.loads((d / "expected.json").read_text(encoding="utf-8"))
    model = load_colbert(d)
    # 1. pylate reproduces expected.json after a reload.
    worst = 0.0
    q_emb = encode(model, [q["text"] for q in exp["queries"]], True)
    d_emb = encode(model, [x["text"] for x in exp["documents"]], False)
    for rec, e in zip(exp["queries"] + exp["documents"], q_emb + d_emb):
        want = np.array(rec["embeddings"], dtype=np.float32)
        assert want.shape == e.shape, (d.name, rec["text"][:30])
        worst = max(worst, float(np.abs(want - e).max()))
    # One text at a time gives the same vectors as the batched (padded) call.
    for i, x in enumerate(exp["documents"]):
        one = encode(model, [x["text"]], False)[0]
        worst = max(worst, float(np.abs(one - d_emb[i]).max()))
    assert worst <= 1e-6, (d.name, worst)
    # 2. Rebuilt from tokenizer.json + the weights alone, following the written spec.
    linear = linear_weight(d)
    worst_manual = 0.0
    for rec, is_query in [(q, True) for q in exp["queries"]] + [(x, False) for x in exp["documents"]]:
        ids, mask = manual_ids(d, exp, rec["text"], is_query)
        assert ids == rec["input_ids"], (d.name, rec["text"][:30], ids, rec["input_ids"])
        if is_query:
            assert mask == rec["attention_mask"], (d.name, rec["text"][:30])
        emb = manual_embeddings(d, ids, mask, linear)
        if not is_query:
            keep = [i not in set(exp["skiplist_ids"]) for i in ids]
            assert keep == [bool(k) for k in rec["kept"]]
            emb = emb[np.array(keep)]
        worst_manual = max(worst_manual, float(np.abs(emb - np.array(rec["embeddings"], dtype=np.float32)).max()))
    assert worst_manual <= 1e-5, (d.name, worst_manual)
    # 3. MaxSim = sum over query tokens of the max dot product over kept document tokens.
    worst_score = 0.0
    n_quirk = 0
    for qi, q in enumerate(exp["queries"]):
        Q = np.array(q["embeddings"], dtype=np.float64)
        exact = {}
        for di, x in enumerate(exp["documents"]):
            s = (Q @ np.array(x["embeddings"], dtype=np.float64).T).max(1).sum()
            exact[di] = s
            worst_score = max(worst_score, abs(s - exp["scores"][qi][di]))
        # rerank pads the documents with zero vectors and passes no mask, so a query token
        # whose best similarity is negative scores 0 against a shorter document.
        longest = max(len(x["embeddings"]) for x in exp["documents"])
        for r in exp["rerank"][qi]:
            x = exp["documents"][r["id"]]
            sims = Q @ np.array(x["embeddings"], dtype=np.float64).T
            if len(x["embeddings"]) < longest:
                sims = np.concatenate([sims, np.zeros((len(Q), 1))], axis=1)
            padded = sims.max(1).sum()
            worst_score = max(worst_score, abs(padded - r["score"]))
            n_quirk += int(abs(padded - exact[r["id"]]) > 1e-6)
        order = [r["id"] for r in exp["rerank"][qi]]
        assert [r["score"] for r in exp["rerank"][qi]] == sorted((r["score"] for r in exp["rerank"][qi]), reverse=True)
        assert sorted(order) == list(range(len(exp["documents"])))
    assert worst_score <= 1e-4, (d.name, worst_score)
    n_trunc_q = sum(1 for q in exp["queries"] if q["attention_mask"][-1] == 1)
    n_trunc_d = sum(1 for x in exp["documents"] if len(x["input_ids"]) == exp["document_length"])
    print(f"  verified {d.name}: max |diff| reload {worst:.1e}, spec rebuild {worst_manual:.1e}, "
          f"scores {worst_score:.1e}; queries at full length without expansion {n_trunc_q}, "
          f"documents truncated {n_trunc_d}, rerank scores changed by zero padding {n_quirk}")


# ----------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "crates" / "tamis-models" / "tests" / "fixtures",
                    help="output directory (default: crates/tamis-models/tests/fixtures); it must hold bert-embed-cls/")
    ap.add_argument("--no-verify", action="store_true", help="skip reloading and re-checking the written fixtures")
    args = ap.parse_args()
    out = args.out.resolve()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, sentence-transformers "
          f"{version('sentence-transformers')}, tokenizers {version('tokenizers')}, pylate {pylate.__version__}")

    tok = source_tokenizer(out)
    assert [tok.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    missing = [c for c in string.punctuation if tok.token_to_id(c) is None]
    print(f"tokenizer from {SOURCE_TOKENIZER}/: {tok.get_vocab_size()} entries; punctuation not in the "
          f"vocabulary (skiplist maps them to [UNK]): {' '.join(missing)}")

    written = []
    d = out / "colbert-pylate"
    build_pylate(d, tok, SEED + 30)
    generate(d, PYLATE_DIM)
    written.append(d)
    d = out / "colbert-ai"
    build_colbert_ai(d, with_unused_markers(tok), SEED + 40)
    generate(d, COLBERT_AI_DIM)
    written.append(d)
    d = out / "colbert-modernbert"
    build_pylate_modernbert(d, out, SEED + 50)
    generate(d, MODERNBERT_DIM)
    written.append(d)

    if not args.no_verify:
        print("verifying (reloading from disk):")
        for d in written:
            verify(d)

    total = 0
    for d in written:
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            size = f.stat().st_size
            total += size
            print(f"  {size:>9,d}  {f.relative_to(out)}")
    print(f"  {total:>9,d}  total ({total / 1024:.0f} KiB)")
    if total > SIZE_BUDGET:
        print(f"error: ColBERT fixtures exceed {SIZE_BUDGET // 1024} KiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
