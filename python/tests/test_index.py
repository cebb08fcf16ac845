"""tamis.Index against the CLI it mirrors: the same index answers the same through both,
embedded and in PostgreSQL, with the same errors."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

import tamis
from conftest import REPO

QUERIES = ["breast cancer and cholesterol", "vitamin D deficiency", "statins and survival"]


def cli_binary() -> str:
    binary = Path(os.environ.get("TAMIS_BIN") or REPO / "target" / "debug" / "tamis")
    if not binary.is_file():
        pytest.fail(f"{binary} not found: build it with `cargo build -p tamis-cli` (or set TAMIS_BIN)", pytrace=False)
    return str(binary)


def cli_search(location: str, query: str, *args: str) -> list:
    out = subprocess.run(
        [cli_binary(), "search", location, query, "--json", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)["results"]


@pytest.fixture(scope="module")
def docs(shared):
    rows = []
    with open(shared / "datasets" / "nfcorpus" / "corpus.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f):
            doc = json.loads(line)
            rows.append({"_id": doc["_id"], "title": doc["title"], "text": doc["text"], "metadata": {"n": n, "even": n % 2 == 0}})
            if len(rows) == 120:
                break
    return rows


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, bi_path, docs):
    path = tmp_path_factory.mktemp("index") / "nf"
    index = tamis.Index(str(path), bi_path, settings={"chunking": "whole"})
    report = index.add(docs)
    assert report == tamis.AddReport(written=len(docs), unchanged=0, chunks=len(docs))
    return str(path), index


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_stage1_equals_the_cli(embedded, mode):
    path, index = embedded
    for query in QUERIES:
        ours = index.search(query, k=5, mode=mode)
        theirs = cli_search(path, query, "--k", "5", "--mode", mode)
        assert [r.id for r in ours] == [r["id"] for r in theirs]
        assert all(abs(r.score - t["score"]) < 1e-5 for r, t in zip(ours, theirs))
        assert all(r.score_kind == "stage1" and r.reranks == () for r in ours)
        assert [r.stage1.rank for r in ours] == [1, 2, 3, 4, 5]
        assert ours.stages[0].name == "stage1" and not ours.deadline_exceeded
        # Each retriever's place before fusion, as the CLI reports it.
        for r, t in zip(ours, theirs):
            for name in ("bm25", "dense"):
                place, want = getattr(r, name), t.get(f"{name}_rank")
                assert (None if place is None else place.rank) == want, (name, place, want)
        if mode != "dense":
            assert all(r.bm25 is not None for r in ours)
        if mode != "bm25":
            assert all(r.dense is not None for r in ours)


def test_rerank_equals_the_cli_with_both_stages_places(embedded, ce_path):
    path, index = embedded
    for query in QUERIES:
        ours = index.search(query, k=5, rerank=ce_path, rerank_candidates=20)
        theirs = cli_search(path, query, "--k", "5", "--rerank", ce_path, "--rerank-candidates", "20")
        assert [r.id for r in ours] == [r["id"] for r in theirs]
        for r, t in zip(ours, theirs):
            assert abs(r.score - t["score"]) < 1e-5
            assert r.stage1 == tamis.Place(**t["stage1"])
            assert r.reranks == tuple(tamis.Place(**p) for p in t["reranks"])
            assert (r.bm25, r.dense) == tuple(
                None if p is None else tamis.Place(**p) for p in (t["retrievers"]["bm25"], t["retrievers"]["dense"])
            )
            assert r.dense is not None  # hybrid: the dense list holds every candidate here
            assert r.score_kind == "reranker" and r.activation == "identity"
            assert r.rank_change == r.stage1.rank - r.reranks[0].rank
        assert [s.name for s in ours.stages] == ["stage1", ce_path]
        assert ours.stages[1].pairs == 20
        assert [r.score for r in ours] == sorted((r.score for r in ours), reverse=True)


def test_filters_apply_as_in_the_cli(embedded):
    path, index = embedded
    ours = index.search(QUERIES[0], k=10, filter="even = true and n < 60")
    theirs = cli_search(path, QUERIES[0], "--k", "10", "--filter", "even = true and n < 60")
    assert [r.id for r in ours] == [r["id"] for r in theirs]
    assert ours


def test_writes_skip_unchanged_documents_and_deletes_remove(tmp_path, bi_path, docs):
    index = tamis.Index(str(tmp_path / "w"), bi_path, settings={"chunking": "whole"})
    assert index.add(docs[:20]).written == 20
    assert index.add(docs[:20]) == tamis.AddReport(written=0, unchanged=20, chunks=0)
    changed = dict(docs[0], text=docs[0]["text"] + " Changed.")
    assert index.add([changed] + docs[1:3]) == tamis.AddReport(written=1, unchanged=2, chunks=1)
    target = docs[3]["_id"]
    assert target in [r.id for r in index.search(docs[3]["title"], k=3, mode="bm25")]
    assert index.delete([target]) == 1
    assert target not in [r.id for r in index.search(docs[3]["title"], k=20, mode="bm25")]
    assert index.delete_where("n >= 10") == (10, 10)
    assert len(index) == 9
    # A second handle on the same directory sees those writes, as a reader process would.
    other = tamis.Index(str(tmp_path / "w"))
    assert other.stats()["documents"] == 9
    other_ids = {r.id for r in other.search("cancer", k=20, mode="bm25")}
    assert target not in other_ids


def test_bad_input_raises_the_engines_errors(tmp_path, embedded, bi_path, ce_path, docs):
    path, index = embedded
    with pytest.raises(tamis.NotFoundError, match="holds no index"):
        tamis.Index(str(tmp_path / "missing"))
    with pytest.raises(tamis.InvalidInputError, match="settings are fixed"):
        tamis.Index(path, settings={"chunk_tokens": 64})
    with pytest.raises(tamis.InvalidInputError, match="unknown field"):
        tamis.Index(str(tmp_path / "x"), bi_path, settings={"chunk_size": 64})
    with pytest.raises(tamis.InvalidInputError):
        tamis.Index(path, ce_path)
    with pytest.raises(tamis.InvalidInputError, match="collection"):
        tamis.Index(str(tmp_path / "y"), bi_path, collection="c")
    with pytest.raises(tamis.InvalidInputError):
        index.search(QUERIES[0], filter="n >")
    with pytest.raises(tamis.InvalidInputError, match="mode"):
        index.search(QUERIES[0], mode="sparse")
    with pytest.raises(tamis.InvalidInputError, match="empty"):
        index.search("   ")
    with pytest.raises(tamis.InvalidInputError, match="rerank_candidates"):
        index.search(QUERIES[0], rerank=[ce_path, ce_path])
    with pytest.raises(tamis.InvalidInputError, match="no 'id'"):
        index.add([{"text": "no id"}])
    with pytest.raises(tamis.InvalidInputError, match="bi-encoder"):
        index.search(QUERIES[0], rerank=bi_path)
    with pytest.raises(tamis.NotFoundError):
        index.search(QUERIES[0], rerank=str(tmp_path / "no-model"))
    # Nothing was lost to the failed calls.
    assert len(index) == len(docs)


COLBERT = str(REPO / "crates" / "tamis-models" / "tests" / "fixtures" / "colbert-pylate")


def test_late_interaction_index_stores_token_vectors_and_reranks_as_the_cli(tmp_path, embedded, bi_path, docs):
    path = str(tmp_path / "late")
    index = tamis.Index(path, bi_path, settings={"chunking": "whole"}, late_interaction=COLBERT, token_storage="int8")
    index.add(docs[:40])
    stats = index.stats()
    assert stats["late_interaction"] == COLBERT and stats["documents"] == 40
    got = index.search(QUERIES[0], k=5, candidates=20, rerank=COLBERT)
    assert [r.score_kind for r in got] == ["reranker"] * 5
    # A fresh process scoring from the stored vectors agrees with this one.
    want = cli_search(path, QUERIES[0], "-k", "5", "--candidates", "20", "--rerank", COLBERT)
    assert [r.id for r in got] == [w["id"] for w in want]
    assert max(abs(r.score - w["score"]) for r, w in zip(got, want)) < 1e-4
    # Reopened, it keeps the model; another one or a storage change is refused.
    assert tamis.Index(path, late_interaction=COLBERT).stats()["late_interaction"] == COLBERT
    with pytest.raises(tamis.InvalidInputError, match="fixed when it is created"):
        tamis.Index(path, token_storage="f16", late_interaction=COLBERT)
    with pytest.raises(tamis.InvalidInputError):
        tamis.Index(path, late_interaction=bi_path)
    with pytest.raises(tamis.InvalidInputError, match="created without a late-interaction model"):
        tamis.Index(embedded[0], late_interaction=COLBERT)
    with pytest.raises(tamis.InvalidInputError, match="pass late_interaction"):
        tamis.Index(str(tmp_path / "z"), bi_path, token_storage="int8")
    with pytest.raises(tamis.InvalidInputError, match="token_storage"):
        tamis.Index(str(tmp_path / "z"), bi_path, late_interaction=COLBERT, token_storage="f8")
    assert not (tmp_path / "z").exists()


def test_postgres_collection_answers_as_the_embedded_index(embedded, bi_path, docs):
    url = os.environ.get("TAMIS_PG_URL")
    if not url:
        pytest.fail("TAMIS_PG_URL is not set: run the tests under scripts/postgres/with-postgres.sh", pytrace=False)
    path, index = embedded
    name = f"py_{uuid.uuid4().hex[:12]}"
    pg = tamis.Index(url, bi_path, collection=name, settings={"chunking": "whole"})
    assert pg.add(docs).written == len(docs)
    for mode in ("bm25", "dense", "hybrid"):
        for query in QUERIES:
            assert [r.id for r in pg.search(query, k=10, mode=mode)] == [r.id for r in index.search(query, k=10, mode=mode)]
    with pytest.raises(tamis.InvalidInputError, match="collection"):
        tamis.Index(url, bi_path)
    reopened = tamis.Index(url, collection=name)
    assert len(reopened) == len(docs)
