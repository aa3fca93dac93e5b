"""The web page in real headless Chromium (Debian's chromium, driven by Playwright) against a real server."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# CI installs chromium and sets IQA_REQUIRE_BROWSER=1, so a missing browser fails there instead of skipping.
if not Path(CHROMIUM).exists():
    if os.environ.get("IQA_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"IQA_REQUIRE_BROWSER=1 but there is no chromium at {CHROMIUM}: apt-get install chromium")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from eval.perf.bench import start_server  # noqa: E402
from indexer.encoding.embedding import Encoder  # noqa: E402

# Flags for a closed network: no sandbox as root, no background calls to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VETTING = "What did the inspector say about vetting?"
VETTING_SENTENCE = "However, the force needs to improve its vetting"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def ask_by_keyboard(page: Page, question: str) -> None:
    """Type into the focused question box and press Enter, as a keyboard user does."""
    expect(page.locator("#question")).to_be_focused()
    page.keyboard.type(question)
    page.keyboard.press("Enter")


def test_vetting_question_shows_the_vetting_sentence_highlighted(browser: Browser, server: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(server)
    ask_by_keyboard(page, VETTING)
    quote = page.locator("#answer mark.quote").first
    expect(quote).to_contain_text(VETTING_SENTENCE)
    assert quote.evaluate("node => getComputedStyle(node).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
    # The citation opens by keyboard onto the source passage with the sentence marked, and the document's metadata.
    page.locator("#source-1 summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#source-1 mark.source-sentence")).to_contain_text(VETTING_SENTENCE)
    expect(page.locator("#source-1 .passage")).to_be_visible()
    expect(page.locator("#source-1 .metadata")).to_contain_text("Matt Parr")
    expect(page.locator("#source-1 .metadata")).to_contain_text("Metropolitan Police Service")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    if os.environ.get("IQA_SCREENSHOT_DIR"):
        shutil.copy(tmp_path / "page.png", Path(os.environ["IQA_SCREENSHOT_DIR"]) / "page.png")
    page.close()


def test_unanswerable_question_shows_the_no_answer_state(browser: Browser, server: str) -> None:
    page = browser.new_page()
    page.goto(server)
    ask_by_keyboard(page, "What is a good recipe for chocolate cake?")
    expect(page.locator("#no-answer")).to_be_visible()
    expect(page.locator("#answer")).to_be_hidden()
    expect(page.locator("#sources")).to_be_hidden()
    page.close()


def test_page_fits_a_phone_screen(browser: Browser, server: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True)
    page.goto(server)
    ask_by_keyboard(page, VETTING)
    expect(page.locator("#answer mark.quote").first).to_contain_text(VETTING_SENTENCE)
    page.locator("#source-1 summary").click()
    expect(page.locator("#source-1 .passage")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.close()


def test_page_loads_nothing_from_other_hosts(browser: Browser, server: str) -> None:
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server)
    ask_by_keyboard(page, VETTING)
    expect(page.locator("#answer mark.quote").first).to_be_visible()
    assert requested and all(url.startswith(server) for url in requested)
    page.close()


def test_the_verdict_is_shown_in_words_with_the_numbers_on_hover(browser: Browser, server: str) -> None:
    page = browser.new_page()
    page.goto(server)
    ask_by_keyboard(page, VETTING)
    confidence = page.locator("#confidence")
    expect(confidence).to_have_text(re.compile(r"^(Sure|Likely|Unsure): "))
    assert "%" not in confidence.inner_text()
    assert re.search(r"answers the question: 0\.\d\d; that the reports cover it: 0\.\d\d$", confidence.get_attribute("title") or "")
    page.close()


def test_a_closest_passage_is_labelled_as_one(browser: Browser, index_dir: Path, encoder: Encoder) -> None:
    # --answer-from 1: the reports cover the vetting question but no quote reaches "answer".
    process, base = start_server(index_dir, encoder.model_name, extra=("--answer-from", "1"))
    try:
        page = browser.new_page()
        page.goto(base)
        ask_by_keyboard(page, VETTING)
        expect(page.locator("#answer-heading")).to_have_text("Closest passage")
        expect(page.locator("#uncertain-note")).to_be_visible()
        expect(page.locator("#uncertain-note")).to_contain_text("may not answer this directly")
        expect(page.locator("#answer mark.quote").first).to_contain_text(VETTING_SENTENCE)
        expect(page.locator("#confidence")).to_have_text(re.compile(r"^Unsure: "))
        page.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
