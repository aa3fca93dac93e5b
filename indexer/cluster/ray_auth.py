"""Ray's token authentication, for builds on a cluster somebody else started: which token this process
holds, and whether the cluster wants one. Ray 2.59 and newer turn it on for every `ray start --head`
that finds a token, but a process connecting to a host:port sends none unless RAY_AUTH_MODE says so."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MODE_VARIABLE = "RAY_AUTH_MODE"
TOKEN_VARIABLE = "RAY_AUTH_TOKEN"
TOKEN_PATH_VARIABLE = "RAY_AUTH_TOKEN_PATH"
# Where `ray get-auth-token --generate` writes a token and `ray start --head` looks for one.
DEFAULT_TOKEN_FILE = Path(".ray") / "auth_token"
# The modes decided here from the cluster's answer; any other (Ray's Kubernetes one) is left as set.
MODES = ("disabled", "token")
FINGERPRINT_DIGITS = 12
HOW_TO_GET = (
    "Run `ray get-auth-token` on the cluster's head node, save what it prints to a file here and pass "
    f"it with --ray-auth-token-file FILE (or name the file in {TOKEN_PATH_VARIABLE})"
)


class RayAuthError(ValueError):
    """The cluster wants a token that this process lacks, or refused the one it sent."""


@dataclass(frozen=True)
class Token:
    """Where this process's Ray token comes from, and a fingerprint of it: the token is never shown."""

    source: str
    fingerprint: str

    def describe(self) -> str:
        """The token as messages name it."""
        return f"the token from {self.source} (sha256 {self.fingerprint}...)"


def fingerprint(token: str) -> str:
    """The first digits of the token's sha256, as `ray get-auth-token | sha256sum` prints them."""
    return hashlib.sha256(token.strip().encode()).hexdigest()[:FINGERPRINT_DIGITS]


def read_token(path: Path, source: str) -> Token:
    """The token in a file; RayAuthError if it cannot be read or is empty (as Ray refuses it)."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise RayAuthError(f"cannot read the Ray authentication token ({source}): {error}") from error
    if not value:
        raise RayAuthError(f"the Ray authentication token file ({source}) is empty. {HOW_TO_GET}.")
    return Token(source, fingerprint(value))


def find_token(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Token | None:
    """The token Ray would send, looked for in Ray's order: RAY_AUTH_TOKEN, the file RAY_AUTH_TOKEN_PATH
    names, ~/.ray/auth_token; None if there is none."""
    environ = os.environ if environ is None else environ
    if value := environ.get(TOKEN_VARIABLE, "").strip():
        return Token(f"the {TOKEN_VARIABLE} variable", fingerprint(value))
    if named := environ.get(TOKEN_PATH_VARIABLE):
        return read_token(Path(named), f"{TOKEN_PATH_VARIABLE}={named}")
    default = (home or Path.home()) / DEFAULT_TOKEN_FILE
    return read_token(default, str(default)) if default.exists() else None


def use_token_file(path: Path) -> None:
    """Have Ray, in this process and those it starts, send the token in path (ahead of RAY_AUTH_TOKEN)."""
    os.environ[TOKEN_PATH_VARIABLE] = str(path.expanduser().absolute())
    os.environ.pop(TOKEN_VARIABLE, None)


def set_mode(mode: str) -> None:
    """Switch this process's Ray client between sending no token and sending its token."""
    os.environ[MODE_VARIABLE] = mode
    reload_ray_settings()


def reload_ray_settings() -> None:
    """Have Ray read the variables again: it reads its configuration and the token once and caches both."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """File descriptor 2 sent to /dev/null: Ray's C++ client logs every refused call there itself."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def accepted(address: str) -> bool:
    """Whether the cluster's GCS at host:port answers this process in its current mode (a refusal comes
    back at once; ray.init retries for about 20 s, then says only that it could not connect)."""
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError, RpcError

    try:
        with quiet_stderr():
            GcsClient(address=address)
    except AuthenticationError:
        return False
    except RpcError as error:
        raise ValueError(f"no Ray cluster answers at {address}: {error}") from error
    return True


def refusal(address: str, token: Token | None) -> str:
    """Why the cluster at address cannot be used, and how to get its token."""
    if token is None:
        looked = f"{TOKEN_VARIABLE}, {TOKEN_PATH_VARIABLE}, ~/{DEFAULT_TOKEN_FILE.as_posix()}"
        return f"the Ray cluster at {address} wants an authentication token, and none was found ({looked}). {HOW_TO_GET}."
    return f"the Ray cluster at {address} refused {token.describe()}: it is not this cluster's token. {HOW_TO_GET}."


def authenticate(address: str, token: Token | None) -> None:
    """Set this process's RAY_AUTH_MODE to what the cluster at host:port expects: no token if it answers
    without one (a token sent to a cluster without authentication stalls the build), else the token
    Ray finds; RayAuthError within seconds if there is none or the cluster refuses it."""
    if os.environ.get(MODE_VARIABLE, "disabled").lower() not in MODES:
        return
    set_mode("disabled")
    if accepted(address):
        return
    set_mode("token")
    if token is None or not accepted(address):
        raise RayAuthError(refusal(address, token))


@contextmanager
def authentication(address: str | None, token_file: Path | None) -> Iterator[None]:
    """Ray's authentication set up for a connection to address (None: a private cluster, which uses
    Ray's default), and this process's variables restored afterwards."""
    saved = {name: os.environ.get(name) for name in (MODE_VARIABLE, TOKEN_VARIABLE, TOKEN_PATH_VARIABLE)}
    try:
        if token_file is not None:
            use_token_file(token_file)
        if address is not None and has_tokens():
            authenticate(address, read_token(token_file, f"--ray-auth-token-file {token_file}") if token_file else find_token())
        yield
    finally:
        restore(saved)


def has_tokens() -> bool:
    """Whether this Ray has token authentication (2.59 and newer); older ones connect without a token."""
    try:
        from ray._raylet import AuthenticationTokenLoader  # noqa: F401
    except ImportError:
        return False
    return True


def restore(saved: dict[str, str | None]) -> None:
    """Put back the variables as they were, and Ray's cached view of them (the next connection may be
    to another cluster, or to a private one)."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if "ray._raylet" in sys.modules and has_tokens():
        reload_ray_settings()
