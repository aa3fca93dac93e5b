"""Time adding a long PDF to a running service: upload, extraction, incremental indexing, publishing,
and the first answer from it, all over HTTP on 127.0.0.1."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from eval.perf.bench import start_server
from indexer.build import build_index
from indexer.encoding.embedding import load_encoder

UNIQUE_FINDING = "The marine unit patrols the estuary with two boats, but neither boat has been serviced since 2015."
UNIQUE_QUESTION = "When were the marine unit's boats last serviced?"


def write_report_pdf(path: Path, source_text: str, pages: int, unique_page: int) -> None:
    """A PDF of `pages` pages of real report prose (the paragraphs of source_text, rotated per page),
    with running headers and page numbers, and UNIQUE_FINDING on unique_page."""
    from fpdf import FPDF  # a test dependency: pip install fpdf2

    paragraphs = [p.strip() for p in source_text.split("\n\n") if len(p.strip()) > 80]
    pdf = FPDF(format="A4")
    pdf.set_title("Force-wide inspection (benchmark)")
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=8)
        pdf.cell(0, 5, "Force-wide inspection - benchmark document", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", size=15)
        pdf.cell(0, 12, f"Section {number}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        chosen = [UNIQUE_FINDING] if number == unique_page else []
        chosen += [paragraphs[(number + i) % len(paragraphs)] for i in range(5)]
        for paragraph in chosen:
            pdf.multi_cell(0, 5, paragraph.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        # The footer sits in the bottom margin, where an automatic page break would fire.
        pdf.set_auto_page_break(False)
        pdf.set_y(-15)
        pdf.set_font("Helvetica", size=8)
        pdf.cell(0, 5, f"Page {number}")
        pdf.set_auto_page_break(True, margin=20)
    if pdf.page_no() != pages:
        raise ValueError(f"the text overflowed: {pdf.page_no()} pages instead of {pages}")
    pdf.output(str(path))


@dataclass(frozen=True)
class UploadTiming:
    """What one upload measured."""

    pdf_bytes: int
    request_seconds: float
    reply: dict
    answer_page: list[int]
    answer_ms: float

    def lines(self) -> list[str]:
        """The printed report."""
        reply = self.reply
        return [
            f"uploaded {reply['pages']}-page PDF ({self.pdf_bytes / 1024:.0f} KiB): HTTP {self.request_seconds:.1f} s in all, "
            f"extraction {reply['extract_seconds']:.1f} s, incremental build and publish {reply['index_seconds']:.1f} s; "
            f"index now {reply['documents']} documents, {reply['chunks']} chunks, version {reply['version']}",
            f"first question about page 37 answered from page {self.answer_page} in {self.answer_ms:.0f} ms, no restart",
        ]


def time_upload(corpus: Path, model: str, backend: str, pages: int = 50) -> UploadTiming:
    """Serve a copy of corpus with uploads on, upload a generated PDF, ask about it."""
    with tempfile.TemporaryDirectory(prefix="upload-bench-") as scratch:
        work = Path(scratch)
        shutil.copytree(corpus, work / "corpus")
        build_index(work / "corpus", work / "index", load_encoder(model, backend))
        source = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(corpus.glob("*.txt")))
        write_report_pdf(work / "report.pdf", source, pages, unique_page=37)
        data = (work / "report.pdf").read_bytes()
        process, base = start_server(work / "index", model, backend=backend, extra=("--corpus", str(work / "corpus")))
        try:
            started = time.perf_counter()
            response = httpx.post(f"{base}/documents", files={"file": ("report.pdf", data, "application/pdf")}, timeout=1800)
            request_seconds = time.perf_counter() - started
            response.raise_for_status()
            started = time.perf_counter()
            answer = httpx.post(f"{base}/ask", json={"question": UNIQUE_QUESTION}, timeout=60).json()
            answer_ms = (time.perf_counter() - started) * 1000
        finally:
            process.terminate()
            process.wait(timeout=30)
        page = answer["evidence"][0]["pages"] if answer["evidence"] else []
        return UploadTiming(len(data), request_seconds, response.json(), page, answer_ms)
