#!/usr/bin/env python3
"""Generate numerical-parity fixtures for the tamis-models crate.

Builds tiny tokenizers and tiny random BERT / XLM-RoBERTa models locally (no Hub access),
records what Hugging Face `transformers` / `sentence-transformers` produce for them, and
encodes a set of sentences with the real all-MiniLM-L6-v2 from the shared directory.

Everything is deterministic: fixed seeds, single-threaded torch and tokenizers, and a JSON
writer that prints each float32 as the shortest decimal that round-trips to the same float32.

Usage (from the repository root):
    python scripts/parity/generate_fixtures.py [--shared DIR] [--out DIR] [--no-verify]

See scripts/parity/README.md.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

# Must be set before tokenizers / transformers are imported.
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors  # noqa: E402
from tokenizers import models as tok_models  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    XLMRobertaModel,
    XLMRobertaTokenizerFast,
)
import sentence_transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers import models as st_models  # noqa: E402

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = 1234

# Architecture shared by every tiny model.
HIDDEN = 32
LAYERS = 2
HEADS = 4
INTERMEDIATE = 64
NOISE_STD = 0.1
CE_MAX_LENGTH = 48
EMBED_MAX_SEQ_LENGTH = 32
TOKENIZER_VOCAB = 1500
MINILM_NAME = "all-MiniLM-L6-v2"

# ----------------------------------------------------------------------------------------
# Text material
# ----------------------------------------------------------------------------------------

# Non-ASCII text mixed into tokenizer training so that accents, Greek, Cyrillic, CJK and
# emoji get vocabulary entries (some of the test texts still use unseen characters -> UNK).
NON_ASCII_TRAINING = [
    "Les études épidémiologiques montrent que la consommation de café réduit le risque de diabète.",
    "La santé cardiovasculaire dépend de l'alimentation, du sommeil et de l'activité physique.",
    "Über die Wirkung von Vitamin D bei älteren Menschen: eine Übersicht über Studien.",
    "Grüner Tee enthält Katechine, die möglicherweise entzündungshemmend wirken.",
    "El café y la salud cardiovascular: revisión sistemática y metaanálisis de estudios de cohortes.",
    "A ação anti-inflamatória da cúrcuma foi avaliada em ensaios clínicos.",
    "Η διατροφή παίζει σημαντικό ρόλο στην υγεία της καρδιάς και των οστών.",
    "Οι μελέτες δείχνουν ότι η μεσογειακή διατροφή μειώνει τον κίνδυνο καρκίνου.",
    "Витамин D и здоровье костей у пожилых людей: систематический обзор.",
    "Употребление овощей и фруктов снижает риск сердечно-сосудистых заболеваний.",
    "维生素D与骨骼健康的关系研究。",
    "绿茶中的儿茶素可能具有抗炎作用。",
    "日本の食生活と健康についての研究。",
    "コーヒーの摂取と糖尿病のリスク。",
    "한국인의 식습관과 건강에 관한 연구.",
    "I love coffee ☕ and apples 🍎 😀 but not sugar 🍬.",
    "Naïve café résumé façade coöperate jalapeño crème brûlée.",
]

# Test texts shared by the cases below. Some characters here never appear in training.
T_ACCENTS_Q = "Les études sur le café et la santé"
T_ACCENTS_D = "Über die Wirkung von Vitamin D bei älteren Menschen: eine Übersicht. Crème brûlée, jalapeño, naïveté."
T_GREEK_Q = "Η διατροφή και η υγεία της καρδιάς"
T_CYRILLIC_D = "Витамин D и здоровье костей у пожилых людей."
T_CJK_Q = "维生素D的作用 🍎"
T_CJK_D = "日本の食生活と健康 ☕ 🦀 한국어 문장 龘 สวัสดี مرحبا"
T_EMOJI = "🦀🦀 coffee ☕☕ 😀 😀😀 👍🏽"
T_WHITESPACE_Q = "   coffee \t and    tea  \n"
T_WHITESPACE_D = "\n\n  Green   tea\t\tcontains    catechins.\n\n   Black tea    does too.  "
T_NUMBERS = (
    "Participants received 25 µg (1,000 IU) of vitamin D3 daily for 12 weeks; "
    "serum 25(OH)D rose by 30.5 nmol/L (p < 0.001, 95% CI 21.2–39.8)."
)
T_COMPAT_Q = "ＦＵＬＬＷＩＤＴＨ ｑｕｅｒｙ ①"
T_COMPAT_D = "\ufb01sh oil\u200b and coffee\u2026 5 \u00b5g\u00a0daily\u2122 \u00bd cup"
T_CODE = 'def score(q, d):\n    return {"q": q, "d": d, "ids": [101, 2023, 102]}  # TODO: x**2 != x^2 && a->b'


def load_corpus(shared: Path) -> list[dict]:
    path = shared / "datasets" / "nfcorpus" / "corpus.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_queries(shared: Path) -> list[dict]:
    path = shared / "datasets" / "nfcorpus" / "queries.jsonl"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+")


def corpus_sentences(corpus: list[dict], limit: int) -> list[str]:
    out: list[str] = []
    for doc in corpus:
        if doc.get("title"):
            out.append(doc["title"].strip())
        for s in _SENT_SPLIT.split(doc.get("text", "")):
            s = s.strip()
            if len(s) > 3:
                out.append(s)
        if len(out) >= limit:
            break
    return out[:limit]


def training_texts(corpus: list[dict]) -> list[str]:
    texts = corpus_sentences(corpus, 4000)
    # Repeat the non-ASCII lines so their characters and a few pieces make it into the vocab.
    texts += NON_ASCII_TRAINING * 5
    return texts


# ----------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # "<mask>" is appended last


def _counter_sorted(counts: dict) -> list:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def train_wordpiece_vocab(words: dict[str, int], vocab_size: int, specials: list[str], min_frequency: int = 2) -> dict[str, int]:
    """Deterministic WordPiece vocabulary (BPE-style merges with "##" continuation pieces).

    Same idea as `tokenizers.trainers.WordPieceTrainer`, written out here because that trainer
    breaks ties between equally frequent characters / pairs in hash-map order, so its output
    changes from run to run. Ties are broken by the pair's strings here.
    """
    items = sorted(words.items())
    syms = [[w[0]] + ["##" + c for c in w[1:]] for w, _ in items]
    freqs = [f for _, f in items]
    char_counts: dict[str, int] = {}
    for s, f in zip(syms, freqs):
        for x in s:
            char_counts[x] = char_counts.get(x, 0) + f
    vocab = list(specials) + [c for c, _ in _counter_sorted(char_counts)]
    seen = set(vocab)
    pair_counts: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}
    for i, (s, f) in enumerate(zip(syms, freqs)):
        for p in zip(s, s[1:]):
            pair_counts[p] = pair_counts.get(p, 0) + f
            where.setdefault(p, set()).add(i)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg:
            continue  # stale entry
        if -neg < min_frequency:
            break
        a, b = pair
        new = a + b[2:]
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
        if new not in seen:
            vocab.append(new)
            seen.add(new)
    return {t: i for i, t in enumerate(vocab)}


def train_bert_tokenizer(texts: list[str]) -> Tokenizer:
    # Exactly what BERT uncased uses (strip_accents=None follows lowercase=True).
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: dict[str, int] = {}
    for t in texts:
        for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(t)):
            words[w] = words.get(w, 0) + 1
    vocab = train_wordpiece_vocab(words, TOKENIZER_VOCAB, BERT_SPECIALS)
    tok = Tokenizer(tok_models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in BERT_SPECIALS])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return tok


# A small SentencePiece normalization table (the real XLM-R uses the large nmt_nfkc table,
# ~320 kB once base64-encoded in tokenizer.json; this keeps the same "Precompiled"
# normalizer path at a fraction of the size). Source and target are code points.
def _spm_rules() -> list[tuple[list[int], list[int]]]:
    rules: list[tuple[list[int], list[int]]] = []
    rules += [([0xFF01 + i], [0x21 + i]) for i in range(94)]  # fullwidth ASCII -> ASCII
    rules += [([0x2460 + i], [0x31 + i]) for i in range(9)]  # circled digits 1-9
    rules += [([0xFB00], [0x66, 0x66]), ([0xFB01], [0x66, 0x69]), ([0xFB02], [0x66, 0x6C]),
              ([0xFB03], [0x66, 0x66, 0x69]), ([0xFB04], [0x66, 0x66, 0x6C])]  # ligatures
    rules += [([c], [0x20]) for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0xA0, 0x3000, *range(0x2000, 0x200B))]
    rules += [([0x200B], []), ([0xFEFF], [])]  # zero-width space, BOM -> removed
    rules += [([0xB5], [0x3BC]), ([0x2026], [0x2E, 0x2E, 0x2E]), ([0x2122], [0x54, 0x4D]),
              ([0x2126], [0x3A9]), ([0x212B], [0xC5]), ([0xBD], [0x31, 0x2044, 0x32])]
    return rules


def train_xlmr_tokenizer(texts: list[str]) -> Tokenizer:
    """SentencePiece Unigram (deterministic, single thread), converted the way transformers
    converts XLM-R: Precompiled normalizer, Metaspace("▁") pre-tokenizer, <s>=0 <pad>=1 </s>=2
    <unk>=3, SentencePiece pieces shifted by one (fairseq offset), <mask> last."""
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer
    from transformers.convert_slow_tokenizer import convert_slow_tokenizer

    with tempfile.TemporaryDirectory(prefix="tamis-spm-") as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text(
            "".join(" ".join(f"{c:X}" for c in s) + "\t" + " ".join(f"{c:X}" for c in t) + "\n" for s, t in _spm_rules()),
            encoding="utf-8",
        )
        model = Path(tmp) / "spm.model"
        with model.open("wb") as f:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts),
                model_writer=f,
                model_type="unigram",
                vocab_size=TOKENIZER_VOCAB - 2,  # +<pad>, +<mask> after conversion
                character_coverage=1.0,
                normalization_rule_tsv=str(rules),
                num_threads=1,
                shuffle_input_sentence=False,
                input_sentence_size=0,
                byte_fallback=False,
                minloglevel=2,
            )
        slow = XLMRobertaTokenizer(vocab_file=str(model))
        tok = convert_slow_tokenizer(slow)
    vocab = tok.get_vocab()
    for i, t in enumerate(XLMR_SPECIALS):
        assert vocab[t] == i, (t, vocab[t])
    assert vocab["<mask>"] == tok.get_vocab_size() - 1
    return tok


def wrap_bert(tok: Tokenizer, model_max_length: int) -> BertTokenizerFast:
    return BertTokenizerFast(
        tokenizer_object=tok,
        model_max_length=model_max_length,
        do_lower_case=True,
        strip_accents=None,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )


def wrap_xlmr(tok: Tokenizer, model_max_length: int) -> XLMRobertaTokenizerFast:
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        model_max_length=model_max_length,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


# ----------------------------------------------------------------------------------------
# Tiny models
# ----------------------------------------------------------------------------------------


def bert_config(vocab_size: int, **kw) -> BertConfig:
    base = dict(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=64,
        type_vocab_size=2,
        pad_token_id=0,
        hidden_act="gelu",
    )
    base.update(kw)
    return BertConfig(**base)


def xlmr_config(vocab_size: int, **kw) -> XLMRobertaConfig:
    base = dict(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=CE_MAX_LENGTH + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        hidden_act="gelu",
    )
    base.update(kw)
    return XLMRobertaConfig(**base)


def build_model(cls, config, seed: int):
    """Default init under `seed`, then N(0, NOISE_STD) added to every parameter."""
    torch.manual_seed(seed)
    model = cls(config)
    gen = torch.Generator().manual_seed(seed + 100_000)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * NOISE_STD)
    model.eval()
    return model


# ----------------------------------------------------------------------------------------
# Deterministic JSON output
# ----------------------------------------------------------------------------------------


def fmt_float(x) -> str:
    v = np.float32(x)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {x}")
    s = str(v)  # shortest decimal that round-trips to this float32
    return s


def compact(obj) -> str:
    if isinstance(obj, (float, np.floating)):
        return fmt_float(obj)
    if isinstance(obj, bool) or obj is None:
        return json.dumps(obj)
    if isinstance(obj, (int, np.integer)):
        return str(int(obj))
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(compact(v) for v in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {compact(v)}" for k, v in obj.items()) + "}"
    raise TypeError(type(obj))


def write_fixture_json(path: Path, header: dict, cases: list[dict]) -> None:
    lines = ["{"]
    for k, v in header.items():
        lines.append(f"  {json.dumps(k)}: {compact(v)},")
    lines.append('  "cases": [')
    lines.append(",\n".join("    " + compact(c) for c in cases))
    lines.append("  ]")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))  # sanity: valid JSON


def floats(t) -> list[float]:
    arr = np.asarray(t, dtype=np.float32).reshape(-1)
    return [np.float32(x) for x in arr]


# ----------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------


def ce_cases(corpus: list[dict]) -> list[tuple[str, str, str]]:
    """(query, document, truncation) triples."""
    by_id = {d["_id"]: d for d in corpus}
    doc0 = corpus[0]
    long_docs = [d for d in corpus if len(d.get("text", "")) > 1200]
    ld = long_docs[:6]
    med10 = by_id.get("MED-10", doc0)
    cases = [
        ("what is vitamin d", "Vitamin D is a fat-soluble vitamin that is important for bone health.", "longest_first"),
        ("statins breast cancer", med10["title"], "longest_first"),
        ("Do apples help?", "yes", "longest_first"),
        # Both sides long: longest_first trims both.
        (ld[0]["text"][:400], ld[1]["text"][:600], "longest_first"),
        (ld[2]["title"] + " " + ld[2]["text"][:300], ld[3]["text"], "longest_first"),
        (ld[4]["text"][:250], ld[4]["text"][250:700], "longest_first"),
        # Very long query, short document: only the query gets trimmed.
        (ld[5]["text"], "Coffee and health.", "longest_first"),
        # One-character documents.
        ("is coffee healthy?", "a", "longest_first"),
        ("x", "é", "longest_first"),
        # Whitespace-heavy.
        (T_WHITESPACE_Q, T_WHITESPACE_D, "longest_first"),
        # Non-ASCII.
        (T_ACCENTS_Q, T_ACCENTS_D, "longest_first"),
        (T_GREEK_Q, T_CYRILLIC_D, "longest_first"),
        (T_CJK_Q, T_CJK_D, "longest_first"),
        ("vitamin D dose in IU", T_NUMBERS, "longest_first"),
        # Compatibility characters (fullwidth, ligature, zero-width space, NBSP, ellipsis).
        (T_COMPAT_Q, T_COMPAT_D, "longest_first"),
        # only_second: short query, long document.
        ("statin use and breast cancer survival", med10["text"], "only_second"),
        ("green tea", ld[1]["text"], "only_second"),
        ("Витамин D 🍎", ld[3]["title"] + ". " + ld[3]["text"], "only_second"),
    ]
    return cases


def embed_texts(corpus: list[dict]) -> list[str]:
    long_doc = next(d for d in corpus if len(d.get("text", "")) > 1200)
    return [
        "vitamin d",
        "Statin use and breast cancer survival: a nationwide cohort study from Finland.",
        long_doc["text"],  # longer than max_seq_length -> truncated
        corpus[1]["title"] + ". " + corpus[1]["text"][:400],
        T_ACCENTS_D,
        T_GREEK_Q,
        T_CYRILLIC_D,
        T_CJK_D,
        "a",
        T_WHITESPACE_D,
        T_NUMBERS,
        T_EMOJI,
    ]


def minilm_texts(corpus: list[dict], queries: list[dict], tok) -> list[str]:
    texts: list[str] = []
    # Titles of various lengths.
    titles = [d["title"] for d in corpus if d.get("title")]
    titles.sort(key=len)
    n = len(titles)
    texts += [titles[0], titles[n // 4], titles[n // 2], titles[(3 * n) // 4], titles[-1]]
    # Passages of increasing token length, including at least 3 longer than 256 tokens.
    with_len = [(len(tok(d["text"])["input_ids"]), i) for i, d in enumerate(corpus[:800]) if d.get("text")]
    targets = [20, 60, 120, 180, 240, 255, 300, 400, 600]
    used: set[int] = set()
    for t in targets:
        best = min((abs(L - t), i) for L, i in with_len if i not in used)[1]
        used.add(best)
        texts.append(corpus[best]["text"])
    longest = max(with_len)[1]
    if longest not in used:
        texts.append(corpus[longest]["text"])
    # Questions (NFCorpus queries) plus a few hand-written ones.
    qs = [q["text"] for q in queries if q.get("text", "").strip().endswith("?")][:5]
    qs += [q["text"] for q in queries if not q.get("text", "").strip().endswith("?")][:3]
    texts += qs
    texts += [
        "What are the health effects of drinking coffee every day?",
        "Does vitamin D supplementation reduce the risk of fractures in older adults?",
        "How much protein should an athlete eat per kilogram of body weight?",
        # Numbers and units.
        T_NUMBERS,
        "Take 2 x 500 mg tablets every 8 h; max 4 g/24 h. BMI ≥ 30 kg/m², LDL 3.4 mmol/L, 37.5 °C.",
        "In 2019, 1.5 million (±0.2) deaths were attributed to sodium intake above 5 g/day.",
        # Non-ASCII.
        T_ACCENTS_Q,
        T_ACCENTS_D,
        "Η μεσογειακή διατροφή μειώνει τον κίνδυνο καρδιαγγειακών νοσημάτων.",
        "Употребление овощей и фруктов снижает риск сердечно-сосудистых заболеваний.",
        "绿茶中的儿茶素可能具有抗炎作用。日本の食生活と健康。한국어 문장입니다.",
        "I love coffee ☕ and apples 🍎 😀👍🏽 🦀",
        "Naïve café résumé façade coöperate jalapeño crème brûlée ﬁ ＡＢＣ①",
        # Single characters and very short text.
        "a",
        "?",
        "é",
        "ok",
        "DNA",
        # Code-like text.
        T_CODE,
        "SELECT title, score FROM docs WHERE score >= 0.75 ORDER BY score DESC LIMIT 10;",
        '{"query": "vitamin d", "top_k": 10, "filters": {"year": [2010, 2020]}}',
        "https://example.org/api/v1/search?q=statins&lang=en#results",
        # Whitespace-heavy and mixed case.
        T_WHITESPACE_D,
        "UPPER CASE TEXT ABOUT OMEGA-3 FATTY ACIDS AND INFLAMMATION",
        "COVID-19 & vitamin-D: 2× risk?",
        "La dieta mediterránea reduce el riesgo de enfermedades cardiovasculares en un 30 %.",
        T_COMPAT_Q + " " + T_COMPAT_D,
    ]
    return texts


# ----------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------

CE_SPECS = [
    # name, family, num_labels, extra config, seed offset
    ("bert-ce-1label", "bert", 1, dict(hidden_act="gelu"), 1),
    ("bert-ce-2label", "bert", 2, dict(hidden_act="gelu_new", layer_norm_eps=1e-7), 2),
    ("xlmr-ce-1label", "xlmr", 1, dict(hidden_act="gelu"), 3),
    ("xlmr-ce-2label", "xlmr", 2, dict(hidden_act="gelu_pytorch_tanh"), 4),
]

EMBED_SPECS = [
    # name, family, pooling mode, normalize, prompts, seed offset
    ("xlmr-embed-mean", "xlmr", "mean", True, {"query": "query: ", "document": "passage: "}, 5),
    ("bert-embed-cls", "bert", "cls", False, None, 6),
    ("bert-embed-max", "bert", "max", False, None, 7),
    ("bert-embed-lasttoken", "bert", "lasttoken", True, None, 8),
]


def reset_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def remove_empty_dirs(root: Path) -> None:
    # git does not keep empty directories (e.g. ST's 2_Normalize); drop them so the
    # generated tree is exactly what a checkout has.
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()


def ce_inputs(hf_tok, query: str, document: str, truncation: str, max_length: int):
    enc = hf_tok(
        query,
        document,
        truncation=truncation,
        max_length=max_length,
        return_token_type_ids=True,
        return_attention_mask=True,
    )
    full = hf_tok(query, document, truncation=False)["input_ids"]
    return enc, len(full) > max_length


def ce_logits(model, enc) -> list:
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor([enc["input_ids"]]),
            attention_mask=torch.tensor([enc["attention_mask"]]),
            token_type_ids=torch.tensor([enc["token_type_ids"]]),
        )
    return floats(out.logits[0].to(torch.float32))


def generate_cross_encoder(out: Path, spec, raw_tok: Tokenizer, cases) -> Path:
    name, family, num_labels, extra, seed_off = spec
    d = out / name
    reset_dir(d)
    if family == "bert":
        hf_tok = wrap_bert(raw_tok, CE_MAX_LENGTH)
        config = bert_config(raw_tok.get_vocab_size(), num_labels=num_labels, **extra)
        model = build_model(BertForSequenceClassification, config, SEED + seed_off)
    else:
        hf_tok = wrap_xlmr(raw_tok, CE_MAX_LENGTH)
        config = xlmr_config(raw_tok.get_vocab_size(), num_labels=num_labels, **extra)
        model = build_model(XLMRobertaForSequenceClassification, config, SEED + seed_off)
    if name == "bert-ce-2label":
        model.config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    model.save_pretrained(d, safe_serialization=True)
    hf_tok.save_pretrained(d)

    records = []
    for query, document, truncation in cases:
        enc, truncated = ce_inputs(hf_tok, query, document, truncation, CE_MAX_LENGTH)
        records.append(
            {
                "query": query,
                "document": document,
                "truncation": truncation,
                "input_ids": list(enc["input_ids"]),
                "token_type_ids": list(enc["token_type_ids"]),
                "truncated": truncated,
                "logits": ce_logits(model, enc),
            }
        )
    write_fixture_json(d / "expected.json", {"max_length": CE_MAX_LENGTH, "num_labels": num_labels}, records)
    return d


def generate_embedder(out: Path, spec, raw_tok: Tokenizer, texts: list[str]) -> Path:
    name, family, pooling, normalize, prompts, seed_off = spec
    d = out / name
    reset_dir(d)
    with tempfile.TemporaryDirectory(prefix="tamis-parity-") as tmp:
        if family == "bert":
            hf_tok = wrap_bert(raw_tok, CE_MAX_LENGTH)
            model = build_model(BertModel, bert_config(raw_tok.get_vocab_size()), SEED + seed_off)
        else:
            hf_tok = wrap_xlmr(raw_tok, CE_MAX_LENGTH)
            model = build_model(XLMRobertaModel, xlmr_config(raw_tok.get_vocab_size()), SEED + seed_off)
        model.save_pretrained(tmp, safe_serialization=True)
        hf_tok.save_pretrained(tmp)
        transformer = st_models.Transformer(tmp, max_seq_length=EMBED_MAX_SEQ_LENGTH)
        modules = [transformer, st_models.Pooling(HIDDEN, pooling_mode=pooling)]
        if normalize:
            modules.append(st_models.Normalize())
        st = SentenceTransformer(modules=modules, device="cpu", prompts=prompts)
        st.eval()
        st.save(str(d), create_model_card=False, safe_serialization=True)
    remove_empty_dirs(d)

    plan: list[tuple[str, str | None]] = [(t, None) for t in texts]
    if prompts:
        plan = [(t, None) for t in texts[:7]]
        plan += [(t, "query") for t in ("vitamin d", texts[1], T_CJK_Q)]
        plan += [(t, "document") for t in (texts[3], texts[4])]
    records = [embed_record(st, text, prompt_name) for text, prompt_name in plan]
    write_fixture_json(d / "expected.json", {"max_seq_length": EMBED_MAX_SEQ_LENGTH}, records)
    return d


def embed_record(st: SentenceTransformer, text: str, prompt_name: str | None) -> dict:
    prompt = st.prompts[prompt_name] if prompt_name else ""
    ids = st.tokenize([prompt + text])["input_ids"][0].tolist()
    emb = st.encode(text, prompt_name=prompt_name, convert_to_numpy=True, show_progress_bar=False)
    assert emb.dtype == np.float32
    return {"text": text, "prompt_name": prompt_name, "input_ids": ids, "embedding": floats(emb)}


def generate_minilm(out: Path, shared: Path, corpus, queries) -> Path:
    model_dir = shared / "models" / MINILM_NAME
    st = SentenceTransformer(str(model_dir), device="cpu")
    st.eval()
    texts = minilm_texts(corpus, queries, st.tokenizer)
    records = [embed_record(st, t, None) for t in texts]
    n_trunc = sum(1 for t in texts if len(st.tokenizer(t)["input_ids"]) > st.max_seq_length)
    assert n_trunc >= 3, n_trunc
    path = out / "minilm-embeddings.json"
    write_fixture_json(path, {"max_seq_length": st.max_seq_length, "model": MINILM_NAME}, records)
    return path


# ----------------------------------------------------------------------------------------
# Verification (reload what was written and compare)
# ----------------------------------------------------------------------------------------


def raw_ids(tokenizer_json: Path, first: str, second: str | None, max_length: int, strategy: str):
    """Encode with the bare `tokenizers` library from tokenizer.json, as the Rust side does."""
    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, strategy=strategy)
    enc = tok.encode(first, second) if second is not None else tok.encode(first)
    return enc.ids, enc.type_ids


def verify_cross_encoder(d: Path) -> None:
    exp = json.loads((d / "expected.json").read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(str(d))
    model = AutoModelForSequenceClassification.from_pretrained(str(d)).eval()
    assert tok.model_max_length == exp["max_length"], (d, tok.model_max_length)
    assert model.config.num_labels == exp["num_labels"]
    worst = 0.0
    for c in exp["cases"]:
        enc, truncated = ce_inputs(tok, c["query"], c["document"], c["truncation"], exp["max_length"])
        assert list(enc["input_ids"]) == c["input_ids"], (d, c["query"][:40])
        assert list(enc["token_type_ids"]) == c["token_type_ids"], (d, c["query"][:40])
        assert truncated == c["truncated"]
        ids, type_ids = raw_ids(d / "tokenizer.json", c["query"], c["document"], exp["max_length"], c["truncation"])
        assert ids == c["input_ids"] and type_ids == c["token_type_ids"], (d, "raw tokenizer.json", c["query"][:40])
        got = np.array(ce_logits(model, enc), dtype=np.float64)
        want = np.array(c["logits"], dtype=np.float64)
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst <= 1e-6, (d, worst)
    logits = np.array([c["logits"] for c in exp["cases"]])
    print(f"  verified {d.name}: {len(exp['cases'])} cases, max |dlogit| {worst:.2e}, "
          f"logit range [{logits.min():.3f}, {logits.max():.3f}], "
          f"truncated {sum(c['truncated'] for c in exp['cases'])}")


def verify_embedder(d: Path, model_path: Path | None = None) -> None:
    exp = json.loads(d.read_text(encoding="utf-8")) if d.is_file() else json.loads((d / "expected.json").read_text(encoding="utf-8"))
    model_path = model_path or d
    st = SentenceTransformer(str(model_path), device="cpu").eval()
    assert st.max_seq_length == exp["max_seq_length"], (st.max_seq_length, exp["max_seq_length"])
    worst, min_cos = 0.0, 1.0
    for c in exp["cases"]:
        prompt = st.prompts[c["prompt_name"]] if c["prompt_name"] else ""
        ids = st.tokenize([prompt + c["text"]])["input_ids"][0].tolist()
        assert ids == c["input_ids"], (d, c["text"][:40])
        rids, _ = raw_ids(model_path / "tokenizer.json", prompt + c["text"], None, exp["max_seq_length"], "longest_first")
        assert rids == c["input_ids"], (d, "raw tokenizer.json", c["text"][:40])
        got = st.encode(c["text"], prompt_name=c["prompt_name"], convert_to_numpy=True, show_progress_bar=False)
        want = np.array(c["embedding"], dtype=np.float32)
        worst = max(worst, float(np.abs(got - want).max()))
        min_cos = min(min_cos, float(np.dot(got, want) / (np.linalg.norm(got) * np.linalg.norm(want))))
    assert worst <= 1e-6, (d, worst)
    n_trunc = sum(1 for c in exp["cases"] if len(c["input_ids"]) == exp["max_seq_length"])
    print(f"  verified {d.name}: {len(exp['cases'])} cases, max |diff| {worst:.2e}, min cos {min_cos:.7f}, "
          f"at max length {n_trunc}")


# ----------------------------------------------------------------------------------------


def default_shared() -> Path:
    env = os.environ.get("TAMIS_SHARED_DIR")
    if env:
        return Path(env)
    return (REPO_ROOT / ".." / "shared").resolve()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=None,
                    help="shared data directory (default: $TAMIS_SHARED_DIR or ../shared relative to the repo root)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "crates" / "tamis-models" / "tests" / "fixtures",
                    help="output directory (default: crates/tamis-models/tests/fixtures)")
    ap.add_argument("--no-verify", action="store_true", help="skip reloading and re-checking the written fixtures")
    args = ap.parse_args()
    shared = (args.shared or default_shared()).resolve()
    out = args.out.resolve()
    if not (shared / "models" / MINILM_NAME).is_dir():
        print(f"error: {shared}/models/{MINILM_NAME} not found (use --shared or TAMIS_SHARED_DIR)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"sentence-transformers {sentence_transformers.__version__}, tokenizers "
          f"{__import__('tokenizers').__version__}, numpy {np.__version__}")
    print(f"shared: {shared}\nout:    {out}")

    corpus = load_corpus(shared)
    queries = load_queries(shared)
    texts = training_texts(corpus)
    bert_tok = train_bert_tokenizer(texts)
    xlmr_tok = train_xlmr_tokenizer(texts)
    print(f"trained tokenizers on {len(texts)} texts: WordPiece vocab {bert_tok.get_vocab_size()}, "
          f"Unigram vocab {xlmr_tok.get_vocab_size()}")

    written: list[Path] = []
    cases = ce_cases(corpus)
    for spec in CE_SPECS:
        raw = bert_tok if spec[1] == "bert" else xlmr_tok
        written.append(generate_cross_encoder(out, spec, raw, cases))
    etexts = embed_texts(corpus)
    for spec in EMBED_SPECS:
        raw = bert_tok if spec[1] == "bert" else xlmr_tok
        written.append(generate_embedder(out, spec, raw, etexts))
    written.append(generate_minilm(out, shared, corpus, queries))

    if not args.no_verify:
        print("verifying (reloading from disk):")
        for d in written[: len(CE_SPECS)]:
            verify_cross_encoder(d)
        for d in written[len(CE_SPECS): len(CE_SPECS) + len(EMBED_SPECS)]:
            verify_embedder(d)
        verify_embedder(written[-1], shared / "models" / MINILM_NAME)

    print("files written:")
    total = 0
    for p in written:
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            size = f.stat().st_size
            total += size
            print(f"  {size:>9,d}  {f.relative_to(out)}")
    print(f"  {total:>9,d}  total ({total / 1024 / 1024:.2f} MiB)")
    if total >= 4 * 1024 * 1024:
        print("warning: fixtures exceed 4 MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
