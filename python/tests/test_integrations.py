"""tamis' rerankers for LangChain, LlamaIndex and Haystack, on the real frameworks: each
must give the order and scores of ``tamis.CrossEncoder.rank`` and behave as the
framework's own rerankers do (top-n, score fields, inputs left unchanged, errors)."""

from __future__ import annotations

import asyncio
import copy
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Haystack reports usage over the network unless told not to, and this machine has none.
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

import haystack  # noqa: E402
import pydantic  # noqa: E402
from langchain_core.documents import Document as LcDocument  # noqa: E402
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode  # noqa: E402

import tamis  # noqa: E402
from tamis.integrations.haystack import TamisRanker  # noqa: E402
from tamis.integrations.langchain import TamisReranker  # noqa: E402
from tamis.integrations.llama_index import TamisRerank  # noqa: E402


@pytest.fixture(scope="module")
def ce(ce_path):
    return tamis.CrossEncoder(ce_path)


@pytest.fixture(scope="module")
def corpus(nfcorpus):
    queries, docs = nfcorpus
    return queries[:3], docs[:16]


@pytest.fixture(scope="module")
def reference(ce, corpus):
    """Each query's full ranking by the cross-encoder itself: what every integration must
    reproduce."""
    queries, docs = corpus
    return {q: ce.rank(q, docs) for q in queries}


def _numpy_sigmoid(x):
    return 1 / (1 + np.exp(-x))


# LangChain


def _lc_docs(docs):
    return [
        LcDocument(page_content=d, metadata={"i": i, "tags": ["nf"]}, id=f"doc-{i}") for i, d in enumerate(docs)
    ]


def test_langchain_reranker_equals_rank(ce, corpus, reference):
    queries, docs = corpus
    inputs = _lc_docs(docs)
    before = copy.deepcopy(inputs)
    reranker = TamisReranker(model=ce, top_n=5)
    for q in queries:
        out = reranker.compress_documents(inputs, q)
        want = reference[q][:5]
        assert [d.metadata["i"] for d in out] == [r["corpus_id"] for r in want]
        assert [d.metadata["relevance_score"] for d in out] == [float(r["score"]) for r in want]
        assert all(type(d.metadata["relevance_score"]) is float for d in out)
        assert all(d.page_content == docs[d.metadata["i"]] and d.id == f"doc-{d.metadata['i']}" for d in out)
        assert all(d.metadata["tags"] == ["nf"] for d in out)
    # Copies come back: the inputs, their metadata included, are as they were.
    assert inputs == before
    assert all("relevance_score" not in d.metadata for d in inputs)
    out[0].metadata["tags"].append("changed")
    assert inputs[out[0].metadata["i"]].metadata["tags"] == ["nf"]


def test_langchain_top_n_and_loading(ce_path, corpus, reference):
    queries, docs = corpus
    inputs = _lc_docs(docs)
    q = queries[1]
    want = [r["corpus_id"] for r in reference[q]]
    default = TamisReranker(model=ce_path)
    assert default.top_n == 3 and default.model.path == ce_path
    assert [d.metadata["i"] for d in default.compress_documents(inputs, q)] == want[:3]
    assert default.compress_documents([], q) == []
    everything = TamisReranker(model=Path(ce_path), top_n=None).compress_documents(inputs, q)
    assert [d.metadata["i"] for d in everything] == want
    default.top_n = 100
    assert len(default.compress_documents(inputs[:4], q)) == 4


def test_langchain_async_path_gives_the_same(ce, corpus, reference):
    """``acompress_documents`` (the async path of ContextualCompressionRetriever) runs the
    sync method in an executor."""
    queries, docs = corpus
    reranker = TamisReranker(model=ce, top_n=4)
    out = asyncio.run(reranker.acompress_documents(_lc_docs(docs), queries[2]))
    assert [d.metadata["i"] for d in out] == [r["corpus_id"] for r in reference[queries[2]][:4]]


