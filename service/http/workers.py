"""Server worker processes that each listen on a socket of their own, so connections spread evenly.

uvicorn's workers share one listening socket, and whichever worker's event loop wakes first accepts
every connection waiting: 32 keep-alive connections opened at once went 32/0, 29/3 and 28/4 between two
workers, so the second worker mostly idled. With SO_REUSEPORT (Linux) each worker binds its own socket
to the same address and the kernel spreads connections among them by their address hash.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")


def balances_connections() -> bool:
    """Whether SO_REUSEPORT spreads connections among sockets here (Linux; elsewhere one socket takes all)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port that other SO_REUSEPORT sockets of this user may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def worker_socket(host: str, port: int) -> socket.socket:
    """The worker's own listening socket; a worker that cannot bind exits as a failed start, which stops
    the supervisor instead of having it restart the worker forever."""
    try:
        return reuse_port_socket(host, port)
    except OSError as error:
        logger.error("cannot listen on %s:%d: %s", host, port, error.strerror or error)
        sys.exit(STARTUP_FAILURE)


class OwnSocket:
    """Stands for a listening socket in the supervisor's list: each worker process is started with a
    pickled copy of that list, and unpickling this makes the worker bind a socket of its own. So a
    worker the supervisor restarts (or adds on SIGTTIN) gets its own socket too, and a worker that dies
    takes only its own queue of connections with it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return worker_socket, (self.host, self.port)


def run_workers(app: str, workers: int, host: str, port: int, **options: Any) -> None:
    """Serve app (an import string of an app factory) from workers processes on host:port."""
    if not balances_connections():
        uvicorn.run(app, factory=True, workers=workers, host=host, port=port, **options)
        return
    config = Config(app, factory=True, workers=workers, host=host, port=port, **options)
    # Held, bound but not listening, for the server's life: it takes no connections, but keeps the
    # address ours between worker restarts and fixes the port when port 0 asks for any free one.
    reserved = reuse_port_socket(host, port)
    bound_port = reserved.getsockname()[1]
    logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", f"[{host}]" if ":" in host else host, bound_port)
    try:
        Multiprocess(config, sockets=[OwnSocket(host, bound_port)]).run()  # type: ignore[list-item]
    finally:
        reserved.close()
