"""Performance commands: serving latency and load, indexing throughput, vector search at scale, soak."""

from __future__ import annotations

import asyncio
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from eval.options import BEIR_CHUNK_TOKENS, BEIR_OVERLAP_TOKENS, backend_option, serving_options
from eval.quality.dataset import load_eval_set
from indexer.encoding.embedding import DEFAULT_MODEL, ModelNotFound
from service.core.retrieval import Retriever

if TYPE_CHECKING:
    from eval.perf.throughput import Throughput
    from indexer.build import BuildSettings
    from indexer.encoding.embedding import Encoder
    from indexer.types import Document


@click.command()
@serving_options
@click.option("--requests", default=1000, show_default=True, type=click.IntRange(1, 100_000), help="Requests per in-process and httpx run.")
@click.option("--seconds", default=10.0, show_default=True, type=click.FloatRange(1, 600), help="Length of each wrk run.")
@click.option("--concurrency", "concurrencies", multiple=True, type=click.IntRange(1, 256), default=(1, 8, 32), show_default=True, help="Requests in flight (repeatable).")
@click.option("--client", type=click.Choice(["auto", "wrk", "httpx"]), default="auto", show_default=True, help="Load generator: wrk (Debian's package) when installed, else async httpx.")
@click.option("--workers", type=click.IntRange(1, 64), help="Server processes. [default: the server's own, one per core up to 8]")
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(1, 1024), help="Server's most questions per encoder call (1 turns batching off).")
@click.option("--profile", is_flag=True, help="Also time each stage of the in-process answer path, as ms and share.")
def bench(index_dir: Path, set_path: Path, model: str, backend: str, requests: int, seconds: float, concurrencies: tuple[int, ...], client: str, workers: int | None, max_batch: int, profile: bool) -> None:
    """Time /ask on a real server on 127.0.0.1 against the in-process path and the encoder alone, as ratios."""
    from eval.perf import bench as timing
    from eval.perf.wrk import wrk_available
    from service.settings import Settings, available_cores, worker_plan

    if client == "auto":
        client = "wrk" if wrk_available() else "httpx"
    questions = [question.question for question in load_eval_set(set_path)]
    cores = available_cores()
    # As the server will decide: IQA_* variables it inherits (a rate limit, say) count too.
    workers, why = worker_plan(Settings.from_env(workers=workers), cores)
    threads = timing.served_threads(backend, workers)
    click.echo(f"machine: {timing.machine_description()}; {backend} encoder, {threads} thread(s) as served; {workers} worker(s) ({why}); max batch {max_batch}; load from {client}")
    retriever = Retriever.open(index_dir, model, backend, threads)
    local, encoder = timing.time_answer_and_encoder(retriever, questions, requests)
    for line in (encoder.line(), local.line(), f"{'':<24} in-process p50 / encoder p50 = {local.p50 / encoder.p50:.2f} (the two timed in {timing.PAIRED_BLOCKS} alternating blocks)"):
        click.echo(line)
    verdict_ms = timing.time_verdict(retriever, questions)
    click.echo(f"{'verdict step':<24} {verdict_ms * 1000:.0f} us per answer (wording signals and both scores) = {verdict_ms / encoder.p50:.3f} x encoder p50")
    if profile:
        print_profile(retriever, questions, requests)
    # The server as it runs by default, request lines and all (info), written to a file nobody reads.
    scratch = tempfile.TemporaryDirectory(prefix="bench-")
    extra = ("--workers", str(workers), "--max-batch", str(max_batch), "--log-level", "info")
    process, base = timing.start_server(index_dir, model, backend=backend, extra=extra, log_path=Path(scratch.name) / "server.log")
    try:
        drive_load(base, questions, client, requests, seconds, min(concurrencies), warm_up=True)
        for concurrency in concurrencies:
            # Each run against the encoder timed just around it, as the in-process answer is timed beside it.
            report, around = timing.encoder_around(retriever, questions, partial(drive_load, base, questions, client, requests, seconds, concurrency))
            click.echo(report.line())
            click.echo(timing.encoder_ratios(report, local, around, cores))
        for label in timing.STREAMS:
            click.echo(asyncio.run(timing.time_stream(base, label, questions, min(100, requests))).line())
        click.echo(timing.server_memory(process))
    finally:
        process.terminate()
        process.wait(timeout=20)
        scratch.cleanup()


