"""Shared fixtures: the real model and a real index of the bundled corpus, built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from eval.bench import start_server
from indexer.build import build_index
from indexer.embedding import Encoder, load_encoder
from indexer.store import Index, open_index
from service.app import create_app
from service.retrieval import Retriever
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SEED_DOC = "hmic-met-peel-2017.txt"


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The packaged all-MiniLM-L6-v2, loaded once."""
    return load_encoder()


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """A real index of the bundled corpus, built with the default settings."""
    out = tmp_path_factory.mktemp("index") / "seed"
    build_index(CORPUS, out, encoder)
    return out


@pytest.fixture(scope="session")
def index(index_dir: Path, encoder: Encoder) -> Index:
    """The session index, opened read-only."""
    return open_index(index_dir, encoder.model_name, encoder.dimension)


@pytest.fixture(scope="session")
def retriever(index: Index, encoder: Encoder) -> Retriever:
    """The retrieval core over the session index."""
    return Retriever(index, encoder)


@pytest.fixture(scope="session")
def client(index_dir: Path) -> Iterator[TestClient]:
    """The real app, started through its lifespan, over the session index."""
    with TestClient(create_app(Settings(index=index_dir))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def seed_text() -> str:
    """The bundled inspection statement."""
    return (CORPUS / SEED_DOC).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def server(index_dir: Path, encoder: Encoder) -> Iterator[str]:
    """`python -m service` in its own process on 127.0.0.1, as users run it; yields its base URL."""
    # IQA_PORT=1 in the environment must lose to the --port flag start_server passes.
    process, base = start_server(index_dir, encoder.model_name, env={"IQA_PORT": "1"})
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)

