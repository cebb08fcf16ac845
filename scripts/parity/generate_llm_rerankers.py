#!/usr/bin/env python3
"""Generate parity fixtures for the LLM rerankers of tamis-models (Qwen3-Reranker, mxbai-rerank-v2).

Builds a deterministic byte-level BPE tokenizer with Qwen's pipeline and three tiny random
decoders (Qwen3 tied/bf16, Qwen3 untied/biased/sharded/fp32, Qwen2 tied/bf16), then records what
the reference implementations compute for them: the Qwen3-Reranker model card's transformers
code (copied verbatim below) and the `mxbai-rerank` package itself.

Usage (from the repository root, in the venv of requirements.txt + llm-requirements.txt):
    python scripts/parity/generate_llm_rerankers.py [--shared DIR] [--out DIR]

See scripts/parity/README.md.
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

# generate_fixtures sets the offline and single-thread environment before it imports
# tokenizers / transformers, so it must be imported first.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_fixtures import (  # noqa: E402
    HIDDEN,
    INTERMEDIATE,
    LAYERS,
    HEADS,
    REPO_ROOT,
    SEED,
    T_ACCENTS_D,
    T_CJK_D,
    T_CODE,
    T_COMPAT_D,
    T_CYRILLIC_D,
    T_EMOJI,
    T_GREEK_Q,
    T_NUMBERS,
    T_WHITESPACE_D,
    T_WHITESPACE_Q,
    build_model,
    default_shared,
    floats,
    load_corpus,
    reset_dir,
    training_texts,
    write_fixture_json,
)

from importlib.metadata import version  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors  # noqa: E402
from tokenizers import models as tok_models  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2TokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from mxbai_rerank import MxbaiRerankV2  # noqa: E402

transformers.utils.logging.disable_progress_bar()
# The card pads with `max_length` and `padding=True`, which transformers warns is ignored.
warnings.filterwarnings("ignore", message="`max_length` is ignored when `padding`=`True`")

# 900 BPE entries (+ 5 added tokens, 960 model rows) keep the weights small; the template text is
# weighted into training so the fixed prompt parts stay short, while NFCorpus abstracts still run
# past both max lengths.
BPE_VOCAB = 900
KV_HEADS = 2
QWEN3_HEAD_DIM = 16  # H·d = 64 != hidden 32, as in the real 0.6B (2048 != 1024)
MAX_POSITIONS = 512
QWEN3_MAX_LENGTH = 160  # the card's max_length: whole prompt, template included
MXBAI_MAX_LENGTH = 96  # the package's max_length: query + "\n" + document only
# Splits the untied model's 346 kB of fp32 weights into 4 shards plus model.safetensors.index.json.
SHARD_SIZE = "100KB"
SIZE_BUDGET = 1024 * 1024
# With N(0, 0.1) weights the yes/no logit differences only span about ±1 (std ~0.3-0.5), so the
# final norm's weight is scaled up: the differences then span several units and a wrong token,
# position or mask moves the scores visibly.
HEAD_GAIN = 4.0

# Exactly `PRETOKENIZE_REGEX` of transformers' Qwen2 tokenizer.
QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# Qwen's order and flags: the ChatML markers are special, the thinking markers are not.
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PLAIN_ADDED_TOKENS = ["<think>", "</think>"]
ADDED_SPLIT = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS + PLAIN_ADDED_TOKENS))

# The card's strings (memo section 2.1), also used to train the tokenizer.
QWEN3_PREFIX = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n"  # noqa: E501
QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
QWEN3_DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"

FIXTURES = [
    # name, kind, model class, extra config, save dtype, shard size, seed offset
    ("qwen3-reranker-tied", "qwen3", Qwen3ForCausalLM, dict(tie_word_embeddings=True), torch.bfloat16, None, 20),
    ("qwen3-reranker-untied", "qwen3", Qwen3ForCausalLM, dict(tie_word_embeddings=False, attention_bias=True),
     torch.float32, SHARD_SIZE, 21),
    ("mxbai-v2-qwen2", "mxbai-v2", Qwen2ForCausalLM, dict(tie_word_embeddings=True), torch.bfloat16, None, 22),
]

# ----------------------------------------------------------------------------------------
# Tokenizer: byte-level BPE with the pipeline of transformers' Qwen2Converter
# ----------------------------------------------------------------------------------------


def qwen_normalizer():
    return normalizers.NFC()


def qwen_pre_tokenizer():
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def learn_bpe(words: dict[str, int], vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Deterministic byte-level BPE: merges by (count desc, pair strings asc).

    `tokenizers.trainers.BpeTrainer` breaks ties in hash-map order, so its output changes between
    runs. The alphabet is all 256 byte symbols, so every text encodes and every digit is a token.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = list(alphabet)
    seen = set(vocab)
    items = sorted(words.items())
    syms = [list(w) for w, _ in items]
    freqs = [f for _, f in items]
    pair_counts: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}
    for i, (s, f) in enumerate(zip(syms, freqs)):
        for p in zip(s, s[1:]):
            pair_counts[p] = pair_counts.get(p, 0) + f
            where.setdefault(p, set()).add(i)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg:
            continue  # stale entry
        if -neg < 2:
            break
        a, b = pair
        new = a + b
        touched: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair, ())):
            s, f = syms[i], freqs[i]
            for p in zip(s, s[1:]):
                pair_counts[p] -= f
                touched.add(p)
            merged, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and s[j] == a and s[j + 1] == b:
                    merged.append(new)
                    j += 2
                else:
                    merged.append(s[j])
                    j += 1
            syms[i] = merged
            for p in zip(merged, merged[1:]):
                pair_counts[p] = pair_counts.get(p, 0) + f
                where.setdefault(p, set()).add(i)
                touched.add(p)
        pair_counts.pop(pair, None)
        touched.discard(pair)
        for p in sorted(touched):
            c = pair_counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_counts.pop(p, None)
        merges.append(pair)
        if new not in seen:
            vocab.append(new)
            seen.add(new)
    return {t: i for i, t in enumerate(vocab)}, merges


def template_texts() -> list[str]:
    """The fixed prompt text of both rerankers, without the added tokens (those never reach BPE)."""
    texts = [
        QWEN3_PREFIX,
        QWEN3_SUFFIX,
        f"<Instruct>: {QWEN3_DEFAULT_INSTRUCTION}\n<Query>: \n<Document>: ",
        MxbaiRerankV2.chat_template["prefix"],
        MxbaiRerankV2.chat_template["suffix"],
        MxbaiRerankV2.task_prompt,
        "instruction: \nquery: \ndocument: ",
    ]
    return [piece for t in texts for piece in ADDED_SPLIT.split(t) if piece]


def train_qwen_tokenizer(texts: list[str]) -> Tokenizer:
    normalizer, pre_tokenizer = qwen_normalizer(), qwen_pre_tokenizer()
    words: dict[str, int] = {}

    def add(text: str, weight: int) -> None:
        for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            words[w] = words.get(w, 0) + weight

    for t in texts:
        add(t, 1)
    # Weighted so that the fixed prompt parts become a few tokens instead of ~100 byte tokens,
    # which would eat the fixtures' short max_length.
    for t in template_texts():
        add(t, 300)
    # "yes" and "no" must be whole vocab entries (the card looks them up as tokens). Counting the
    # bare words hugely makes the learner merge them first rather than hand-inserting merges,
    # which could leave "y" "es" unmerged.
    for w in ("yes", "no"):
        words[w] = words.get(w, 0) + 10**6
    vocab, merges = learn_bpe(words, BPE_VOCAB)
    tok = Tokenizer(tok_models.BPE(
        vocab=vocab, merges=merges, dropout=None, unk_token=None, continuing_subword_prefix="",
        end_of_word_suffix="", fuse_unk=False, byte_fallback=False,
    ))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in PLAIN_ADDED_TOKENS])
    return tok


def wrap_qwen(tok: Tokenizer) -> Qwen2TokenizerFast:
    return Qwen2TokenizerFast(
        tokenizer_object=tok, unk_token=None, bos_token=None, eos_token="<|im_end|>",
        pad_token="<|endoftext|>", model_max_length=MAX_POSITIONS,
    )


def check_tokenizer(tok: Tokenizer) -> None:
    vocab = tok.get_vocab()
    for w in ("yes", "no", "1", "0"):
        ids = tok.encode(w, add_special_tokens=False).ids
        assert ids == [vocab[w]], (w, ids)
    for t in SPECIAL_TOKENS + PLAIN_ADDED_TOKENS:
        assert tok.encode(t, add_special_tokens=False).ids == [vocab[t]], t


# ----------------------------------------------------------------------------------------
# Tiny models
# ----------------------------------------------------------------------------------------


def model_config(kind: str, vocab_size: int, eos_id: int, **kw):
    base = dict(
        vocab_size=vocab_size, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, hidden_act="silu",
        max_position_embeddings=MAX_POSITIONS, rms_norm_eps=1e-6, rope_theta=1_000_000.0, rope_scaling=None,
        use_sliding_window=False, bos_token_id=None, eos_token_id=eos_id, pad_token_id=None,
    )
    base.update(kw)
    if kind == "qwen3":
        return Qwen3Config(head_dim=QWEN3_HEAD_DIM, **base)
    return Qwen2Config(**base)  # head_dim = hidden / heads = 8


def save_model(model, d: Path, dtype, shard_size: str | None) -> None:
    model = model.to(dtype)
    if shard_size:
        model.save_pretrained(d, safe_serialization=True, max_shard_size=shard_size)
        index = json.loads((d / "model.safetensors.index.json").read_text(encoding="utf-8"))
        shards = set(index["weight_map"].values())
        assert len(shards) >= 3, shards
        assert model.config.tie_word_embeddings or "lm_head.weight" in index["weight_map"]
    else:
        model.save_pretrained(d, safe_serialization=True)
        assert (d / "model.safetensors").is_file()


# ----------------------------------------------------------------------------------------
# Qwen3-Reranker reference: the model card's code (memo 2.1-2.3), verbatim except that the
# tokenizer, model and max_length are arguments instead of globals.
# ----------------------------------------------------------------------------------------


def qwen3_card(tokenizer, model, max_length):
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
    return SimpleNamespace(
        token_true_id=token_true_id, token_false_id=token_false_id, prefix_tokens=prefix_tokens,
        suffix_tokens=suffix_tokens, format_instruction=format_instruction, process_inputs=process_inputs,
        compute_logits=compute_logits, budget=max_length - len(prefix_tokens) - len(suffix_tokens),
    )


@torch.no_grad()
def answer_logits(model, inputs, true_id: int, false_id: int) -> tuple[np.ndarray, np.ndarray]:
    last = model(**inputs).logits[:, -1, :]
    return last[:, true_id].numpy(), last[:, false_id].numpy()


def unpadded(inputs) -> list[list[int]]:
    return [ids[mask == 1].tolist() for ids, mask in zip(inputs["input_ids"], inputs["attention_mask"])]


def qwen3_reference(d: Path, cases: list[dict]) -> tuple[dict, list[dict]]:
    tokenizer = AutoTokenizer.from_pretrained(str(d), padding_side='left')
    model = AutoModelForCausalLM.from_pretrained(str(d)).eval()
    assert model.dtype == torch.float32  # the card loads without a dtype: fp32 in 4.57
    card = qwen3_card(tokenizer, model, QWEN3_MAX_LENGTH)
    eager = AutoModelForCausalLM.from_pretrained(str(d), attn_implementation="eager").eval()
    raw = Tokenizer.from_file(str(d / "tokenizer.json"))

    def tok(text: str) -> list[int]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert raw.encode(text, add_special_tokens=False).ids == ids, ("tokenizer.json", text[:60])
        return ids

    assert tok(QWEN3_PREFIX) == card.prefix_tokens and tok(QWEN3_SUFFIX) == card.suffix_tokens
    records = []
    for case in cases:
        query, instruction, docs = case["query"], case["instruction"], case["documents"]
        pairs = [card.format_instruction(instruction, query, doc) for doc in docs]
        inputs = card.process_inputs(pairs)
        scores = card.compute_logits(inputs)
        l_true, l_false = answer_logits(model, inputs, card.token_true_id, card.token_false_id)
        ids = unpadded(inputs)
        # The tokens before the document do not depend on it: tamis computes them once per query.
        shared = tok("<Instruct>: {}\n<Query>: {}\n".format(
            QWEN3_DEFAULT_INSTRUCTION if instruction is None else instruction, query))
        scaffold_fits = len(shared) + len(tok("<Document>:")) <= card.budget
        assert scaffold_fits != case["expect_error"], (query[:40], len(shared), card.budget)
        results = []
        for i, doc in enumerate(docs):
            whole = tok(pairs[i])
            # Prefix sharing is exact at the token level: tokens(A + B) == tokens(A) + tokens(B).
            assert whole == shared + tok(f"<Document>: {doc}"), (query[:40], doc[:40])
            assert ids[i] == card.prefix_tokens + whole[: card.budget] + card.suffix_tokens, (query[:40], doc[:40])
            one = card.compute_logits(card.process_inputs([pairs[i]]))[0]
            assert abs(one - scores[i]) <= 1e-5, ("batched vs one at a time", one, scores[i])
            el_true, el_false = answer_logits(eager, {"input_ids": torch.tensor([ids[i]])},
                                              card.token_true_id, card.token_false_id)
            assert max(abs(el_true[0] - l_true[i]), abs(el_false[0] - l_false[i])) <= 1e-5, "eager vs sdpa"
            logit = np.float32(l_true[i] - l_false[i])
            assert abs(float(torch.sigmoid(torch.tensor(logit))) - scores[i]) <= 1e-6
            results.append({
                "input_ids": ids[i], "truncated": len(whole) > card.budget, "l_true": l_true[i],
                "l_false": l_false[i], "logit": logit, "score": scores[i],
            })
        records.append({**case, "results": results})
    header = {
        "kind": "qwen3",
        "max_length": QWEN3_MAX_LENGTH,
        "true_id": card.token_true_id,
        "false_id": card.token_false_id,
        "prefix_ids": card.prefix_tokens,
        "suffix_ids": card.suffix_tokens,
        "default_instruction": QWEN3_DEFAULT_INSTRUCTION,
        "rope_inv_freq": floats(model.model.rotary_emb.inv_freq),
    }
    return header, records


# ----------------------------------------------------------------------------------------
# mxbai-rerank-v2 reference: the PyPI package
# ----------------------------------------------------------------------------------------


def mxbai_reference(d: Path, cases: list[dict]) -> tuple[dict, list[dict]]:
    # As on any CPU: the package loads the bf16 weights with torch_dtype="auto", then its
    # TorchModule.to() casts the whole module to fp32 (CPU_INCOMPATIBLE_DTYPE).
    ranker = MxbaiRerankV2(str(d), device="cpu", max_length=MXBAI_MAX_LENGTH, disable_transformers_warnings=True)
    assert ranker.model.dtype == torch.float32 and ranker.max_length == MXBAI_MAX_LENGTH
    tokenizer = ranker.tokenizer
    eager = AutoModelForCausalLM.from_pretrained(str(d), attn_implementation="eager", dtype=torch.float32).eval()
    raw = Tokenizer.from_file(str(d / "tokenizer.json"))

    def tok(text: str) -> list[int]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert raw.encode(text, add_special_tokens=False).ids == ids, ("tokenizer.json", text[:60])
        return ids

    prefix, suffix = ranker.chat_template_prefix_inputs, ranker.chat_template_suffix_inputs
    sep, task = ranker.sep_inputs, ranker.task_prompt_inputs
    assert prefix == tok(ranker.chat_template["prefix"]) and suffix == tok(ranker.chat_template["suffix"])
    assert sep == tok("\n") and len(sep) == 1 and task == tok(ranker.task_prompt)
    assert [ranker.yes_loc] == tok("1") and [ranker.no_loc] == tok("0")
    query_max = ranker.max_length * 3 // 4
    records = []
    for case in cases:
        query, instruction, docs = case["query"], case["instruction"], case["documents"]
        # rank() makes one predict() call for fewer than batch_size (32) documents.
        ranked = ranker.rank(query, docs, top_k=len(docs), sort=False, return_documents=False, instruction=instruction)
        assert [r.index for r in ranked] == list(range(len(docs)))
        scores = [np.float32(r.score) for r in ranked]
        inputs = ranker.prepare_inputs([query] * len(docs), docs, instruction=instruction)
        with torch.inference_mode():
            l_true, l_false = answer_logits(ranker.model, inputs, ranker.yes_loc, ranker.no_loc)
        ids = unpadded(inputs)
        query_text = (f"instruction: {instruction}\n" if instruction else "") + f"query: {query}"
        query_ids = tok(query_text)
        assert (len(query_ids) > query_max) == case["query_truncated"], (query[:40], len(query_ids))
        query_ids = query_ids[:query_max]
        results = []
        for i, doc in enumerate(docs):
            doc_ids = tok(f"document: {doc}")
            kept = doc_ids[: ranker.max_length - len(query_ids) - len(sep)]
            assert ids[i] == prefix + query_ids + sep + kept + sep + task + suffix, (query[:40], doc[:40])
            one = float(ranker.predict([query], [doc], instruction=instruction)[0])
            assert abs(one - scores[i]) <= 1e-5, ("batched vs one at a time", one, scores[i])
            el_true, el_false = answer_logits(eager, {"input_ids": torch.tensor([ids[i]])},
                                              ranker.yes_loc, ranker.no_loc)
            assert max(abs(el_true[0] - l_true[i]), abs(el_false[0] - l_false[i])) <= 1e-5, "eager vs sdpa"
            assert np.float32(l_true[i] - l_false[i]) == scores[i]
            results.append({
                "input_ids": ids[i], "truncated": len(kept) < len(doc_ids), "l_true": l_true[i],
                "l_false": l_false[i], "logit": scores[i], "score": scores[i],
            })
        records.append({**case, "results": results})
    header = {
        "kind": "mxbai-v2",
        "max_length": MXBAI_MAX_LENGTH,
        "true_id": ranker.yes_loc,
        "false_id": ranker.no_loc,
        "prefix_ids": prefix,
        "suffix_ids": suffix,
        "sep_ids": sep,
        "task_ids": task,
        "rope_inv_freq": floats(ranker.model.model.rotary_emb.inv_freq),
    }
    return header, records


# ----------------------------------------------------------------------------------------
# Cases (memo 5.4)
# ----------------------------------------------------------------------------------------


def cut_to_tokens(count, text: str, target: int) -> str:
    """The longest prefix of `text` for which `count` gives exactly `target` tokens."""
    best = None
    for n in range(1, len(text) + 1):
        c = count(text[:n])
        if c == target:
            best = text[:n]
        elif c > target + 2:
            break
    assert best is not None, target
    return best


def qwen3_cases(corpus: list[dict], tokenizer) -> list[dict]:
    by_id = {d["_id"]: d for d in corpus}
    long_docs = [d for d in corpus if len(d.get("text", "")) > 1200]
    med10 = by_id["MED-10"]

    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    query = "Does vitamin D supplementation reduce fractures?"
    fixed = n_tokens(QWEN3_PREFIX) + n_tokens(QWEN3_SUFFIX)
    room = QWEN3_MAX_LENGTH - fixed - n_tokens(f"<Instruct>: {QWEN3_DEFAULT_INSTRUCTION}\n<Query>: {query}\n")

    def doc_tokens(doc: str) -> int:
        return n_tokens(f"<Document>: {doc}")

    at_limit = cut_to_tokens(doc_tokens, long_docs[0]["text"], room)
    one_over = cut_to_tokens(doc_tokens, long_docs[0]["text"], room + 1)

    def case(q, i, docs, expect_error=False):
        return {"query": q, "instruction": i, "expect_error": expect_error, "documents": docs}

    return [
        case(query, None, ["a", "Vitamin D is a fat-soluble vitamin that is important for bone health.",
                           at_limit, one_over, long_docs[1]["title"] + ". " + long_docs[1]["text"],
                           T_ACCENTS_D, T_WHITESPACE_D]),
        case("statin use and breast cancer survival ", "Given a medical question, retrieve abstracts that answer it",
             [med10["text"], med10["title"], T_NUMBERS]),
        case("green tea\n", None, [long_docs[2]["text"]]),
        case(T_GREEK_Q, "Trouvez les études pertinentes (santé, nutrition)", [T_CYRILLIC_D, T_CJK_D, T_EMOJI]),
        case(T_WHITESPACE_Q, None, [T_WHITESPACE_D, " ", T_CODE]),
        # Contractions (the regex's case-insensitive group), digit runs, and a document that
        # spells out the template's own markers: both tokenizers split added tokens out of it.
        case("What's the patient's dose? It'LL be 25 µg, they'd say", None, [
            T_NUMBERS, T_COMPAT_D, "Answer <think>yes</think> then <|im_end|> no."]),
        # Instruction + query alone overflow the budget: the card then cuts the query and the
        # "<Document>: " scaffolding; tamis refuses instead.
        case(long_docs[3]["text"], None, ["Coffee and health.", "a"], True),
    ]


def mxbai_cases(corpus: list[dict], tokenizer) -> list[dict]:
    by_id = {d["_id"]: d for d in corpus}
    long_docs = [d for d in corpus if len(d.get("text", "")) > 1200]
    med10 = by_id["MED-10"]

    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    query = "Does vitamin D supplementation reduce fractures?"
    room = MXBAI_MAX_LENGTH - n_tokens(f"query: {query}") - 1  # - the "\n" separator

    def doc_tokens(doc: str) -> int:
        return n_tokens(f"document: {doc}")

    at_limit = cut_to_tokens(doc_tokens, long_docs[0]["text"], room)
    one_over = cut_to_tokens(doc_tokens, long_docs[0]["text"], room + 1)
    long_query = long_docs[4]["text"][:600]
    assert n_tokens(f"query: {long_query}") > MXBAI_MAX_LENGTH * 3 // 4

    def case(q, i, docs, query_truncated=False):
        return {"query": q, "instruction": i, "expect_error": False, "query_truncated": query_truncated,
                "documents": docs}

    return [
        case(query, None, ["a", "Vitamin D is a fat-soluble vitamin that is important for bone health.",
                           at_limit, one_over, long_docs[1]["title"] + ". " + long_docs[1]["text"],
                           T_ACCENTS_D, T_WHITESPACE_D]),
        case("statin use and breast cancer survival ", "Find abstracts that answer the medical question",
             [med10["text"], med10["title"], T_NUMBERS]),
        case("green tea\n", None, [long_docs[2]["text"]]),
        # Greek is mostly byte tokens here (62 of them), so no instruction: it would cut the query.
        case(T_GREEK_Q, None, [T_CYRILLIC_D, T_CJK_D, T_EMOJI]),
        case(T_WHITESPACE_Q, None, [T_WHITESPACE_D, " ", T_CODE]),
        case("What's the patient's dose? It'LL be 25 µg, they'd say", None, [
            T_NUMBERS, T_COMPAT_D, "Answer <think>1</think> then <|im_end|> 0."]),
        # Longer than max_length * 3 // 4 tokens: the package cuts the query (with its instruction).
        case(long_query, "Judge relevance for a dietitian", ["a", long_docs[5]["text"], "Coffee and health."], True),
    ]


# ----------------------------------------------------------------------------------------


def generate(out: Path, spec, raw_tok: Tokenizer, corpus: list[dict]) -> tuple[Path, list[float]]:
    name, kind, cls, extra, dtype, shard_size, seed_off = spec
    d = out / name
    reset_dir(d)
    hf_tok = wrap_qwen(raw_tok)
    vocab_size = -(-len(hf_tok) // 64) * 64
    config = model_config(kind, vocab_size, hf_tok.convert_tokens_to_ids("<|im_end|>"), **extra)
    model = build_model(cls, config, SEED + seed_off)
    with torch.no_grad():
        model.model.norm.weight.mul_(HEAD_GAIN)
    save_model(model, d, dtype, shard_size)
    # tokenizer.json only: no slow vocab.json / merges.txt / added_tokens.json, as `tamis` reads none.
    hf_tok.save_pretrained(d, legacy_format=False)
    if kind == "qwen3":
        header, records = qwen3_reference(d, qwen3_cases(corpus, hf_tok))
    else:
        header, records = mxbai_reference(d, mxbai_cases(corpus, hf_tok))
    write_fixture_json(d / "expected.json", header, records)
    logits = [float(r["logit"]) for c in records for r in c["results"]]
    return d, logits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=None,
                    help="shared data directory (default: $TAMIS_SHARED_DIR or ../shared relative to the repo root)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "crates" / "tamis-models" / "tests" / "fixtures" / "llm",
                    help="output directory (default: crates/tamis-models/tests/fixtures/llm)")
    args = ap.parse_args()
    shared = (args.shared or default_shared()).resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers "
          f"{__import__('tokenizers').__version__}, mxbai-rerank {version('mxbai-rerank')}, accelerate {version('accelerate')}")

    corpus = load_corpus(shared)
    raw_tok = train_qwen_tokenizer(training_texts(corpus))
    check_tokenizer(raw_tok)
    print(f"tokenizer: {raw_tok.get_vocab_size()} entries ({BPE_VOCAB} BPE + {len(SPECIAL_TOKENS + PLAIN_ADDED_TOKENS)} added)")

    total = 0
    for spec in FIXTURES:
        d, logits = generate(out, spec, raw_tok, corpus)
        exp = json.loads((d / "expected.json").read_text(encoding="utf-8"))
        parts = {k: len(exp[k]) for k in ("prefix_ids", "suffix_ids", "sep_ids", "task_ids") if k in exp}
        lg = np.array(logits)
        n_trunc = sum(r["truncated"] for c in exp["cases"] for r in c["results"])
        print(f"{d.name}: {len(exp['cases'])} cases, {len(lg)} documents ({n_trunc} truncated), template tokens {parts}, "
              f"logit min {lg.min():.3f} max {lg.max():.3f} std {lg.std():.3f}")
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            size = f.stat().st_size
            total += size
            print(f"  {size:>9,d}  {f.relative_to(out)}")
    print(f"  {total:>9,d}  total ({total / 1024:.0f} KiB)")
    if total > SIZE_BUDGET:
        print("error: LLM fixtures exceed 1 MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
