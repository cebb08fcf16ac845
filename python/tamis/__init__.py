"""tamis: two-stage retrieval on a Rust engine, in-process.

- :class:`CrossEncoder`: sentence-transformers' ``CrossEncoder`` API (``predict``,
  ``rank``) on tamis' kernels.
- :class:`SentenceEncoder` (also ``SentenceTransformer``): ``encode`` as
  sentence-transformers has it.
- :mod:`tamis.errors`: one exception class per kind of fault, all :class:`TamisError`.

Model work runs with the GIL released, on the threads the ``threads`` argument gives
(every core by default).
"""

from . import errors
from ._tamis import __version__
from .cross_encoder import CrossEncoder
from .errors import InternalError, InvalidInputError, NotFoundError, TamisError, UnavailableError
from .sentence_encoder import SentenceEncoder, SentenceTransformer

__all__ = [
    "__version__",
    "CrossEncoder",
    "SentenceEncoder",
    "SentenceTransformer",
    "errors",
    "TamisError",
    "InvalidInputError",
    "NotFoundError",
    "UnavailableError",
    "InternalError",
]
