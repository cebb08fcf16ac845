"""tamis.CrossEncoder against sentence-transformers' CrossEncoder on the shared model."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder as StCrossEncoder

import tamis

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def models(ce_path):
    torch.set_num_threads(2)
    return tamis.CrossEncoder(ce_path), StCrossEncoder(ce_path, device="cpu")


@pytest.fixture(scope="module")
def pairs(nfcorpus):
    queries, docs = nfcorpus
    return [(queries[i % len(queries)], docs[(7 * i) % len(docs)]) for i in range(120)]


def test_predict_equals_sentence_transformers(models, pairs):
    ours, theirs = models
    got = ours.predict(pairs)
    want = theirs.predict(pairs)
    assert got.shape == want.shape == (len(pairs),)
    assert got.dtype == np.float32
    assert np.max(np.abs(got - want)) < TOLERANCE


def test_raw_logits_and_other_activations_match(models, pairs, ce_path):
    ours, _ = models
    # sentence-transformers keeps a call's activation_fn for later calls (tamis does not),
    # so this test has its own instance.
    theirs = StCrossEncoder(ce_path, device="cpu")
    few = pairs[:16]
    for fn in (torch.nn.Identity(), torch.nn.Sigmoid(), torch.nn.Tanh()):
        got = ours.predict(few, activation_fn=fn)
        want = theirs.predict(few, activation_fn=fn)
        assert np.max(np.abs(got - want)) < TOLERANCE, fn
    # A NumPy function works where a torch module does.
    got = ours.predict(few, activation_fn=lambda x: 1 / (1 + np.exp(-x)))
    want = theirs.predict(few, activation_fn=torch.nn.Sigmoid())
    assert np.max(np.abs(got - want)) < TOLERANCE


def test_shapes_follow_sentence_transformers(models, pairs):
    ours, theirs = models
    one = ours.predict(pairs[0])
    assert np.ndim(one) == 0 and abs(float(one) - float(theirs.predict(pairs[0]))) < TOLERANCE
    assert ours.predict([list(p) for p in pairs[:3]]).shape == (3,)
    assert ours.predict([]).shape == (0,)
    as_list = ours.predict(pairs[:3], convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == 3
    tensor = ours.predict(pairs[:3], convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3,)


def test_progress_batches_give_the_same_scores(models, pairs):
    ours, _ = models
    whole = ours.predict(pairs)
    stepped = ours.predict(pairs, batch_size=7, show_progress_bar=True)
    assert np.max(np.abs(whole - stepped)) < 1e-5


def test_rank_equals_sentence_transformers(models, nfcorpus):
    ours, theirs = models
    queries, docs = nfcorpus
    for query in queries[:5]:
        got = ours.rank(query, docs, top_k=10, return_documents=True)
        want = theirs.rank(query, docs, top_k=10, return_documents=True)
        assert [r["corpus_id"] for r in got] == [r["corpus_id"] for r in want]
        assert all(g["text"] == docs[g["corpus_id"]] for g in got)
        assert all(set(g) == set(w) for g, w in zip(got, want))
        assert max(abs(g["score"] - w["score"]) for g, w in zip(got, want)) < TOLERANCE
    assert len(ours.rank(queries[0], docs)) == len(docs)
    assert "text" not in ours.rank(queries[0], docs[:2])[0]


def test_max_length_truncates_as_sentence_transformers(ce_path, pairs):
    ours = tamis.CrossEncoder(ce_path, max_length=64)
    theirs = StCrossEncoder(ce_path, max_length=64, device="cpu")
    assert ours.max_length == 64
    assert np.max(np.abs(ours.predict(pairs[:20]) - theirs.predict(pairs[:20]))) < TOLERANCE


def test_int8_runs_and_says_so(ce_path, models, pairs):
    int8 = tamis.CrossEncoder(ce_path, precision="int8", threads=1)
    assert int8.precision == "int8"
    fp32 = models[0].predict(pairs[:40])
    got = int8.predict(pairs[:40])
    # int8 moves scores by the quantization error, and keeps most of the order.
    assert np.corrcoef(got, fp32)[0, 1] > 0.99


def test_bad_input_raises_typed_errors(ce_path, bi_path, models):
    ours, _ = models
    with pytest.raises(tamis.NotFoundError, match="does not exist") as err:
        tamis.CrossEncoder("/nonexistent/model-dir")
    assert isinstance(err.value, LookupError)
    with pytest.raises(tamis.InvalidInputError, match="bi-encoder") as err:
        tamis.CrossEncoder(bi_path)
    assert isinstance(err.value, ValueError)
    with pytest.raises(tamis.UnavailableError, match="not in the Hugging Face cache"):
        tamis.CrossEncoder("tamis-test/not-a-model", local_files_only=True)
    with pytest.raises(tamis.InvalidInputError, match="unknown precision"):
        tamis.CrossEncoder(ce_path, precision="fp8")
    with pytest.raises(tamis.InvalidInputError, match="threads"):
        tamis.CrossEncoder(ce_path, threads=0)
    with pytest.raises(tamis.InvalidInputError, match="device"):
        tamis.CrossEncoder(ce_path, device="cuda")
    with pytest.raises(tamis.InvalidInputError, match="not a str"):
        ours.predict([("query", 3)])
    with pytest.raises(tamis.InvalidInputError, match="pair"):
        ours.predict([("only one",)])
    with pytest.raises(tamis.InvalidInputError, match="batch_size"):
        ours.predict([("q", "d")], batch_size=0, show_progress_bar=True)
    assert all(issubclass(c, tamis.TamisError) for c in (tamis.NotFoundError, tamis.InvalidInputError))


def test_model_work_releases_the_gil(models, pairs):
    """A Python thread keeps running while another scores pairs: the engine runs
    without the GIL."""
    ours, _ = models
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    start = time.perf_counter()
    ours.predict(pairs * 2)
    end = time.perf_counter()
    done.set()
    thread.join()
    during = [t for t in ticks if start < t < end]
    # With the GIL held for the whole call the ticker could not run at all meanwhile.
    assert end - start > 0.05
    assert len(during) >= 10, f"{len(during)} ticks in {end - start:.3f} s"


def test_threads_score_concurrently_with_one_model(models, pairs):
    ours, _ = models
    want = ours.predict(pairs[:30])
    results = [None] * 4

    def work(i):
        results[i] = ours.predict(pairs[:30])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        assert np.max(np.abs(got - want)) < 1e-5


def _model_threads():
    """The engine's pool threads of this process (Linux), by thread id."""
    found = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as comm:
                if comm.read().startswith("tamis-model-"):
                    found.add(tid)
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_threads_bound_the_pool(ce_path, pairs):
    for asked, want in ((3, 3), (1, 1), (None, len(os.sched_getaffinity(0)))):
        before = _model_threads()
        model = tamis.CrossEncoder(ce_path, threads=asked)
        model.predict(pairs[:8])
        assert len(_model_threads() - before) == want, f"threads={asked}"
        del model
