"""A LlamaIndex node postprocessor that reranks with a tamis cross-encoder.

``TamisRerank`` takes the place of LlamaIndex's ``SentenceTransformerRerank`` (same
``top_n``, ``model`` and ``keep_retrieval_score``), in a query engine's
``node_postprocessors`` or called directly, with the model run in-process by tamis.
"""

import os
from typing import Any, Dict, List, Optional, Union

try:
    import llama_index.core.instrumentation as instrument
    from llama_index.core.bridge.pydantic import Field, PrivateAttr
    from llama_index.core.callbacks import CBEventType, EventPayload
    from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
except ImportError as err:
    raise ImportError(
        'tamis.integrations.llama_index needs llama-index-core: pip install "tamis[llama-index]"'
    ) from err

from ..cross_encoder import CrossEncoder
from ..errors import InvalidInputError

dispatcher = instrument.get_dispatcher(__name__)


class TamisRerank(BaseNodePostprocessor):
    """Rescores nodes with a cross-encoder and keeps the ``top_n`` best.

    Args:
        top_n: most nodes returned.
        model: a model directory or Hugging Face hub id, loaded here, or a
            :class:`tamis.CrossEncoder` already built (for ``precision``, ``threads``, ...).
        keep_retrieval_score: also keep each node's previous score, as
            ``metadata["retrieval_score"]`` of a copy of the node.
        model_kwargs: keyword arguments of :class:`tamis.CrossEncoder` when ``model`` is a
            name, such as ``{"precision": "int8", "threads": 4}``.
    """

    model: str = Field(description="The cross-encoder's directory or Hugging Face hub id.")
    top_n: int = Field(default=2, ge=1, description="Number of nodes to return, best first.")
    keep_retrieval_score: bool = Field(
        default=False, description="Whether to keep the retrieval score in metadata."
    )
    _model: CrossEncoder = PrivateAttr()

    def __init__(
        self,
        top_n: int = 2,
        model: Union[str, "os.PathLike[str]", CrossEncoder] = "cross-encoder/ms-marco-MiniLM-L-6-v2",
        keep_retrieval_score: bool = False,
        model_kwargs: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(model, CrossEncoder):
            if model_kwargs:
                raise InvalidInputError("model_kwargs only apply when model is a name, not a CrossEncoder")
            cross_encoder, name = model, model.path
        else:
            name = os.fspath(model)
            cross_encoder = CrossEncoder(name, **(model_kwargs or {}))
        super().__init__(
            top_n=top_n,
            model=name,
            keep_retrieval_score=keep_retrieval_score,
            **kwargs,
        )
        self._model = cross_encoder

    @classmethod
    def class_name(cls) -> str:
        return "TamisRerank"

    def _postprocess_nodes(
        self,
        nodes: List[NodeWithScore],
        query_bundle: Optional[QueryBundle] = None,
    ) -> List[NodeWithScore]:
        """New ``NodeWithScore`` objects, best first, scored by the cross-encoder on each
        node's text with its embedding metadata (``MetadataMode.EMBED``, as
        ``SentenceTransformerRerank`` reads it); ``nodes`` is left unchanged."""
        if query_bundle is None:
            raise InvalidInputError(
                "TamisRerank needs the query: pass query_bundle or query_str to postprocess_nodes"
            )
        dispatcher.event(
            ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=self.top_n, model_name=self.model)
        )
        if not nodes:
            dispatcher.event(ReRankEndEvent(nodes=[]))
            return []
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.model,
                EventPayload.QUERY_STR: query_bundle.query_str,
                EventPayload.TOP_K: self.top_n,
            },
        ) as event:
            texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
            ranked = self._model.rank(query_bundle.query_str, texts, top_k=self.top_n)
            new_nodes = []
            for hit in ranked:
                old = nodes[hit["corpus_id"]]
                node = old.node
                if self.keep_retrieval_score:
                    metadata = {**node.metadata, "retrieval_score": old.score}
                    node = node.model_copy(update={"metadata": metadata})
                new_nodes.append(NodeWithScore(node=node, score=float(hit["score"])))
            event.on_end(payload={EventPayload.NODES: new_nodes})
        dispatcher.event(ReRankEndEvent(nodes=new_nodes))
        return new_nodes


__all__ = ["TamisRerank"]
