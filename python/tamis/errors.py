"""The exceptions tamis raises, one class per kind of fault.

Each also derives from the built-in exception a caller would already catch for that
fault, so ``except ValueError`` keeps working around code that moved to tamis. The
message is the engine's own, the one the CLI prints.
"""


class TamisError(Exception):
    """Every error tamis raises."""


class InvalidInputError(TamisError, ValueError):
    """The caller gave something invalid: a bad argument, a malformed model or file,
    the wrong kind of model."""


class NotFoundError(TamisError, LookupError):
    """The caller named something that does not exist: a model directory, an index,
    a document."""


class UnavailableError(TamisError, OSError):
    """A resource is not reachable right now (the Hugging Face Hub offline, a full
    disk, a database down); retrying may help."""


class InternalError(TamisError, RuntimeError):
    """A bug or a broken invariant inside tamis or a dependency."""


__all__ = [
    "TamisError",
    "InvalidInputError",
    "NotFoundError",
    "UnavailableError",
    "InternalError",
]
