"""Type stubs of the extension module (crates/tamis-py)."""

from typing import Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

class CrossEncoder:
    def __init__(
        self,
        model: str,
        *,
        max_length: Optional[int] = None,
        precision: str = "fp32",
        threads: Optional[int] = None,
        encoder: str = "native",
        revision: Optional[str] = None,
        local_files_only: bool = False,
        cache_folder: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None: ...
    def predict(
        self, queries: List[str], passages: List[str]
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    @property
    def num_labels(self) -> int: ...
    @property
    def max_length(self) -> int: ...
    @property
    def activation(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def path(self) -> str: ...

class SentenceEncoder:
    def __init__(
        self,
        model: str,
        *,
        max_length: Optional[int] = None,
        precision: str = "fp32",
        threads: Optional[int] = None,
        encoder: str = "native",
        revision: Optional[str] = None,
        local_files_only: bool = False,
        cache_folder: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None: ...
    def encode(
        self, texts: List[str], *, prompt: Optional[str] = None, prompt_name: Optional[str] = None
    ) -> npt.NDArray[np.float32]: ...
    @property
    def dimension(self) -> int: ...
    @property
    def max_length(self) -> int: ...
    @property
    def normalizes(self) -> bool: ...
    @property
    def prompts(self) -> Dict[str, str]: ...
    @property
    def precision(self) -> str: ...
    @property
    def path(self) -> str: ...

class Index:
    def __init__(
        self,
        location: str,
        model: Optional[str] = None,
        *,
        collection: Optional[str] = None,
        settings: Optional[str] = None,
        late_interaction: Optional[str] = None,
        token_storage: Optional[str] = None,
        precision: str = "fp32",
        threads: Optional[int] = None,
        revision: Optional[str] = None,
        local_files_only: bool = False,
        cache_folder: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None: ...
    def add(
        self, documents: List[Tuple[str, str, str, Optional[str]]], *, batch_docs: int = 64
    ) -> Tuple[int, int, int]: ...
    def delete(self, ids: List[str]) -> int: ...
    def delete_where(self, filter: str) -> Tuple[int, int]: ...
    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        candidates: int = 100,
        filter: Optional[str] = None,
        rerank: List[str] = ...,
        rerank_candidates: List[int] = ...,
        fusion: str = "rrf",
        fusion_weights: List[float] = ...,
        rrf_k: float = 60.0,
        fuse_stages: Optional[str] = None,
        deadline_ms: Optional[int] = None,
        min_score: Optional[float] = None,
        raw_scores: bool = False,
        ef_search: Optional[int] = None,
    ) -> str: ...
    def stats(self) -> str: ...
    @property
    def location(self) -> str: ...
