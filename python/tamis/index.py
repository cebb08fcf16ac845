"""Indexes in-process: the CLI's ``tamis index`` and ``tamis search`` as Python calls."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _convert
from ._tamis import Index as _Index
from .errors import InvalidInputError


@dataclass(frozen=True)
class Place:
    """A document's place in one ranking: 1-based rank and the score that ranked it."""

    rank: int
    score: float


@dataclass(frozen=True)
class SearchResult:
    """One document of an answer.

    ``score`` is the final score; ``score_kind`` says what it is: ``"stage1"`` (no
    reranker scored the document; ``stage1_kind`` says which stage-1 score: ``bm25``,
    ``cosine``, ``fused``), ``"reranker"`` (the last reranker's, after ``activation``) or
    ``"fused"`` (stage 1 and the reranker fused: it only orders this list). ``stage1`` is
    the document's place in stage 1, ``bm25`` and ``dense`` its stage-1 chunk's place in
    each retriever's list before fusion, ``reranks`` its place in each rerank stage; each
    is ``None`` where that list did not hold it.
    """

    id: str
    title: str
    text: str = field(repr=False)
    score: float
    score_kind: str
    stage1_kind: Optional[str]
    activation: Optional[str]
    stage1: Place
    bm25: Optional[Place]
    dense: Optional[Place]
    reranks: Tuple[Optional[Place], ...]
    dropped_tokens: int

    @property
    def rank_change(self) -> Optional[int]:
        """How many places the last rerank stage moved the document up (negative: down),
        ``None`` when no reranker scored it."""
        last = self.reranks[-1] if self.reranks else None
        return None if last is None else self.stage1.rank - last.rank


@dataclass(frozen=True)
class StageReport:
    """What one stage did: documents and (query, chunk) pairs scored, wall time, and
    ``stopped`` (``"deadline"`` or ``"adaptive"``) when it left candidates unscored."""

    name: str
    documents: int
    pairs: int
    elapsed_ms: float
    stopped: Optional[str]


class SearchResults(List[SearchResult]):
    """The results, best first, with each stage's report and whether the deadline cut
    a stage short (part of the list is then in the previous stage's order)."""

    stages: List[StageReport]
    deadline_exceeded: bool


@dataclass(frozen=True)
class AddReport:
    """Documents written (new or changed), skipped as unchanged, and chunks written."""

    written: int
    unchanged: int
    chunks: int


def _document(position: int, doc: Any) -> Tuple[str, str, str, Optional[str]]:
    if not isinstance(doc, Mapping):
        raise InvalidInputError(f"document {position} is a {type(doc).__name__}, not a dict with 'id' and 'text'")
    doc_id = doc.get("id", doc.get("_id"))
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidInputError(f"document {position} has no 'id' (a non-empty str)")
    text = doc.get("text")
    if not isinstance(text, str):
        raise InvalidInputError(f"document {position} ({doc_id}) has no 'text' str")
    title = doc.get("title") or ""
    if not isinstance(title, str):
        raise InvalidInputError(f"document {position} ({doc_id}): 'title' is not a str")
    unknown = set(doc) - {"id", "_id", "title", "text", "metadata"}
    if unknown:
        raise InvalidInputError(f"document {position} ({doc_id}): unknown field(s) {sorted(unknown)}")
    metadata = doc.get("metadata")
    return doc_id, title, text, None if metadata is None else json.dumps(metadata)


def _place(value: Optional[Mapping[str, Any]]) -> Optional[Place]:
    return None if value is None else Place(rank=value["rank"], score=value["score"])