def print_profile(retriever: Retriever, questions: list[str], requests: int) -> None:
    """Each stage of the in-process answer path: ms per answer and share (HTTP and JSON: the wrk c=1 line's excess)."""
    from eval.perf.profile import profile_answers
    from service.core.answer import answer_question

    click.echo(f"{'stage':<24} {'ms/answer':>10} {'share':>7}")
    for stage, milliseconds, share in profile_answers(lambda question: answer_question(retriever, question), questions, requests):
        click.echo(f"{stage:<24} {milliseconds:10.3f} {share:7.1%}")


@click.command("scrape-bench")
@serving_options
@click.option("--seconds", default=10.0, show_default=True, type=click.FloatRange(1, 600), help="Load per run, before the requests in flight drain.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 256), help="Requests in flight.")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20), help="Rounds of one run per arm, alternating which goes first.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds between scrapes in the scraped runs.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["warning", "info"]), help="Server log level: info writes a request line per request (to a file).")
def scrape_bench(index_dir: Path, set_path: Path, model: str, backend: str, seconds: float, concurrency: int, rounds: int, interval: float, workers: int, log_level: str) -> None:
    """/ask req/s on 127.0.0.1 with and without a concurrent /metrics scraper (wrk), and whether /metrics
    counts the requests wrk sent, per status."""

    from eval.perf import bench as timing
    from eval.perf import scrape_bench as scraping
    from eval.perf.wrk import wrk_available

    if not wrk_available():
        raise click.ClickException("wrk is not installed: apt-get install wrk")
    questions = [question.question for question in load_eval_set(set_path)]
    click.echo(f"machine: {timing.machine_description()}; {backend} encoder; {workers} worker(s); c={concurrency}; {seconds:g} s runs; scrape every {interval:g} s")
    with tempfile.TemporaryDirectory(prefix="scrape-bench-") as scratch:
        extra = ("--workers", str(workers), "--log-level", log_level)
        process, base = timing.start_server(index_dir, model, backend=backend, extra=extra, log_path=Path(scratch) / "server.log")
        try:
            scraping.wrk_run(base, questions, concurrency, 2, drain=2)  # warm-up
            runs = [scraping.measure(base, process.pid, questions, arm, concurrency, seconds, interval, {}) for arm in scraping.arms(rounds)]
            per_scrape = scraping.scrape_cpu_ms(base, process.pid, {})
        finally:
            process.terminate()
            process.wait(timeout=30)
    for line in [run.line() for run in runs] + scraping.summary(runs):
        click.echo(line)
    click.echo(f"one scrape costs the server {per_scrape:.2f} ms of CPU (200 on an idle server): {per_scrape / interval / 10:.3f}% of a core at one per {interval:g} s")


def drive_load(base: str, questions: list[str], client: str, requests: int, seconds: float, concurrency: int, warm_up: bool = False) -> Any:
    """One bounded load run with the chosen client; a short one when warming up."""
    from eval.perf import bench as timing
    from eval.perf.wrk import drive_wrk

    if client == "wrk":
        return drive_wrk(base, questions, concurrency, 2 if warm_up else seconds)
    return asyncio.run(timing.drive_http(base, questions, 50 if warm_up else requests, concurrency))


