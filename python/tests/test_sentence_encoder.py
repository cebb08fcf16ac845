"""tamis.SentenceEncoder against sentence-transformers' SentenceTransformer on all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer as StSentenceTransformer

import tamis

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def models(bi_path):
    torch.set_num_threads(2)
    return tamis.SentenceEncoder(bi_path), StSentenceTransformer(bi_path, device="cpu")


@pytest.fixture(scope="module")
def texts(nfcorpus):
    queries, docs = nfcorpus
    return queries + docs


def test_encode_equals_sentence_transformers(models, texts):
    ours, theirs = models
    got = ours.encode(texts)
    want = theirs.encode(texts)
    assert got.shape == want.shape == (len(texts), 384)
    assert got.dtype == np.float32
    assert np.max(np.abs(got - want)) < TOLERANCE


def test_options_follow_sentence_transformers(models, texts):
    ours, theirs = models
    few = texts[:12]
    for kwargs in (
        {"normalize_embeddings": True},
        {"truncate_dim": 64},
        {"truncate_dim": 64, "normalize_embeddings": True},
        {"prompt": "query: "},
    ):
        got = ours.encode(few, **kwargs)
        want = theirs.encode(few, **kwargs)
        assert got.shape == want.shape, kwargs
        assert np.max(np.abs(got - want)) < TOLERANCE, kwargs
    one = ours.encode(few[0])
    assert one.shape == (384,) and np.max(np.abs(one - theirs.encode(few[0]))) < TOLERANCE
    assert ours.encode([]).shape == (0, 384)
    assert isinstance(ours.encode(few[:2], convert_to_tensor=True), torch.Tensor)
    assert len(ours.encode(few[:2], convert_to_numpy=False)) == 2
    stepped = ours.encode(few, batch_size=5, show_progress_bar=True)
    assert np.max(np.abs(stepped - ours.encode(few))) < 1e-5
    assert ours.get_sentence_embedding_dimension() == theirs.get_sentence_embedding_dimension()
    assert ours.max_seq_length == theirs.max_seq_length
    sims = ours.similarity(ours.encode(few[:3]), ours.encode(few[3:5]))
    want_sims = theirs.similarity(theirs.encode(few[:3]), theirs.encode(few[3:5])).numpy()
    assert np.max(np.abs(sims - want_sims)) < TOLERANCE


def test_quantized_outputs_equal_sentence_transformers(models, texts):
    ours, theirs = models
    for precision in ("binary", "ubinary", "int8", "uint8"):
        got = ours.encode(texts, precision=precision)
        want = theirs.encode(texts, precision=precision)
        assert got.dtype == want.dtype and got.shape == want.shape, precision
        # A sign or a bucket edge can flip only where the float embeddings differ (~1e-6).
        mismatched = np.count_nonzero(got != want)
        assert mismatched <= got.size // 100, (precision, mismatched)
        if precision.endswith("int8"):
            assert np.max(np.abs(got.astype(np.int32) - want.astype(np.int32))) <= 1, precision


def test_drop_in_name(bi_path):
    assert tamis.SentenceTransformer is tamis.SentenceEncoder


def test_bad_input_raises_typed_errors(models, ce_path):
    ours, _ = models
    with pytest.raises(tamis.InvalidInputError, match="cross-encoder"):
        tamis.SentenceEncoder(ce_path)
    with pytest.raises(tamis.InvalidInputError, match="prompt_name"):
        ours.encode(["x"], prompt_name="nope")
    with pytest.raises(tamis.InvalidInputError, match="output_value"):
        ours.encode(["x"], output_value="token_embeddings")
    with pytest.raises(tamis.InvalidInputError, match="precision"):
        ours.encode(["x"], precision="float16")
    with pytest.raises(tamis.InvalidInputError, match="not a str"):
        ours.encode(["x", None])
