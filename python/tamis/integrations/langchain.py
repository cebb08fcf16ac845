"""A LangChain document compressor that reranks with a tamis cross-encoder.

``TamisReranker`` plays the part of ``langchain_community``'s ``CrossEncoderReranker``
and ``langchain_cohere``'s ``CohereRerank``, for instance as the ``base_compressor`` of a
``ContextualCompressionRetriever``, with the model run in-process by tamis.
"""

import os
from copy import deepcopy
from typing import Any, Optional, Sequence, Union

try:
    from langchain_core.callbacks import Callbacks
    from langchain_core.documents import BaseDocumentCompressor, Document
    from pydantic import ConfigDict, Field
except ImportError as err:
    raise ImportError(
        'tamis.integrations.langchain needs langchain-core: pip install "tamis[langchain]"'
    ) from err

from ..cross_encoder import CrossEncoder


class TamisReranker(BaseDocumentCompressor):
    """Keeps the ``top_n`` documents that a cross-encoder scores highest against the query.

    Args:
        model: a :class:`tamis.CrossEncoder` (build it yourself for ``precision``,
            ``threads`` or ``max_length``), or a model directory or Hugging Face hub id,
            loaded here so that a wrong name fails at construction, not at the first query.
        top_n: most documents returned; every document, reordered, when None.
    """

    model: CrossEncoder
    top_n: Optional[int] = Field(default=3, ge=1)

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    def __init__(self, model: Union[str, "os.PathLike[str]", CrossEncoder], **kwargs: Any) -> None:
        # Loaded before pydantic sees it, so tamis' own errors (NotFoundError, ...)
        # reach the caller instead of a ValidationError wrapping some of them.
        if isinstance(model, (str, os.PathLike)):
            model = CrossEncoder(os.fspath(model))
        super().__init__(model=model, **kwargs)

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Optional[Callbacks] = None,
    ) -> Sequence[Document]:
        """The best ``top_n`` of ``documents``, best first, each a copy whose
        ``metadata["relevance_score"]`` is the cross-encoder's score (as ``CohereRerank``
        sets it); the input documents are left unchanged."""
        documents = list(documents)
        if not documents:
            return []
        ranked = self.model.rank(query, [doc.page_content for doc in documents], top_k=self.top_n)
        compressed = []
        for hit in ranked:
            doc = documents[hit["corpus_id"]]
            metadata = deepcopy(doc.metadata)
            metadata["relevance_score"] = float(hit["score"])
            compressed.append(doc.model_copy(update={"metadata": metadata}))
        return compressed


__all__ = ["TamisReranker"]
