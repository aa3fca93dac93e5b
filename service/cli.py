"""Command line: serve an index over HTTP (the default command), answer one question, or run as an MCP server."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from indexer.encoding.embedding import BACKENDS, canonical_model_name, load_encoder
from indexer.storage.lifetime import SUPERVISOR_ENV, process_alive
from indexer.storage.store import IndexNotFound, IndexStoreError, Manifest, check_same_weights, read_manifest
from service.core.confidence import CalibrationError, load_calibration
from service.core.retrieval import MAX_K, MODES
from service.settings import LOG_LEVELS, Settings, available_cores, settings_env, worker_plan

# prometheus-client's switch to multi-process storage; see shared_metrics_dir.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The default one is named for the port and the server's pid, so a later start can tell an orphan.
METRICS_DIR_PREFIX = "inspection-qa-metrics-"
METRICS_DIR_NAME = re.compile(rf"^{METRICS_DIR_PREFIX}\d+-(?P<pid>\d+)-")


class ServeByDefault(click.Group):
    """`python -m service --index …` still serves: with no command named, the command is `serve`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0].startswith("-") and args[0] != "--help"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ServeByDefault)
def cli() -> None:
    """Extractive answers from police inspection reports: `serve` (the default) runs the HTTP service,
    `ask` answers one question in the terminal, `mcp` serves assistants over stdio."""


