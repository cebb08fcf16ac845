"""tamis: two-stage retrieval on a Rust engine, in-process.

- :class:`CrossEncoder`: sentence-transformers' ``CrossEncoder`` API (``predict``,
  ``rank``) on tamis' kernels.
- :class:`SentenceEncoder` (also ``SentenceTransformer``): ``encode`` as
  sentence-transformers has it.
- :class:`Index`: an embedded directory or a PostgreSQL collection: ``add``,
  ``delete``, ``search`` through stage 1 and rerankers, as the CLI runs them.
- :mod:`tamis.errors`: one exception class per kind of fault, all :class:`TamisError`.

Model work runs with the GIL released, on the threads the ``threads`` argument gives
(every core by default).
"""

from . import errors
from ._tamis import __version__
from .cross_encoder import CrossEncoder
from .index import AddReport, Index, Place, SearchResult, SearchResults, StageReport
from .errors import InternalError, InvalidInputError, NotFoundError, TamisError, UnavailableError
from .sentence_encoder import SentenceEncoder, SentenceTransformer

__all__ = [
    "__version__",
    "CrossEncoder",
    "SentenceEncoder",
    "SentenceTransformer",
    "Index",
    "AddReport",
    "Place",
    "SearchResult",
    "SearchResults",
    "StageReport",
    "errors",
    "TamisError",
    "InvalidInputError",
    "NotFoundError",
    "UnavailableError",
    "InternalError",
]