def test_langchain_errors(ce, ce_path):
    with pytest.raises(pydantic.ValidationError, match="top_n"):
        TamisReranker(model=ce, top_n=0)
    with pytest.raises(pydantic.ValidationError, match="model"):
        TamisReranker(model=42)
    with pytest.raises(pydantic.ValidationError, match="top_k"):
        TamisReranker(model=ce, top_k=3)
    with pytest.raises(tamis.NotFoundError, match="does not exist"):
        TamisReranker(model="/nonexistent/model-dir")
    with pytest.raises(tamis.InvalidInputError, match="not a str"):
        TamisReranker(model=ce).compress_documents([LcDocument(page_content="text")], 7)


# LlamaIndex


def _nodes(docs):
    return [NodeWithScore(node=TextNode(text=d, id_=f"n{i}"), score=1 - i / 100) for i, d in enumerate(docs)]


def _index(node: NodeWithScore) -> int:
    return int(node.node.node_id[1:])


def test_llama_index_rerank_equals_rank(ce, corpus, reference):
    queries, docs = corpus
    nodes = _nodes(docs)
    before = copy.deepcopy(nodes)
    debug = LlamaDebugHandler()
    rerank = TamisRerank(model=ce, top_n=5, callback_manager=CallbackManager([debug]))
    assert rerank.model == ce.path and rerank.top_n == 5
    for q in queries:
        out = rerank.postprocess_nodes(nodes, query_bundle=QueryBundle(q))
        want = reference[q][:5]
        assert all(isinstance(n, NodeWithScore) for n in out)
        assert [_index(n) for n in out] == [r["corpus_id"] for r in want]
        assert [n.score for n in out] == [float(r["score"]) for r in want]
        assert all(n.node is nodes[_index(n)].node for n in out)
    by_str = rerank.postprocess_nodes(nodes, query_str=queries[-1])
    assert [(n.node.node_id, n.score) for n in by_str] == [(n.node.node_id, n.score) for n in out]
    assert [n.score for n in nodes] == [n.score for n in before]
    assert len(debug.get_event_pairs(CBEventType.RERANKING)) == len(queries) + 1


def test_llama_index_scores_the_embed_text(ce, corpus):
    """Like SentenceTransformerRerank, the model reads the node's text with the metadata
    the node shows an embedding model, and not the keys excluded from it."""
    queries, docs = corpus
    nodes = [
        NodeWithScore(
            node=TextNode(
                text=d,
                id_=f"n{i}",
                metadata={"title": f"record {i}", "secret": "x" * 10},
                excluded_embed_metadata_keys=["secret"],
            )
        )
        for i, d in enumerate(docs[:12])
    ]
    texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    assert all("record" in t and "xxxxxxxxxx" not in t for t in texts)
    want = ce.rank(queries[0], texts, top_k=4)
    out = TamisRerank(model=ce, top_n=4).postprocess_nodes(nodes, query_str=queries[0])
    assert [(_index(n), n.score) for n in out] == [(r["corpus_id"], float(r["score"])) for r in want]


def test_llama_index_keep_retrieval_score_copies_the_node(ce_path, corpus, reference):
    queries, docs = corpus
    nodes = _nodes(docs)
    rerank = TamisRerank(model=ce_path, top_n=3, keep_retrieval_score=True, model_kwargs={"threads": 1})
    assert rerank.model == ce_path
    out = rerank.postprocess_nodes(nodes, query_str=queries[0])
    assert [_index(n) for n in out] == [r["corpus_id"] for r in reference[queries[0]][:3]]
    for n in out:
        original = nodes[_index(n)]
        assert n.node.metadata["retrieval_score"] == original.score
        assert n.node.get_content() == original.node.get_content()
        assert n.node is not original.node and "retrieval_score" not in original.node.metadata
    assert TamisRerank(model=ce_path).top_n == 2


def test_llama_index_async_and_empty(ce, corpus, reference):
    queries, docs = corpus
    rerank = TamisRerank(model=ce, top_n=3)
    out = asyncio.run(rerank.apostprocess_nodes(_nodes(docs), query_str=queries[1]))
    assert [_index(n) for n in out] == [r["corpus_id"] for r in reference[queries[1]][:3]]
    assert rerank.postprocess_nodes([], query_str=queries[1]) == []


