"""Argument and result conversions shared by the model classes."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from .errors import InvalidInputError


def check_device(device: Optional[str]) -> None:
    """tamis runs on the CPU; other devices are refused rather than ignored."""
    if device is not None and str(device) != "cpu":
        raise InvalidInputError(f"device {device!r} is not supported: tamis runs on the CPU (use device=None or 'cpu')")


def batches(count: int, batch_size: int, show_progress_bar: Optional[bool], desc: str) -> Iterator[slice]:
    """Slices of at most ``batch_size`` items, behind a tqdm bar when asked for.

    Without a bar the whole input is one slice: the engine batches by tokens itself,
    sorting by length, which is faster than fixed-size batches of Python's choosing.
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    if not show_progress_bar:
        yield slice(0, count)
        return
    from tqdm.auto import trange

    for start in trange(0, count, batch_size, desc=desc):
        yield slice(start, min(start + batch_size, count))


def apply_activation(activation_fn: Callable[[Any], Any], logits: np.ndarray) -> np.ndarray:
    """``activation_fn`` on a logits matrix: a NumPy function, or a ``torch.nn.Module``
    such as ``torch.nn.Identity()`` as sentence-transformers takes it."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(activation_fn, torch.nn.Module):
        with torch.no_grad():
            out = activation_fn(torch.from_numpy(logits))
        return out.float().numpy()
    return np.asarray(activation_fn(logits), dtype=np.float32)


def softmax(rows: np.ndarray) -> np.ndarray:
    shifted = np.exp(rows - rows.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def to_tensor(array: np.ndarray) -> Any:
    try:
        import torch
    except ImportError as err:
        raise InvalidInputError("convert_to_tensor=True needs PyTorch installed (pip install torch)") from err
    return torch.from_numpy(np.ascontiguousarray(array))


def text_list(texts: Sequence[Any], what: str) -> list:
    """``texts`` as a list of ``str``, with a clear error for anything else."""
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(f"{what} {i} is a {type(text).__name__}, not a str")
    return out
