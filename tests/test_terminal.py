"""`python -m service ask` and `inspection-qa ask`, run as subprocesses the way people type them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from litestar.testing import TestClient

from service.terminal import EXIT_STATUS
from tests.conftest import ROOT, SEED_DOC

VETTING = "What did the inspector say about vetting?"
SENTENCE = "However, the force needs to improve its vetting"


def ask(*arguments: str, program: tuple[str, ...] = (sys.executable, "-m", "service")) -> subprocess.CompletedProcess:
    return subprocess.run([*program, "ask", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_an_answer_prints_the_quote_confidence_and_numbered_citations(index_dir: Path, seed_text: str) -> None:
    # --answer-from 0 makes every covered quote an answer, whatever the shipped threshold.
    result = ask(VETTING, "--index", str(index_dir), "--answer-from", "0")
    assert result.returncode == 0, result.stderr
    quote, _, confidence, _, citation, quoted, *_ = result.stdout.splitlines()
    start = seed_text.index(SENTENCE)
    end = seed_text.index("receives.", start) + len("receives.")
    assert quote.startswith(f"“{SENTENCE}") and confidence.startswith(("sure (confidence 0.", "likely (confidence 0."))
    assert citation.startswith("[1] ") and f"({SEED_DOC}, characters {start}–{end})" in citation
    assert quoted.strip() == f"“{seed_text[start:end]}”"


def test_json_prints_the_ask_body(index_dir: Path, client: TestClient) -> None:
    result = ask(VETTING, "--index", str(index_dir), "--json")
    assert result.returncode in EXIT_STATUS.values(), result.stderr
    printed, served = json.loads(result.stdout), client.post("/ask", json={"question": VETTING}).json()
    printed.pop("took_ms"), served.pop("took_ms")
    assert printed == served and result.returncode == EXIT_STATUS[printed["verdict"]]


def test_an_unanswerable_question_exits_1_with_the_no_answer_message(index_dir: Path) -> None:
    result = ask("What is the capital of France?", "--index", str(index_dir))
    assert result.returncode == 1
    assert result.stdout.startswith("No answer:") and "[1]" not in result.stdout


def test_a_covered_question_without_a_sure_answer_exits_3_and_says_it_shows_the_closest_passage(index_dir: Path) -> None:
    # --answer-from 1 holds every quote short of "answer": the verdict is "uncertain" for a covered question.
    result = ask(VETTING, "--index", str(index_dir), "--answer-from", "1")
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("The reports may not answer this directly; the closest passage is “")
    assert SENTENCE in result.stdout and "unsure: the closest passage" in result.stdout and "[1] " in result.stdout


def test_bad_input_exits_2(index_dir: Path, tmp_path: Path) -> None:
    for arguments, message in (
        (["   ", "--index", str(index_dir)], "question: must not be empty"),
        ([VETTING, "--index", str(index_dir), "-k", "0"], "-k"),
        ([VETTING, "--index", str(tmp_path / "none")], "no index at"),
        (["--index", str(index_dir)], "Missing argument 'QUESTION'"),
    ):
        result = ask(*arguments)
        assert result.returncode == 2 and message in result.stderr, (arguments, result.stderr)


def test_the_installed_script_asks_too(index_dir: Path) -> None:
    script = Path(sys.executable).parent / "inspection-qa"
    result = ask(VETTING, "--index", str(index_dir), "--answer-from", "0", program=(str(script),))
    assert result.returncode == 0 and SENTENCE in result.stdout
