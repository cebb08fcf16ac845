"""Bi-encoders with sentence-transformers' ``SentenceTransformer.encode`` API."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _convert
from ._tamis import SentenceEncoder as _SentenceEncoder
from .errors import InvalidInputError


class SentenceEncoder:
    """A sentence-transformers bi-encoder (BERT, XLM-RoBERTa, ModernBERT, DeBERTa-v2/v3;
    any pooling, ``Normalize``, prompts) run by tamis' engine, with the ``encode`` of
    ``sentence_transformers.SentenceTransformer``: the same arguments and shapes, and
    embeddings equal to sentence-transformers' within 1e-4.

    Args:
        model_name_or_path: a model directory or a Hugging Face hub id (the local cache
            first, then the hub).
        device: ``None`` or ``"cpu"``.
        cache_folder, revision, local_files_only, token: as in sentence-transformers.
        max_length: most tokens per text; the model's ``max_seq_length`` when None.
        precision: ``"auto"`` (the default: ``"bf16x3"`` where the CPU has AMX, else
            ``"fp32"``; the reference's numbers within 1e-4 either way), ``"fp32"``,
            ``"int8"``, ``"bf16"`` or ``"bf16x3"``; ``precision`` tells the mode the model runs.
        threads: threads of one forward pass; every core when None.
        encoder: ``"native"`` or ``"candle"``.
    """

    def __init__(
        self,
        model_name_or_path: str,
        device: Optional[str] = None,
        cache_folder: Optional[str] = None,
        revision: Optional[str] = None,
        local_files_only: bool = False,
        token: Optional[str] = None,
        *,
        max_length: Optional[int] = None,
        precision: str = "auto",
        threads: Optional[int] = None,
        encoder: str = "native",
    ) -> None:
        _convert.check_device(device)
        self._model = _SentenceEncoder(
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

    @property
    def max_seq_length(self) -> int:
        """Most tokens per text, special tokens included."""
        return self._model.max_length

    @property
    def prompts(self) -> Dict[str, str]:
        """The prompts the model declares, by name."""
        return self._model.prompts

    @property
    def precision(self) -> str:
        """The arithmetic the model's dense layers run in."""
        return self._model.precision

    @property
    def path(self) -> str:
        """The model directory."""
        return self._model.path

    def get_sentence_embedding_dimension(self) -> int:
        """Length of each embedding."""
        return self._model.dimension

    def __repr__(self) -> str:
        return (
            f"SentenceEncoder(path={self.path!r}, dimension={self._model.dimension}, "
            f"max_seq_length={self.max_seq_length}, precision={self.precision!r})"
        )

    def encode(
        self,
        sentences: Union[str, Sequence[str]],
        prompt_name: Optional[str] = None,
        prompt: Optional[str] = None,
        batch_size: int = 32,
        show_progress_bar: Optional[bool] = None,
        output_value: Optional[str] = "sentence_embedding",
        precision: str = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: Optional[str] = None,
        normalize_embeddings: bool = False,
        truncate_dim: Optional[int] = None,
    ) -> Any:
        """Embeds ``sentences``: a float32 array ``(len(sentences), dimension)``, or one
        vector for one ``str``. ``prompt`` is prepended literally, ``prompt_name`` names
        one of the model's prompts; with neither the model's default prompt applies.
        ``truncate_dim`` keeps the first dimensions (Matryoshka models), before
        ``normalize_embeddings`` scales each to unit length; ``precision`` other than
        ``float32`` then quantizes them as sentence-transformers does (``int8``, ``uint8``
        over these embeddings' ranges, ``binary``, ``ubinary``). ``batch_size`` sets the
        progress bar's step: the engine batches by tokens itself."""
        _convert.check_device(device)
        if output_value != "sentence_embedding":
            raise InvalidInputError(
                f"output_value={output_value!r} is not supported: tamis returns sentence embeddings only"
            )
        if precision not in _QUANTIZED:
            raise InvalidInputError(
                f"precision={precision!r} is not supported: use one of {list(_QUANTIZED)} "
                "(the model's own arithmetic is the constructor's precision argument)"
            )
        if prompt_name is not None and prompt is None and prompt_name not in self.prompts:
            raise InvalidInputError(
                f"prompt_name {prompt_name!r} is not among the model's prompts: {sorted(self.prompts)}"
            )
        singular = isinstance(sentences, str)
        texts = _convert.text_list([sentences] if singular else sentences, "sentence")
        parts = [
            self._model.encode(texts[part], prompt=prompt, prompt_name=prompt_name)
            for part in _convert.batches(len(texts), batch_size, show_progress_bar, "Batches")
        ]
        dimension = self._model.dimension
        embeddings = np.concatenate(parts) if parts else np.zeros((0, dimension), np.float32)
        if truncate_dim is not None:
            embeddings = np.ascontiguousarray(embeddings[:, :truncate_dim])
        if normalize_embeddings:
            norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
            embeddings = (embeddings / np.maximum(norms, 1e-12)).astype(np.float32)
        if precision != "float32" and len(embeddings):
            embeddings = _quantize(embeddings, precision)
        if convert_to_tensor:
            result: Any = _convert.to_tensor(embeddings)
        elif convert_to_numpy:
            result = embeddings
        else:
            result = list(embeddings)
        return result[0] if singular else result

    def encode_query(self, sentences: Union[str, Sequence[str]], **kwargs: Any) -> Any:
        """``encode`` with the model's ``query`` prompt, when it has one."""
        if kwargs.get("prompt_name") is None and kwargs.get("prompt") is None and "query" in self.prompts:
            kwargs["prompt_name"] = "query"
        return self.encode(sentences, **kwargs)

    def encode_document(self, sentences: Union[str, Sequence[str]], **kwargs: Any) -> Any:
        """``encode`` with the model's ``document`` prompt (else ``passage``, ``corpus``),
        when it has one."""
        if kwargs.get("prompt_name") is None and kwargs.get("prompt") is None:
            for name in ("document", "passage", "corpus"):
                if name in self.prompts:
                    kwargs["prompt_name"] = name
                    break
        return self.encode(sentences, **kwargs)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> np.ndarray:
        """Cosine similarity of every row of ``embeddings1`` with every row of
        ``embeddings2`` (sentence-transformers' default similarity)."""
        a = np.atleast_2d(np.asarray(embeddings1, dtype=np.float32))
        b = np.atleast_2d(np.asarray(embeddings2, dtype=np.float32))
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return a @ b.T


#: ``encode``'s output precisions, as sentence-transformers' ``quantize_embeddings`` has them.
_QUANTIZED = ("float32", "int8", "uint8", "binary", "ubinary")


def _quantize(embeddings: np.ndarray, precision: str) -> np.ndarray:
    """sentence-transformers' ``quantize_embeddings`` without calibration data: int8 and
    uint8 buckets span each dimension's range over these embeddings; binary packs the
    signs, 8 dimensions a byte (``binary`` offset by -128 into int8)."""
    if precision in ("int8", "uint8"):
        starts = embeddings.min(axis=0)
        steps = (embeddings.max(axis=0) - starts) / 255
        buckets = (embeddings - starts) / steps
        return buckets.astype(np.uint8) if precision == "uint8" else (buckets - 128).astype(np.int8)
    packed = np.packbits(embeddings > 0).reshape(embeddings.shape[0], -1)
    return (packed - 128).astype(np.int8) if precision == "binary" else packed


#: Drop-in name for code written against sentence-transformers.
SentenceTransformer = SentenceEncoder

__all__: List[str] = ["SentenceEncoder", "SentenceTransformer"]
