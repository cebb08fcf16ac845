"""Cross-encoders with sentence-transformers' ``CrossEncoder`` API."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _convert
from ._tamis import CrossEncoder as _CrossEncoder
from .errors import InvalidInputError

Pair = Union[Sequence[str], tuple]


class CrossEncoder:
    """A cross-encoder (a sequence-classification model: BERT, XLM-RoBERTa, ModernBERT,
    DeBERTa-v2/v3, ...) run by tamis' engine, with the methods of
    ``sentence_transformers.CrossEncoder``: ``predict`` and ``rank`` take the same
    arguments and return the same shapes, with scores equal to sentence-transformers'
    within 1e-4.

    Args:
        model_name_or_path: a model directory, or a Hugging Face hub id (looked up in the
            local cache first, ``HF_HUB_CACHE`` / ``HF_HOME`` as ``huggingface_hub``
            reads them, then downloaded).
        max_length: most tokens per pair; the tokenizer's ``model_max_length`` when None.
        activation_fn: replaces the model's activation (its declared one, else sigmoid for
            one label): a NumPy function or a ``torch.nn.Module`` such as
            ``torch.nn.Identity()`` for raw logits.
        device: ``None`` or ``"cpu"``; tamis runs on the CPU.
        cache_folder, revision, local_files_only, token: as in sentence-transformers.
        precision: ``"auto"`` (the default: ``"bf16x3"`` where the CPU has AMX, else
            ``"fp32"``; the reference's numbers within 1e-4 either way), ``"fp32"``,
            ``"int8"``, ``"bf16"`` or ``"bf16x3"`` (CPUs with AVX512-BF16); see the
            project's README. ``precision`` tells the mode the model runs.
        threads: threads of one forward pass; every core when None.
        encoder: ``"native"`` (tamis' kernels) or ``"candle"``.
    """

    def __init__(
        self,
        model_name_or_path: str,
        max_length: Optional[int] = None,
        activation_fn: Optional[Callable[[Any], Any]] = None,
        device: Optional[str] = None,
        cache_folder: Optional[str] = None,
        revision: Optional[str] = None,
        local_files_only: bool = False,
        token: Optional[str] = None,
        *,
        precision: str = "auto",
        threads: Optional[int] = None,
        encoder: str = "native",
    ) -> None:
        _convert.check_device(device)
        self._model = _CrossEncoder(
            str(model_name_or_path),
            max_length=max_length,
            precision=precision,
            threads=threads,
            encoder=encoder,
            revision=revision,
            local_files_only=local_files_only,
            cache_folder=None if cache_folder is None else str(cache_folder),
            token=token,
        )
        self.activation_fn = activation_fn

    @property
    def num_labels(self) -> int:
        """Logits per pair."""
        return self._model.num_labels

    @property
    def max_length(self) -> int:
        """Most tokens per pair, special tokens included."""
        return self._model.max_length

    @property
    def precision(self) -> str:
        """The arithmetic the model's dense layers run in."""
        return self._model.precision

    @property
    def path(self) -> str:
        """The model directory."""
        return self._model.path

    def __repr__(self) -> str:
        return (
            f"CrossEncoder(path={self.path!r}, num_labels={self.num_labels}, "
            f"max_length={self.max_length}, precision={self.precision!r})"
        )

    def predict(
        self,
        sentences: Union[Sequence[Pair], Pair],
        batch_size: int = 32,
        show_progress_bar: Optional[bool] = None,
        activation_fn: Optional[Callable[[Any], Any]] = None,
        apply_softmax: Optional[bool] = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: Optional[str] = None,
    ) -> Any:
        """Scores (query, passage) pairs.

        Returns a float32 array of shape ``(len(sentences),)`` for one-label models, else
        ``(len(sentences), num_labels)``; one pair given alone gives one score (or one row).
        ``activation_fn`` overrides the model's activation for this call; ``apply_softmax``
        takes the softmax over the labels of models with several. ``batch_size`` sets the
        progress bar's step: the engine batches by tokens itself.
        """
        _convert.check_device(device)
        singular = bool(sentences) and isinstance(sentences, (list, tuple)) and isinstance(sentences[0], str)
        pairs = [sentences] if singular else list(sentences)
        queries: List[str] = []
        passages: List[str] = []
        for i, pair in enumerate(pairs):
            if isinstance(pair, str) or len(pair) != 2:
                raise InvalidInputError(f"input {i} is not a (query, passage) pair")
            queries.append(pair[0])
            passages.append(pair[1])
        queries = _convert.text_list(queries, "query")
        passages = _convert.text_list(passages, "passage")
        labels = self.num_labels
        logits_parts, scores_parts = [], []
        for part in _convert.batches(len(pairs), batch_size, show_progress_bar, "Batches"):
            logits, scores = self._model.predict(queries[part], passages[part])
            logits_parts.append(logits)
            scores_parts.append(scores)
        logits = np.concatenate(logits_parts) if logits_parts else np.zeros((0, labels), np.float32)
        scores = np.concatenate(scores_parts) if scores_parts else np.zeros((0, labels), np.float32)
        activation_fn = activation_fn if activation_fn is not None else self.activation_fn
        if activation_fn is not None:
            scores = _convert.apply_activation(activation_fn, logits)
        if apply_softmax and labels > 1:
            scores = _convert.softmax(scores)
        if labels == 1:
            scores = scores[:, 0]
        if len(pairs) == 0:
            scores = np.asarray([], dtype=np.float32)
        if convert_to_tensor:
            result: Any = _convert.to_tensor(scores)
        elif convert_to_numpy:
            result = scores
        else:
            result = list(scores)
        return result[0] if singular else result

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: Optional[int] = None,
        return_documents: bool = False,
        batch_size: int = 32,
        show_progress_bar: Optional[bool] = None,
        activation_fn: Optional[Callable[[Any], Any]] = None,
        apply_softmax: bool = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
    ) -> List[Dict[str, Any]]:
        """Scores ``documents`` against ``query`` and sorts them best first: a list of
        ``{"corpus_id": i, "score": s}`` dicts (and ``"text"`` with
        ``return_documents=True``), at most ``top_k`` of them, as sentence-transformers
        returns it (equal scores keep input order)."""
        if self.num_labels != 1:
            raise InvalidInputError(
                "CrossEncoder.rank() only works for models with num_labels=1. "
                "Consider using CrossEncoder.predict() with input pairs instead."
            )
        if isinstance(documents, str):
            raise InvalidInputError("documents must be a list of str, not one str")
        documents = list(documents)
        scores = self.predict(
            [(query, doc) for doc in documents],
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            activation_fn=activation_fn,
            apply_softmax=apply_softmax,
            convert_to_numpy=convert_to_numpy,
            convert_to_tensor=convert_to_tensor,
        )
        results: List[Dict[str, Any]] = []
        for i, score in enumerate(scores):
            results.append({"corpus_id": i, "score": score})
            if return_documents:
                results[-1]["text"] = documents[i]
        results = sorted(results, key=lambda x: x["score"], reverse=True)
        return results[:top_k]