def test_llama_index_errors(ce, corpus):
    _, docs = corpus
    rerank = TamisRerank(model=ce)
    with pytest.raises(ValueError, match="needs the query"):
        rerank.postprocess_nodes(_nodes(docs[:3]))
    with pytest.raises(tamis.InvalidInputError, match="needs the query"):
        rerank.postprocess_nodes([])
    with pytest.raises(pydantic.ValidationError, match="top_n"):
        TamisRerank(model=ce, top_n=0)
    with pytest.raises(tamis.InvalidInputError, match="model_kwargs"):
        TamisRerank(model=ce, model_kwargs={"threads": 1})
    with pytest.raises(tamis.NotFoundError, match="does not exist"):
        TamisRerank(model="/nonexistent/model-dir")
    with pytest.raises(tamis.InvalidInputError, match="unknown precision"):
        TamisRerank(model=ce.path, model_kwargs={"precision": "fp8"})


# Haystack


def _hs_docs(docs):
    return [haystack.Document(content=d, meta={"i": i}) for i, d in enumerate(docs)]


@pytest.fixture(scope="module")
def scaled(ce, corpus):
    """The rankings with Haystack's ``scale_score``: the sigmoid of the logits, whatever the
    model's own activation (this model's is the identity)."""
    queries, docs = corpus
    return {q: ce.rank(q, docs, activation_fn=_numpy_sigmoid) for q in queries}


@pytest.fixture(scope="module")
def ranker(ce_path):
    component = TamisRanker(model=ce_path, top_k=5)
    component.warm_up()
    return component


def test_haystack_ranker_equals_rank(ranker, corpus, scaled):
    queries, docs = corpus
    inputs = _hs_docs(docs)
    before = copy.deepcopy(inputs)
    for q in queries:
        out = ranker.run(query=q, documents=inputs)["documents"]
        want = scaled[q][:5]
        assert [d.meta["i"] for d in out] == [r["corpus_id"] for r in want]
        assert [d.score for d in out] == [float(r["score"]) for r in want]
        assert all(type(d.score) is float and 0 < d.score < 1 for d in out)
        assert all(d.id == inputs[d.meta["i"]].id and d.content == docs[d.meta["i"]] for d in out)
    assert inputs == before and all(d.score is None for d in inputs)


def test_haystack_run_options(ranker, ce, corpus, scaled):
    queries, docs = corpus
    inputs = _hs_docs(docs)
    q = queries[0]
    want = scaled[q]
    assert len(ranker.run(query=q, documents=inputs, top_k=2)["documents"]) == 2
    assert len(ranker.run(query=q, documents=inputs, top_k=100)["documents"]) == len(docs)
    raw = ranker.run(query=q, documents=inputs, scale_score=False)["documents"]
    logits = ce.rank(q, docs, activation_fn=lambda x: x)[:5]
    assert [(d.meta["i"], d.score) for d in raw] == [(r["corpus_id"], float(r["score"])) for r in logits]
    rescaled = _numpy_sigmoid(np.array([d.score for d in raw]))
    assert np.allclose(rescaled, [r["score"] for r in want[:5]], rtol=0, atol=1e-6)
    assert not np.allclose([d.score for d in raw], [r["score"] for r in want[:5]], atol=1e-3)
    threshold = (float(want[2]["score"]) + float(want[3]["score"])) / 2
    kept = ranker.run(query=q, documents=inputs, score_threshold=threshold)["documents"]
    assert [d.meta["i"] for d in kept] == [r["corpus_id"] for r in want[:3]]
    # A document given twice (same id) is scored and returned once.
    twice = ranker.run(query=q, documents=inputs[:4] + inputs[:4], top_k=10)["documents"]
    assert sorted(d.meta["i"] for d in twice) == [0, 1, 2, 3]
    assert ranker.run(query=q, documents=[])["documents"] == []