@click.command("index-bench")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model.")
@backend_option
@click.option("--limit", type=click.IntRange(1), help="Use only the first N documents of corpus.jsonl (a folder is read whole).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 4096), help="Texts per encoder batch.")
@click.option("--chunk-tokens", type=click.IntRange(8, 4096), help=f"Maximum tokens per chunk. [default: {BEIR_CHUNK_TOKENS} for a BEIR corpus, the build's for a folder]")
@click.option("--overlap-tokens", type=click.IntRange(0, 4095), help=f"Overlap between chunks. [default: {BEIR_OVERLAP_TOKENS} for a BEIR corpus, the build's for a folder]")
@click.option("--ray", "ray_address", metavar="ADDRESS", help="Instead: the local build against Ray builds on this cluster (auto, local or host:port).")
@click.option("--ray-workers", "ray_workers", multiple=True, type=click.IntRange(1), default=(1, 2), show_default=True, help="Encoder workers of each Ray build (repeatable).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), help="With --ray: leave the local and the last Ray index where `eval beir` and `eval beir --ray` look for them.")
@click.option("--ray-auth-token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The Ray cluster's authentication token, when it is not where Ray looks.")
def index_bench(
    dataset: Path, model: str, backend: str, limit: int | None, batch_size: int, chunk_tokens: int | None, overlap_tokens: int | None,
    ray_address: str | None, ray_workers: tuple[int, ...], cache: Path | None, ray_auth_token_file: Path | None,
) -> None:
    """Indexing throughput of a BEIR corpus or a folder of documents against the bare encoder on the same
    texts (or, with --ray, against Ray builds)."""
    from eval.perf import bench as timing
    from eval.perf.throughput import measure_throughput
    from eval.quality.beir import BeirError, load_documents
    from indexer.build import BuildSettings
    from indexer.encoding.embedding import load_encoder
    from indexer.reading.loading import load_corpus

    if cache is not None and (ray_address is None or limit is not None):
        raise click.BadParameter("needs --ray, and the whole corpus (no --limit)", param_hint="--cache")
    beir = (dataset / "corpus.jsonl").is_file()
    if limit is not None and not beir:
        raise click.BadParameter("applies to a BEIR corpus.jsonl; a folder is read whole", param_hint="--limit")
    reading = None
    try:
        encoder = load_encoder(model, backend)
        if beir:
            documents = load_documents(dataset)[:limit]
        else:
            # A folder of documents (PDF, Word, HTML, text): reading them is part of the build being timed.
            started = time.perf_counter()
            documents = load_corpus(dataset)[0]
            reading = time.perf_counter() - started
    except (BeirError, ModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"machine: {timing.machine_description()}; {backend} encoder, batch {batch_size}, {len(documents)} documents")
    default = BuildSettings(BEIR_CHUNK_TOKENS, BEIR_OVERLAP_TOKENS) if beir else BuildSettings()
    settings = BuildSettings(chunk_tokens or default.chunk_tokens, default.overlap_tokens if overlap_tokens is None else overlap_tokens)
    if ray_address:
        lines = ray_bench_lines(dataset, documents, encoder, settings, batch_size, ray_address, ray_workers, cache, ray_auth_token_file)
    else:
        measured = measure_throughput(documents, encoder, settings, batch_size)
        lines = measured.lines() + (reading_lines(reading, measured) if reading is not None else [])
    for line in lines:
        click.echo(line)


def reading_lines(reading_seconds: float, measured: Throughput) -> list[str]:
    """What reading a folder of documents adds: its time, and the whole build with it against the bare encoder."""
    total = reading_seconds + measured.build.seconds
    return [
        f"reading files:  {reading_seconds:8.1f} s  (extracting text, pages, headings and metadata)",
        f"read + build:   {total:8.1f} s  = {total / measured.raw_seconds:.3f} x the raw encoder on the same texts",
    ]


def ray_bench_lines(
    dataset: Path, documents: list[Document], encoder: Encoder, settings: BuildSettings, batch_size: int, address: str, workers: tuple[int, ...],
    cache: Path | None, token_file: Path | None = None,
) -> list[str]:
    """index-bench --ray: the local build, then a Ray build per worker count, as printable lines."""
    from eval.perf.ray_bench import measure_ray
    from eval.quality.beir import corpus_key, index_path

    keep = (None, None)
    if cache is not None:
        keep = (index_path(corpus_key(dataset), encoder, settings, cache), index_path(corpus_key(dataset, address), encoder, settings, cache))
    try:
        connected, runs = measure_ray(documents, encoder, settings, batch_size, address, workers, keep, token_file)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    local = runs[0]
    lines = [f"ray cluster at {address}: connected in {connected:.1f} s", f"texts embedded: {local.texts} ({local.build.chunks} chunks + {local.build.sentences} sentences)"]
    for run in runs:
        lines += [run.line(local), *run.node_lines()]
    return lines + [f"kept: {path}" for path in keep if path is not None]


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--base", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=Path(".cache/beir/embeddings/sentence-transformers_all-MiniLM-L6-v2.npz"), show_default=True, help="Real vectors (an `eval beir` embedding cache) to scatter synthetic ones around.")
@click.option("--sizes", default="100000,1000000", show_default=True, help="Comma-separated vector counts.")
@click.option("--noise", default=0.5, show_default=True, type=click.FloatRange(0, 10), help="Norm of the Gaussian noise added to each real vector.")
@backend_option
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path(".cache/scale"), show_default=True, help="Where the benchmark indexes are written.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the Markdown report here.")
def scale(dataset: Path, base: Path, sizes: str, noise: float, backend: str, work: Path, out: Path | None) -> None:
    """Build flat and HNSW indexes of synthetic vectors at each size; time startup and search, measure recall."""
    import numpy as np

    from eval.perf import bench as timing
    from eval.perf import scale as bench_scale
    from eval.quality.beir import load_queries
    from indexer.encoding.embedding import load_encoder

    with np.load(base) as stored:
        real = np.asarray(stored["vectors"], dtype=np.float32)
    queries = load_encoder(DEFAULT_MODEL, backend).encode(list(load_queries(dataset).values()))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for count in (int(size) for size in sizes.split(",")):
        vectors = bench_scale.synthetic_vectors(real, count, noise)
        truth = bench_scale.exact_neighbours(vectors, queries)
        for factory, params in bench_scale.candidates():
            row = bench_scale.measure(vectors, queries, truth, factory, params, work / f"{count}-{factory.replace(',', '_')}.faiss", backend)
            click.echo(row.line())
            rows.append(row)
        del vectors
    description = (
        f"Machine: {timing.machine_description()}. {len(real):,} real {DEFAULT_MODEL} vectors of SciFact chunks and sentences "
        f"from `{base}`, scattered into synthetic unit vectors (Gaussian noise of norm {noise}, then renormalised: same dimension "
        f"and norm, real topical clusters); queries are the {len(queries):,} real SciFact queries encoded with the {backend} encoder. "
        "Startup is a fresh process loading the encoder and opening the memory-mapped index; RSS is that process after all searches; "
        "search is one query at a time; recall@10 is against exact search."
    )
    if out is not None:
        out.write_text(bench_scale.report(rows, description), encoding="utf-8")
        click.echo(f"wrote {out}")


@click.command()
@serving_options
@click.option("--requests", default=20_000, show_default=True, type=click.IntRange(2_000, 1_000_000), help="Requests in all.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 256), help="Requests in flight.")
def soak(index_dir: Path, set_path: Path, model: str, backend: str, requests: int, concurrency: int) -> None:
    """A bounded soak on 127.0.0.1: errors, and server memory after the first 1,000 requests against the end."""
    from eval.perf import bench as timing

    questions = [question.question for question in load_eval_set(set_path)]
    click.echo(f"machine: {timing.machine_description()}; {backend} encoder; {requests} requests at concurrency {concurrency}")
    process, base = timing.start_server(index_dir, model, backend=backend)
    try:
        first = asyncio.run(timing.drive_http(base, questions, 1_000, concurrency))
        early = timing.server_rss_kib(process)
        rest = asyncio.run(timing.drive_http(base, questions, requests - 1_000, concurrency))
        late = timing.server_rss_kib(process)
    finally:
        process.terminate()
        process.wait(timeout=20)
    click.echo(first.line())
    click.echo(rest.line())
    click.echo(f"errors: {first.errors + rest.errors}; server RSS after 1,000 requests {early / 1024:.0f} MiB, at the end {late / 1024:.0f} MiB ({(late - early) / early:+.1%})")


@click.command("scale-service")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--source", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True, help="A built index of DATASET to copy (e.g. the one `eval beir` cached).")
@click.option("--out", "out_root", type=click.Path(file_okay=False, path_type=Path), required=True, help="Index root for the large index; reused when it already holds one.")
@click.option("--chunks", default=1_000_000, show_default=True, type=click.IntRange(1), help="About how many chunks to write.")
@click.option("--noise", default=0.5, show_default=True, type=click.FloatRange(0), help="Norm of the Gaussian noise scattering each copy's vectors.")
@click.option("--questions", default=300, show_default=True, type=click.IntRange(1, 10_000), help="DATASET queries to ask, one at a time.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model.")
@backend_option
def scale_service(dataset: Path, source: Path, out_root: Path, chunks: int, noise: float, questions: int, model: str, backend: str) -> None:
    """Copy a real index to about --chunks chunks, serve it, and measure startup, /ask latency and RSS."""
    from eval.perf import bench as timing
    from eval.perf import scale_service as large
    from eval.quality.beir import load_queries
    from indexer.storage.store import IndexStoreError, open_index, read_manifest

    try:
        existing = read_manifest(out_root).counts["chunks"] if (out_root / "CURRENT").exists() else 0
        if existing < chunks * 0.9:
            started = time.perf_counter()
            manifest = large.replicate_index(open_index(source), out_root, chunks, noise, out_root.parent / f"{out_root.name}-work")
            click.echo(f"wrote {manifest.counts['chunks']:,} chunks ({manifest.faiss_index}) in {time.perf_counter() - started:.0f} s")
    except IndexStoreError as error:
        raise click.ClickException(str(error)) from error
    asked = list(load_queries(dataset).values())[:questions]
    click.echo(f"machine: {timing.machine_description()}; {backend} encoder")
    for line in large.measure_service(out_root, model, backend, asked).lines():
        click.echo(line)


@click.command("upload-bench")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("corpus"), show_default=True, help="Corpus to serve (copied; its text fills the PDF).")
@click.option("--pages", default=50, show_default=True, type=click.IntRange(37, 500), help="Pages of the generated PDF.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model.")
@backend_option
def upload_bench(corpus: Path, pages: int, model: str, backend: str) -> None:
    """Upload a generated PDF of real report prose to a running service and time it until answerable."""
    from eval.perf import bench as timing
    from eval.perf.upload_bench import time_upload

    click.echo(f"machine: {timing.machine_description()}; {backend} encoder")
    for line in time_upload(corpus, model, backend, pages).lines():
        click.echo(line)


@click.command("install-bench")
@click.option("--before", required=True, help="The commit whose pyproject to install first (e.g. the last one before a dependency change).")
@click.option("--timeout", default=7200.0, show_default=True, type=click.FloatRange(60), help="Seconds either install may take.")
def install_bench(before: str, timeout: float) -> None:
    """The README's first install (fresh venv, pip install -e ., no pip cache) of an earlier commit against the working tree."""
    import subprocess

    from eval.perf import bench as timing
    from eval.perf.install_bench import compare_installs, report

    root = Path(__file__).resolve().parents[2]
    click.echo(f"machine: {timing.machine_description()}; both installs with an empty pip cache, one after the other")
    try:
        old, new = compare_installs(root, before, timeout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        raise click.ClickException(f"an install failed: {error}") from error
    for line in report(old, new):
        click.echo(line)
