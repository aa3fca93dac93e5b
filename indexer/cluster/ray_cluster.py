"""Connecting to a Ray cluster for an index build: importing Ray, reaching the cluster, and what its
workers share with this process."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from indexer.cluster.ray_auth import authentication

RAY_INSTALL = "pip install -e '.[ray]'"
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
CONNECT_SECONDS = 5
# Every Ray worker gets these, so it loads the same model offline, from the same export cache, and
# honours the same failpoints as this process.
FORWARDED = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")
FORWARDED_PREFIX = "IQA_"
# A private cluster (--ray local) shares the machine with this process: keep its shared memory small.
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20


class RayUnavailable(ValueError):
    """Ray (with Ray Data) is not installed."""


def import_ray(address: str = "auto") -> Any:
    """The ray module, with Ray Data; RayUnavailable saying how to install it."""
    # Nothing here may be sent off the machine, and Ray's usage statistics would be.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address == "local" or host_of(address) in LOOPBACK_HOSTS:
        # Ray turns 127.0.0.1 into the machine's outward address unless it is told this is no cluster
        # (read when ray is first imported); a private cluster then listens on 127.0.0.1 only.
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise RayUnavailable(f"--ray needs Ray with Ray Data, an optional extra: {RAY_INSTALL} ({error})") from error
    return ray


def host_of(address: str) -> str | None:
    """The host of a host:port address; None for auto, local and ray:// addresses."""
    host, separator, port = address.rpartition(":")
    return host if separator and port.isdigit() and "//" not in host else None


def check_reachable(address: str) -> None:
    """Fail fast on a host:port nothing listens on (ray.init would retry for minutes)."""
    if (host := host_of(address)) is None:
        return
    try:
        socket.create_connection((host, int(address.rpartition(":")[2])), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise ValueError(f"no Ray cluster answers at {address}: {error}") from error


def worker_environment() -> dict[str, str]:
    """The variables of this process that Ray workers must share."""
    return {name: value for name, value in os.environ.items() if name in FORWARDED or name.startswith(FORWARDED_PREFIX)}


def init_arguments(address: str, cpus: int | None = None) -> dict[str, Any]:
    """ray.init arguments: a private cluster is bound to 127.0.0.1 with no dashboard."""
    arguments: dict[str, Any] = {
        "address": address,
        "runtime_env": {"env_vars": worker_environment()},
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if address == "local":
        arguments |= {
            "num_cpus": cpus or os.cpu_count() or 1,
            "include_dashboard": False,
            "_node_ip_address": "127.0.0.1",
            "object_store_memory": LOCAL_OBJECT_STORE_BYTES,
        }
    return arguments


def gcs_address(address: str) -> str | None:
    """The host:port whose authentication to check: as given, or the running cluster's for auto; None
    for a private cluster (started with Ray's own default) and ray:// addresses."""
    if host_of(address) is not None:
        return address
    if address != "auto":
        return None
    from ray._private.services import canonicalize_bootstrap_address

    try:
        return canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError):
        # No cluster found: ray.init says so in its own words.
        return None


@contextmanager
def ray_session(address: str, cpus: int | None = None, token_file: Path | None = None) -> Iterator[int]:
    """Connected to the cluster at address (reusing this process's connection if there is one); its CPUs.
    A private cluster (address "local") gets `cpus` CPUs, by default every core. token_file names the
    cluster's authentication token when it is not where Ray looks (indexer.cluster.ray_auth)."""
    ray = import_ray(address)
    if ray.is_initialized():
        yield cluster_cpus(ray)
        return
    check_reachable(address)
    with authentication(gcs_address(address), token_file):
        try:
            ray.init(**init_arguments(address, cpus))
        except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
            raise ValueError(f"cannot connect to the Ray cluster at {address!r}: {error}") from error
        try:
            yield cluster_cpus(ray)
        finally:
            ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    """The CPUs of the connected cluster."""
    return int(ray.cluster_resources().get("CPU", 0))