def test_haystack_prefixes_and_meta_fields(ce_path, ce, corpus):
    queries, docs = corpus
    inputs = [
        haystack.Document(content=d, meta={"title": f"record {i}", "i": i})
        for i, d in enumerate(docs[:10])
    ]
    component = TamisRanker(
        model=ce_path,
        top_k=3,
        query_prefix="query: ",
        document_prefix="passage: ",
        meta_fields_to_embed=["title", "missing"],
        embedding_separator=" | ",
    )
    out = component.run(query=queries[0], documents=inputs)["documents"]
    texts = [f"passage: record {i} | {d}" for i, d in enumerate(docs[:10])]
    want = ce.rank("query: " + queries[0], texts, top_k=3, activation_fn=_numpy_sigmoid)
    assert [(d.meta["i"], d.score) for d in out] == [(r["corpus_id"], float(r["score"])) for r in want]


def test_haystack_serialization_and_pipeline(ce_path, corpus):
    queries, docs = corpus
    component = TamisRanker(model=ce_path, top_k=4, score_threshold=0.001, model_kwargs={"threads": 1})
    data = component.to_dict()
    assert data["type"] == "tamis.integrations.haystack.TamisRanker"
    params = data["init_parameters"]
    assert params["model"] == ce_path and params["top_k"] == 4 and params["model_kwargs"] == {"threads": 1}
    assert params["token"]["type"] == "env_var"
    restored = TamisRanker.from_dict(data)
    assert restored.to_dict() == data
    assert params["token"]["type"] == "env_var"

    pipeline = haystack.Pipeline()
    pipeline.add_component("ranker", restored)
    # Haystack 3 loads classes only from modules the caller trusts (2.x has no allowlist).
    trust = {"allowed_modules": ["tamis.integrations.haystack"]}
    if "allowed_modules" not in inspect.signature(haystack.Pipeline.loads).parameters:
        trust = {}
    loaded = haystack.Pipeline.loads(pipeline.dumps(), **trust)
    inputs = _hs_docs(docs)
    direct = component.run(query=queries[1], documents=inputs)["documents"]
    through = loaded.run({"ranker": {"query": queries[1], "documents": inputs}})["ranker"]["documents"]
    assert len(direct) == 4
    assert [(d.id, d.score) for d in through] == [(d.id, d.score) for d in direct]


def test_haystack_errors(ranker, ce_path, corpus):
    queries, docs = corpus
    with pytest.raises(ValueError, match="top_k must be > 0"):
        TamisRanker(model=ce_path, top_k=0)
    with pytest.raises(ValueError, match="top_k must be > 0"):
        ranker.run(query=queries[0], documents=_hs_docs(docs[:2]), top_k=0)
    # The model loads in warm_up (or the first run), not in the constructor.
    lazy = TamisRanker(model="/nonexistent/model-dir")
    with pytest.raises(tamis.NotFoundError, match="does not exist"):
        lazy.warm_up()
    with pytest.raises(tamis.NotFoundError, match="does not exist"):
        lazy.run(query="q", documents=[])


# Optional imports


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    # From an empty folder, so `import tamis` finds the installed package.
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_tamis_imports_no_framework(tmp_path):
    code = (
        "import sys, tamis, tamis.integrations\n"
        "loaded = [m for m in ('langchain_core', 'llama_index', 'haystack') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "module, blocked, extra",
    [
        ("langchain", ["langchain_core"], "langchain"),
        ("llama_index", ["llama_index", "llama_index.core"], "llama-index"),
        ("haystack", ["haystack"], "haystack"),
    ],
)
def test_missing_framework_says_what_to_install(tmp_path, module, blocked, extra):
    """Without the framework (blocked here through sys.modules) the import fails with the
    pip command that installs it."""
    code = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None\n"
        "try:\n"
        f"    import tamis.integrations.{module}\n"
        "except ImportError as err:\n"
        "    print(err)\n"
        "else:\n"
        "    raise SystemExit('imported')\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'pip install "tamis[{extra}]"' in result.stdout
