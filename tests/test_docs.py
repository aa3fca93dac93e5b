"""Every command the README and docs/ show still exists: each `python -m …` line parses with its flags,
and each `curl` line gets a success from the real app."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from eval.cli import cli as eval_cli
from indexer.cli import cli as indexer_cli
from service.cli import cli as service_cli
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAMS: dict[str, click.Group] = {"indexer": indexer_cli, "service": service_cli, "eval": eval_cli}
SCRIPTS = {"inspection-qa-index": "indexer", "inspection-qa": "service", "inspection-qa-serve": "service", "inspection-qa-eval": "eval"}
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SHELL_BLOCK = re.compile(r"```(?:bash|sh|shell)\n(.*?)```", re.DOTALL)


def shell_lines(page: Path) -> list[str]:
    """The commands of a page's shell blocks: continuation lines joined, and a quote left open runs on."""
    lines = []
    for block in SHELL_BLOCK.findall(page.read_text(encoding="utf-8")):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending = f"{pending}\n{line}" if pending else line
            if not quotes_closed(pending):
                continue
            if pending.strip() and not pending.lstrip().startswith("#"):
                lines.append(pending.strip())
            pending = ""
    return lines


def quotes_closed(text: str) -> bool:
    """Whether the shell would see every quote in text closed."""
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


def commands(kind: str) -> list[tuple[str, list[str]]]:
    """(where, words) of every documented `python -m <program>` (kind "cli") or `curl` (kind "curl") command."""
    found = []
    for page in PAGES:
        for line in shell_lines(page):
            for words in pipeline_parts(line):
                is_cli = len(words) > 2 and words[0].endswith("python") and words[1] == "-m" and words[2] in PROGRAMS
                if (kind == "cli" and (is_cli or (words and words[0] in SCRIPTS))) or (kind == "curl" and words and words[0] == "curl"):
                    found.append((f"{page.name}: {' '.join(words)[:90]}", words))
    return found


def pipeline_parts(line: str) -> list[list[str]]:
    """The simple commands of a shell line (split at &&, ||, ; and |, quotes respected), without env assignments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="&|;")  # not <>: docs write placeholders as <name>
    lexer.whitespace_split = True
    parts, words = [], []
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            parts.append(words)
            words = []
        else:
            words.append(token)
    parts.append(words)
    return [strip_assignments(words) for words in parts if words]


def strip_assignments(words: list[str]) -> list[str]:
    """A command's words without a leading `env` and VAR=value settings."""
    while words and (words[0] == "env" or ENV_ASSIGNMENT.match(words[0])):
        words = words[1:]
    return words


@pytest.mark.parametrize(("where", "words"), commands("cli"), ids=lambda value: value if isinstance(value, str) else "")
def test_a_documented_command_parses_with_its_flags(where: str, words: list[str]) -> None:
    program, arguments = (words[2], words[3:]) if words[0].endswith("python") else (SCRIPTS[words[0]], words[1:])
    # --help after the documented flags: an unknown command or option fails while they are parsed.
    result = CliRunner().invoke(PROGRAMS[program], [*arguments, "--help"], prog_name=f"python -m {program}")
    assert result.exit_code == 0, f"{where}\n{result.output}"


def curl_request(words: list[str]) -> tuple[str, str, dict | None]:
    """Method, path and JSON body of a curl command line."""
    url = next(word for word in words if word.startswith("http"))
    body = next((words[i + 1] for i, word in enumerate(words) if word in ("-d", "--data")), None)
    method = next((words[i + 1] for i, word in enumerate(words) if word == "-X"), "POST" if body else "GET")
    return method, re.sub(r"^https?://[^/]+", "", url), json.loads(body) if body else None


def test_every_documented_curl_command_succeeds_against_the_app(client: TestClient) -> None:
    documented = commands("curl")
    assert documented, "the README shows at least one curl command"
    for where, words in documented:
        method, path, body = curl_request(words)
        if method != "GET" and path.startswith(("/documents", "/admin")):
            continue  # changes the corpus: docs/building.md's upload commands are run by tests/test_uploads.py
        response = client.request(method, path, json=body)
        assert response.status_code < 400, f"{where}: {response.status_code} {response.text[:300]}"