class Index:
    """An index: a directory (embedded, the default) or a PostgreSQL collection
    (``postgres://user@host/db`` with ``collection=``), as ``tamis index`` and
    ``tamis search`` take them.

    An index that does not exist yet is created with ``model`` (the bi-encoder that embeds
    its chunks) and ``settings``, the CLI's creation flags as keys: ``chunking``
    (``"windows"`` or ``"whole"``), ``chunk_tokens``, ``overlap``, ``prepend_title``,
    ``stemming``, ``stopwords``, ``bm25_k1``, ``bm25_b``, ``title_weight``,
    ``exact_below``, ``hnsw_m``, ``hnsw_ef_construction``, ``hnsw_ef_search``. With
    ``late_interaction`` (a ColBERT model, directory or hub id) each chunk also stores its
    token vectors (``token_storage``: ``"f16"``, the default, or ``"int8"``), so that
    ``rerank=[that model]`` scores candidates by MaxSim without encoding them. An
    existing one is opened with the models it records (``model`` and
    ``late_interaction``, when given, must be them; ``settings`` and ``token_storage``
    are refused: they are fixed at creation). Embeddings run as the CLI's index commands
    run them by default (fp32, or its equivalent bf16x3 on a CPU with AMX); ``precision``
    is the rerankers' (``"auto"`` by default, as in the CLI).
    """

    def __init__(
        self,
        location: str,
        model: Optional[str] = None,
        *,
        collection: Optional[str] = None,
        settings: Optional[Mapping[str, Any]] = None,
        late_interaction: Optional[str] = None,
        token_storage: Optional[str] = None,
        precision: str = "auto",
        threads: Optional[int] = None,
        revision: Optional[str] = None,
        local_files_only: bool = False,
        cache_folder: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None:
        self._index = _Index(
            str(location),
            None if model is None else str(model),
            collection=collection,
            settings=None if settings is None else json.dumps(dict(settings)),
            late_interaction=None if late_interaction is None else str(late_interaction),
            token_storage=token_storage,
            precision=precision,
            threads=threads,
            revision=revision,
            local_files_only=local_files_only,
            cache_folder=None if cache_folder is None else str(cache_folder),
            token=token,
        )

    @property
    def location(self) -> str:
        """Where the index is (no credentials)."""
        return self._index.location

    def __repr__(self) -> str:
        return f"Index({self.location!r})"

    def stats(self) -> Dict[str, Any]:
        """Documents, chunks, the bi-encoder it records and its dimension, and the
        late-interaction model whose token vectors it stores (or None)."""
        return json.loads(self._index.stats())

    def __len__(self) -> int:
        return int(self.stats()["documents"])

    def add(
        self,
        documents: Iterable[Mapping[str, Any]],
        *,
        batch_docs: int = 64,
        show_progress_bar: Optional[bool] = None,
    ) -> AddReport:
        """Adds or replaces documents: dicts with ``id`` (or BEIR's ``_id``), ``text``,
        and optionally ``title`` and ``metadata`` (any JSON, filterable). They are chunked,
        embedded and written in all-or-nothing batches of ``batch_docs``; a document
        whose content is unchanged is skipped, so adding again after an interruption
        redoes nothing."""
        docs = [_document(i, doc) for i, doc in enumerate(documents)]
        written = unchanged = chunks = 0
        step = max(batch_docs, 1) * 8
        for part in _convert.batches(len(docs), step, show_progress_bar, "Documents"):
            w, u, c = self._index.add(docs[part], batch_docs=batch_docs)
            written, unchanged, chunks = written + w, unchanged + u, chunks + c
        return AddReport(written=written, unchanged=unchanged, chunks=chunks)

    def delete(self, ids: Union[str, Sequence[str]]) -> int:
        """Removes documents by id; returns the chunks removed."""
        ids = [ids] if isinstance(ids, str) else _convert.text_list(ids, "id")
        return self._index.delete(ids)

    def delete_where(self, filter: str) -> Tuple[int, int]:
        """Removes the documents whose metadata passes ``filter`` (the CLI's filter
        syntax); returns (documents, chunks) removed."""
        return self._index.delete_where(filter)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filter: Optional[str] = None,
        rerank: Union[None, str, Sequence[str]] = None,
        candidates: int = 100,
        rerank_candidates: Union[None, int, Sequence[int]] = None,
        *,
        fusion: str = "rrf",
        fusion_weights: Sequence[float] = (1.0, 1.0),
        rrf_k: float = 60.0,
        fuse_stages: Optional[str] = None,
        deadline_ms: Optional[int] = None,
        min_score: Optional[float] = None,
        raw_scores: bool = False,
        ef_search: Optional[int] = None,
    ) -> SearchResults:
        """Stage 1 (``mode``: ``bm25``, ``dense`` or ``hybrid``, ``candidates`` chunks from
        each retriever, ``fusion`` of the two lists), then each reranker of ``rerank``
        (model directories or hub ids, loaded on first use and kept) over its
        ``rerank_candidates`` (100 for one reranker; one count per reranker for a
        cascade); ``k`` documents, best first. ``filter`` restricts both stages to the
        documents whose metadata passes it (``lang = "en" and year >= 2010``).
        ``fuse_stages`` (``rrf``, ``minmax``, ``zscore``) orders the reranked documents by
        stage 1 and the last reranker together; ``deadline_ms`` bounds the rerank stages;
        ``min_score`` drops what the last reranker scored below it; ``raw_scores`` gives
        logits instead of each model's activation."""
        if not isinstance(query, str):
            raise InvalidInputError(f"query is a {type(query).__name__}, not a str")
        rerankers = [] if rerank is None else [rerank] if isinstance(rerank, str) else _convert.text_list(rerank, "reranker")
        windows = [] if rerank_candidates is None else [rerank_candidates] if isinstance(rerank_candidates, int) else list(rerank_candidates)
        answer = json.loads(
            self._index.search(
                query,
                k=k,
                mode=mode,
                candidates=candidates,
                filter=filter,
                rerank=rerankers,
                rerank_candidates=windows,
                fusion=fusion,
                fusion_weights=[float(w) for w in fusion_weights],
                rrf_k=rrf_k,
                fuse_stages=fuse_stages,
                deadline_ms=deadline_ms,
                min_score=min_score,
                raw_scores=raw_scores,
                ef_search=ef_search,
            )
        )
        results = SearchResults()
        for hit in answer["results"]:
            kind = hit["score_kind"]
            results.append(
                SearchResult(
                    id=hit["id"],
                    title=hit["title"],
                    text=hit["text"],
                    score=hit["score"],
                    score_kind=kind["by"],
                    stage1_kind=kind.get("kind"),
                    activation=kind.get("activation"),
                    stage1=Place(**hit["stage1"]),
                    bm25=_place(hit["retrievers"]["bm25"]),
                    dense=_place(hit["retrievers"]["dense"]),
                    reranks=tuple(_place(p) for p in hit["reranks"]),
                    dropped_tokens=hit["dropped_tokens"],
                )
            )
        results.stages = [StageReport(**stage) for stage in answer["stages"]]
        results.deadline_exceeded = answer["deadline_exceeded"]
        return results
