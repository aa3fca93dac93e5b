"""Which Ray authentication token a build sends, found where Ray looks for it, and named (never shown) in errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli as indexer_cli
from indexer.cluster.ray_auth import RayAuthError, find_token, refusal
from tests.conftest import CORPUS

TOKEN = "3f" * 32
OTHER = "a7" * 32


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_token_is_found_in_rays_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    default = write(home / ".ray" / "auth_token", TOKEN + "\n")
    named = write(tmp_path / "named", OTHER)
    assert find_token({}, tmp_path / "nobody") is None
    assert find_token({}, home).source == str(default)
    assert find_token({"RAY_AUTH_TOKEN_PATH": str(named)}, home).source == f"RAY_AUTH_TOKEN_PATH={named}"
    assert find_token({"RAY_AUTH_TOKEN": TOKEN, "RAY_AUTH_TOKEN_PATH": str(named)}, home).source == "the RAY_AUTH_TOKEN variable"


def test_a_token_is_named_by_its_fingerprint_and_never_shown(tmp_path: Path) -> None:
    token = find_token({}, write(tmp_path / ".ray" / "auth_token", f"  {TOKEN}\n").parent.parent)
    # As `ray get-auth-token | sha256sum` prints it: Ray strips the file's whitespace.
    assert token.fingerprint == hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    message = refusal("10.213.7.1:6391", token)
    assert TOKEN not in message and token.fingerprint in message and "ray get-auth-token" in message
    assert "none was found" in refusal("10.213.7.1:6391", None)


def test_an_empty_or_missing_token_file_is_refused_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(RayAuthError, match="is empty"):
        find_token({"RAY_AUTH_TOKEN_PATH": str(write(tmp_path / "empty", "\n"))})
    with pytest.raises(RayAuthError, match="cannot read"):
        find_token({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")})


def test_a_token_file_needs_ray(tmp_path: Path) -> None:
    token = write(tmp_path / "token", TOKEN)
    result = CliRunner().invoke(indexer_cli, ["build", str(CORPUS), "--out", str(tmp_path / "index"), "--ray-auth-token-file", str(token)])
    assert result.exit_code == 2 and "only applies with --ray" in result.output
