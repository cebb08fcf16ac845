"""A Haystack ranker component that reranks with a tamis cross-encoder.

``TamisRanker`` takes the place of Haystack's ``SentenceTransformersSimilarityRanker`` /
``TransformersSimilarityRanker`` in a pipeline (same ``run`` inputs and output, same
``top_k``, prefixes, ``meta_fields_to_embed``, ``scale_score`` and ``score_threshold``),
with the model run in-process by tamis.
"""

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

try:
    from haystack import Document, component, default_from_dict, default_to_dict
    from haystack.utils import Secret, deserialize_secrets_inplace
except ImportError as err:
    raise ImportError('tamis.integrations.haystack needs haystack-ai: pip install "tamis[haystack]"') from err

from ..cross_encoder import CrossEncoder


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def _identity(logits: np.ndarray) -> np.ndarray:
    return logits


def _check_top_k(top_k: int) -> None:
    if top_k <= 0:
        raise ValueError(f"top_k must be > 0, but got {top_k}")


def _deduplicate(documents: List[Document]) -> List[Document]:
    """One document per id, the best-scored one where a duplicate has a score, as
    Haystack's rankers do before ranking."""
    best: Dict[str, Document] = {}
    for doc in documents:
        kept = best.get(doc.id)
        score = -math.inf if doc.score is None else doc.score
        if kept is None or score > (-math.inf if kept.score is None else kept.score):
            best[doc.id] = doc
    return list(best.values())


@component
class TamisRanker:
    """Ranks documents by a cross-encoder's score against the query.

    Usage::

        ranker = TamisRanker(model="cross-encoder/ms-marco-MiniLM-L-6-v2")
        ranker.warm_up()
        ranker.run(query="City in Germany", documents=docs)["documents"]

    Haystack 3 loads a saved pipeline holding it once told to trust this module:
    ``Pipeline.loads(text, allowed_modules=["tamis.integrations.haystack"])``.

    Args:
        model: a model directory or Hugging Face hub id, loaded by :meth:`warm_up` (or the
            first :meth:`run`).
        top_k: most documents returned.
        query_prefix, query_suffix, document_prefix, document_suffix: text put around
            the query and each document, for models trained with instructions.
        meta_fields_to_embed: ``meta`` fields scored along with the content, joined by
            ``embedding_separator``.
        scale_score: the sigmoid of the logits when True (scores in [0, 1] as Haystack's
            rankers give them, whatever activation the model declares), the raw logits
            when False.
        score_threshold: drop documents scored below it.
        token: the Hugging Face token for private models.
        model_kwargs: keyword arguments of :class:`tamis.CrossEncoder`, such as
            ``{"precision": "int8", "threads": 4, "max_length": 512}``.
    """

    def __init__(
        self,
        *,
        model: Union[str, Path] = "cross-encoder/ms-marco-MiniLM-L-6-v2",
        top_k: int = 10,
        query_prefix: str = "",
        query_suffix: str = "",
        document_prefix: str = "",
        document_suffix: str = "",
        meta_fields_to_embed: Optional[List[str]] = None,
        embedding_separator: str = "\n",
        scale_score: bool = True,
        score_threshold: Optional[float] = None,
        token: Optional[Secret] = Secret.from_env_var(["HF_API_TOKEN", "HF_TOKEN"], strict=False),
        model_kwargs: Optional[Dict[str, Any]] = None,
    ) -> None:
        _check_top_k(top_k)
        self.model = str(model)
        self.top_k = top_k
        self.query_prefix = query_prefix
        self.query_suffix = query_suffix
        self.document_prefix = document_prefix
        self.document_suffix = document_suffix
        self.meta_fields_to_embed = meta_fields_to_embed or []
        self.embedding_separator = embedding_separator
        self.scale_score = scale_score
        self.score_threshold = score_threshold
        self.token = token
        self.model_kwargs = model_kwargs
        self._cross_encoder: Optional[CrossEncoder] = None

    def _get_telemetry_data(self) -> Dict[str, Any]:
        return {"model": self.model}

    def warm_up(self) -> None:
        """Loads the model, once: pipelines call this before their first run."""
        self._loaded()

    def _loaded(self) -> CrossEncoder:
        if self._cross_encoder is None:
            self._cross_encoder = CrossEncoder(
                self.model,
                token=self.token.resolve_value() if self.token else None,
                **(self.model_kwargs or {}),
            )
        return self._cross_encoder

    def to_dict(self) -> Dict[str, Any]:
        """The init parameters, for ``Pipeline.dumps``; the token as its env-var
        reference, never its value."""
        return default_to_dict(
            self,
            model=self.model,
            top_k=self.top_k,
            query_prefix=self.query_prefix,
            query_suffix=self.query_suffix,
            document_prefix=self.document_prefix,
            document_suffix=self.document_suffix,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            scale_score=self.scale_score,
            score_threshold=self.score_threshold,
            token=self.token.to_dict() if self.token else None,
            model_kwargs=self.model_kwargs,
        )

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TamisRanker":
        """The component :meth:`to_dict` describes (the model not yet loaded)."""
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}
        deserialize_secrets_inplace(data["init_parameters"], keys=["token"])
        return default_from_dict(cls, data)

    @component.output_types(documents=List[Document])
    def run(
        self,
        query: str,
        documents: List[Document],
        top_k: Optional[int] = None,
        scale_score: Optional[bool] = None,
        score_threshold: Optional[float] = None,
    ) -> Dict[str, List[Document]]:
        """The documents best first, at most ``top_k``, each a copy with ``score`` set to
        the cross-encoder's score; documents with the same id are scored once.
        ``top_k``, ``scale_score`` and ``score_threshold`` override the init values."""
        top_k = self.top_k if top_k is None else top_k
        _check_top_k(top_k)
        scale_score = self.scale_score if scale_score is None else scale_score
        score_threshold = self.score_threshold if score_threshold is None else score_threshold
        cross_encoder = self._loaded()
        if not documents:
            return {"documents": []}
        unique = _deduplicate(documents)
        texts = []
        for doc in unique:
            meta = [str(doc.meta[k]) for k in self.meta_fields_to_embed if doc.meta.get(k) is not None]
            body = self.embedding_separator.join(meta + [doc.content or ""])
            texts.append(self.document_prefix + body + self.document_suffix)
        ranked = cross_encoder.rank(
            self.query_prefix + query + self.query_suffix,
            texts,
            activation_fn=_sigmoid if scale_score else _identity,
        )
        result = [replace(unique[hit["corpus_id"]], score=float(hit["score"])) for hit in ranked]
        if score_threshold is not None:
            result = [doc for doc in result if doc.score >= score_threshold]
        return {"documents": result[:top_k]}


__all__ = ["TamisRanker"]