def index_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command needs to open an index and answer from it."""
    options = [
        click.option("--index", type=click.Path(file_okay=False, path_type=Path), help="Index directory to serve. [env IQA_INDEX; default .index]"),
        click.option("--model", help="Embedding model the index was built with. [env IQA_MODEL]"),
        click.option("--backend", type=click.Choice(BACKENDS), help="Encoder backend for questions; must match the index's. [env IQA_BACKEND; default onnx-int8]"),
        click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Coverage model from `python -m eval calibrate`. [env IQA_CALIBRATION; default: shipped]"),
        click.option("--abstain-below", type=click.FloatRange(0, 1), help="Verdict \"none\" below this coverage. [env IQA_ABSTAIN_BELOW; default: the coverage model's]"),
        click.option("--answer-from", type=click.FloatRange(0, 1), help="Verdict \"answer\" from this confidence, \"uncertain\" below. [env IQA_ANSWER_FROM; default: the shipped one]"),
        click.option("--threads", type=click.IntRange(1, 256), help="Encoder threads per worker. [env IQA_THREADS; default: cores / workers for torch, half that for onnx-int8]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command()
@index_options
@click.option("--host", help="Interface to bind. [env IQA_HOST; default 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on. [env IQA_PORT; default 8000]")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), help="Server log level; request lines are info. [env IQA_LOG_LEVEL]")
@click.option("--log-questions", is_flag=True, default=None, help="Put each question's text in its request log line. [env IQA_LOG_QUESTIONS; default: off]")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow browser calls from this origin (repeatable). [env IQA_CORS_ORIGINS, comma-separated; default: none]")
@click.option("--api-key", help="Require 'Authorization: Bearer KEY' on every endpoint but /health. Prefer the env var: flags show in `ps`. [env IQA_API_KEY]")
@click.option("--workers", type=click.IntRange(1, 64), help="Server processes; they share the memory-mapped index files. [env IQA_WORKERS; default: one per core, at most 8; one with a rate limit, --corpus or --reload-poll-seconds 0]")
@click.option("--max-batch", type=click.IntRange(1, 1024), help="Most questions encoded in one call. [env IQA_MAX_BATCH; default 32]")
@click.option("--batch-wait-ms", type=click.FloatRange(0, 100), help="How long a lone question waits for others to batch with. [env IQA_BATCH_WAIT_MS; default 0]")
@click.option("--answer-threads", type=click.IntRange(1, 256), help="Questions answered at once per worker. [env IQA_ANSWER_THREADS; default 2]")
@click.option("--max-body-bytes", type=click.IntRange(1024), help="Largest request body accepted; 413 beyond. [env IQA_MAX_BODY_BYTES; default 1 MiB]")
@click.option("--rate-limit-per-minute", type=click.IntRange(0), help="Requests per minute per client address, 0 for none; 429 beyond. [env IQA_RATE_LIMIT_PER_MINUTE; default 0]")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), help="The index's corpus directory: enables POST and DELETE /documents, which change it and rebuild. [env IQA_CORPUS; default: off]")
@click.option("--max-upload-bytes", type=click.IntRange(1), help="Largest document upload; 413 beyond. [env IQA_MAX_UPLOAD_BYTES; default 20 MiB]")
@click.option("--reload-poll-seconds", type=click.FloatRange(0), help="How often to look for a newly published index version, 0 for never. [env IQA_RELOAD_POLL_SECONDS; default 2]")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Also serve /metrics on this port without the API key, for a scraper. [env IQA_METRICS_PORT; default: off]")
@click.option("--metrics-dir", type=click.Path(file_okay=False, path_type=Path), help="Where --workers share their figures; emptied at start. [env IQA_METRICS_DIR; default: a new temp directory, removed at exit]")
@click.option("--build-from", "build_corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Build the index from this corpus first if --index holds none.")
def main(build_corpus: Path | None, **options: object) -> None:
    """Serve extractive answers from an index built by `python -m indexer build`."""
    settings = settings_from(options)
    workers, why = worker_plan(settings, available_cores())
    settings = replace(settings, workers=workers)
    check_port_free(settings.host, settings.port)
    directory = shared_metrics_dir(settings) if workers > 1 else None
    try:
        if build_corpus is not None:
            build_if_missing(build_corpus, settings)
        click.echo(startup_summary(settings, check_servable(settings), why))
        serve(settings)
    finally:
        # A directory we chose ourselves is ours to remove; an operator's is only emptied at start.
        if directory is not None and settings.metrics_dir is None:
            shutil.rmtree(directory, ignore_errors=True)


def settings_from(options: dict[str, Any]) -> Settings:
    """Settings from IQA_* variables and the given flags."""
    try:
        return Settings.from_env(**options)
    except ValueError as error:
        raise click.ClickException(str(error)) from error


def shared_metrics_dir(settings: Settings) -> Path:
    """An empty directory for the workers' figures, exported to them. Set before anything in this process
    imports prometheus-client, which chooses its storage on import, so a startup build is counted too."""
    if settings.metrics_dir is None:
        # A fresh one per server: two servers never share figures, and removing it at exit is safe.
        remove_orphaned_metrics_dirs()
        directory = Path(tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{settings.port}-{os.getpid()}-"))
    else:
        directory = settings.metrics_dir
        directory.mkdir(parents=True, exist_ok=True)
        # Only the client's own files: the directory may be one the operator chose.
        for stale in directory.glob("*.db"):
            stale.unlink()
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory


def remove_orphaned_metrics_dirs() -> list[Path]:
    """Remove the default metrics directories of servers that were killed before they could; their paths."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{METRICS_DIR_PREFIX}*"):
        match = METRICS_DIR_NAME.match(path.name)
        if match and path.is_dir() and not process_alive(int(match["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def serve(settings: Settings) -> None:
    """Run uvicorn: in this process, or in worker processes that read the settings from IQA_*. The request
    log (service/request_log.py) replaces uvicorn's access lines."""
    from service.http.server_log import uvicorn_log_config

    logs = {"log_level": settings.log_level, "log_config": uvicorn_log_config(settings.log_level), "access_log": False}
    if settings.workers == 1:
        import uvicorn

        from service.http.app import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **logs)
    else:
        # The app is imported in the workers only: the supervisor stays small.
        serve_workers(settings, logs)


def serve_workers(settings: Settings, logs: dict[str, Any]) -> None:
    """Run worker processes that read the settings from IQA_*."""
    from service.http.workers import run_workers

    os.environ.update(settings_env(settings))
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    run_workers("service.http.app:app_from_env", settings.workers, settings.host, settings.port, **logs)


def check_port_free(host: str, port: int) -> None:
    """Fail before building or touching the metrics directory when another server holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            hint = " (is another server running there?)" if error.errno == errno.EADDRINUSE else ""
            raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}") from error


def check_servable(settings: Settings) -> Manifest:
    """The index and the calibration file, checked before serving either; the index's manifest."""
    manifest = check_index(settings)
    try:
        if settings.calibration is not None:
            load_calibration(settings.calibration)
    except CalibrationError as error:
        raise click.ClickException(str(error)) from error
    return manifest


def startup_summary(settings: Settings, manifest: Manifest, why: str = "as given") -> str:
    """What a person starting the server needs to know before its address: the model, the processes
    (and why that many, when the server chose) and the index."""
    counts = manifest.counts
    processes = f"{settings.workers} worker process{'es' if settings.workers != 1 else ''}"
    return (
        f"Model {manifest.model} on {manifest.encoder}, {processes}{'' if why == 'as given' else f' ({why})'}\n"
        f"Index {settings.index}, version {manifest.version}: {counts['documents']} documents, {counts['chunks']} chunks, "
        f"{counts['sentences']} sentences"
    )


def check_index(settings: Settings) -> Manifest:
    """Fail before binding the port when the index is missing or built with another model; its manifest."""
    try:
        manifest = read_manifest(settings.index)
    except IndexStoreError as error:
        raise click.ClickException(str(error)) from error
    model = canonical_model_name(settings.model)
    if manifest.model != model:
        raise click.ClickException(
            f"index {settings.index} was built with model {manifest.model!r}, not {model!r}: "
            f"start with --model {manifest.model!r} or rebuild the index with --model {model!r}"
        )
    if manifest.encoder != settings.backend:
        raise click.ClickException(
            f"index {settings.index} was embedded with the {manifest.encoder!r} encoder, not {settings.backend!r}: "
            f"start with --backend {manifest.encoder} or rebuild the index with --backend {settings.backend}"
        )
    try:
        check_same_weights(manifest, model, settings.index, None)
    except IndexStoreError as error:
        raise click.ClickException(str(error)) from error
    return manifest


def build_if_missing(corpus: Path, settings: Settings) -> None:
    """Build an index of corpus into settings.index unless one is already there."""
    try:
        read_manifest(settings.index)
        return
    except IndexNotFound:
        pass
    except IndexStoreError as error:
        raise click.ClickException(str(error)) from error
    from indexer.build import build_index
    from indexer.cli import print_report
    from service.http.metrics import record_build

    click.echo(f"No index at {settings.index}: building one from {corpus}")
    report = build_index(corpus, settings.index, load_encoder(settings.model, settings.backend), progress=True)
    record_build(report)
    print_report(report, model_seconds=0.0)


class BadInput(click.ClickException):
    """Anything that stops `ask` answering: exit status 2, as for click's own usage errors."""

    exit_code = 2


@click.command("ask")
@click.argument("question")
@index_options
@click.option("-k", "k", type=click.IntRange(1, MAX_K), default=5, show_default=True, help="Passages to retrieve.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True, help="Retrievers: embeddings, BM25 or both.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as POST /ask returns it.")
def ask_command(question: str, k: int, mode: str, as_json: bool, **options: Any) -> None:
    """Answer QUESTION from the index: exit status 0 with an answer, 1 when the reports do not answer it,
    2 on bad input."""
    from service.core.errors import InvalidRequest
    from service.terminal import answer_once, exit_status, render
    from service.terminal import as_json as json_text

    try:
        settings = settings_from(options)
        check_servable(settings)
        answer = answer_once(settings, question, k, mode)
    except (click.ClickException, InvalidRequest, CalibrationError) as error:
        raise BadInput(error.message if isinstance(error, click.ClickException) else str(error)) from error
    click.echo(json_text(answer) if as_json else render(answer))
    click.get_current_context().exit(exit_status(answer))


@click.command("mcp")
@index_options
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="warning", show_default=True, help="Log level on stderr.")
def mcp_command(**options: Any) -> None:
    """Serve the index to an assistant as a Model Context Protocol server over stdin and stdout."""
    from service.mcp.server import run_stdio

    settings = settings_from(options)
    check_servable(settings)
    run_stdio(settings)


cli.add_command(main, name="serve")
cli.add_command(ask_command)
cli.add_command(mcp_command)
