"""Shared fixtures: the real model and a real index of the bundled corpus, built once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from eval.perf.bench import start_server
from indexer.build import build_index
from indexer.encoding.embedding import Encoder, load_encoder
from indexer.storage.store import Index, open_index
from service.core.retrieval import Retriever
from service.http.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SEED_DOC = "hmic-met-peel-2017.txt"


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The packaged all-MiniLM-L6-v2 on the default backend (int8 on ONNX Runtime), loaded once."""
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



@pytest.fixture(scope="session")
def mixed_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled statement beside fictional Exampleshire reports in PDF, HTML and Word, with metadata
    from a sidecar (the statement), the corpus manifest (the PDF), meta tags (HTML) and properties (DOCX)."""
    from tests.generated import write_docx, write_html, write_pdf

    root = tmp_path_factory.mktemp("mixed")
    for name in (SEED_DOC, SEED_DOC.replace(".txt", ".meta.yaml")):
        shutil.copy(CORPUS / name, root / name)
    write_pdf(root / "exampleshire-peel-2019.pdf")
    write_html(root / "exampleshire-custody.html")
    write_docx(root / "exampleshire-leadership.docx")
    (root / "metadata.csv").write_text(
        "path,force,report_type,date\n"
        "exampleshire-peel-2019.pdf,Exampleshire Constabulary,PEEL inspection statement,2019-05-02\n"
        "exampleshire-leadership.docx,Exampleshire Constabulary,,\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="session")
def mixed_index_dir(mixed_corpus: Path, tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """A real index of the mixed corpus."""
    out = tmp_path_factory.mktemp("mixed-index") / "index"
    build_index(mixed_corpus, out, encoder)
    return out


@pytest.fixture(scope="session")
def mixed_client(mixed_index_dir: Path) -> Iterator[TestClient]:
    """The real app over the mixed index."""
    with TestClient(create_app(Settings(index=mixed_index_dir))) as test_client:
        yield test_client
