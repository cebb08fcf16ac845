"""Fixtures of the Python package's tests: the shared models and data beside the project
(``$TAMIS_SHARED_DIR``, else ``../shared`` next to the repository). Missing data fails the
run with the reason: these tests never skip silently."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    shared = Path(os.environ.get("TAMIS_SHARED_DIR") or REPO.parent / "shared")
    if not (shared / "models").is_dir():
        pytest.fail(f"the shared test data is missing: {shared}/models not found (set TAMIS_SHARED_DIR)", pytrace=False)
    return shared


@pytest.fixture(scope="session")
def shared() -> Path:
    return shared_dir()


@pytest.fixture(scope="session")
def ce_path(shared: Path) -> str:
    return str(shared / "models" / "tamis-ce-minilm-l6-nfcorpus")


@pytest.fixture(scope="session")
def bi_path(shared: Path) -> str:
    return str(shared / "models" / "all-MiniLM-L6-v2")


def _read_jsonl(path: Path, limit: int) -> list:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) == limit:
                break
    return rows


@pytest.fixture(scope="session")
def nfcorpus(shared: Path) -> tuple:
    """40 NFCorpus queries and 60 documents (titles and bodies, some longer than the
    models' 256 tokens, so truncation is exercised)."""
    root = shared / "datasets" / "nfcorpus"
    queries = [q["text"] for q in _read_jsonl(root / "queries.jsonl", 40)]
    docs = [(d.get("title", "") + " " + d["text"]).strip() for d in _read_jsonl(root / "corpus.jsonl", 60)]
    return queries, docs
