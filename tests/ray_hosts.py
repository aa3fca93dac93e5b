"""Two Ray hosts on one machine, started as an operator starts them: network namespaces joined by a veth
pair (a private /30 of their own, routed nowhere), `ray start --head` in one and `ray start --address`
in the other, the cluster's token where Ray looks for it. Everything is stopped by namespace, so a
failed or aborted test leaves nothing running, and the next run clears what an aborted one left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from indexer.encoding.quantize import model_cache_dir
from tests.conftest import ROOT

HEAD_NS, WORKER_NS = "iqa-ray-head", "iqa-ray-worker"
HEAD_LINK, WORKER_LINK = "iqa-rh", "iqa-rw"
HEAD_IP, WORKER_IP = "10.213.7.1", "10.213.7.2"
PREFIX = 30
PORT = 6391
# One CPU each: the cluster's two encoders must land one on each node.
NODE_FLAGS = ("--num-cpus", "1", "--object-store-memory", "200000000", "--disable-usage-stats")
RAY = str(Path(sys.executable).with_name("ray"))
COMMAND_SECONDS = 120
# A worker's raylet leaves the cluster at once on SIGTERM; the head's GCS and raylet linger for seconds,
# and nothing of a test cluster needs keeping.
TERM_SECONDS = 3
KILL_SECONDS = 10
JOIN_SECONDS = 60
# No Ray or failpoint setting of this process may reach the test cluster: earlier tests' private
# clusters leave some set here (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes a worker node refuse to join).
DROPPED_PREFIXES = ("RAY_", "IQA_FAILPOINT")
# Short: Ray's socket paths under --temp-dir must fit in 107 bytes.
SCRATCH, SCRATCH_PREFIX = "/tmp", "iqa-ray-"
ALIVE_NODES = (
    "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
    "print('alive:', *sorted(node['NodeManagerAddress'] for node in ray.nodes() if node['Alive']))"
)


def namespaces_unavailable() -> str | None:
    """Why this machine cannot host the two namespaces, or None if it can."""
    if os.geteuid() != 0:
        return "network namespaces need root (.ci/run runs as root)"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed (apt-get install iproute2)"
    probe = "iqa-ray-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=30, check=False)
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, timeout=30, check=False)
    return None if made.returncode == 0 else f"cannot create a network namespace: {made.stderr.strip()}"


def ip(*arguments: str) -> None:
    """Run `ip` (iproute2), failing loudly."""
    subprocess.run(["ip", *arguments], capture_output=True, text=True, timeout=30, check=True)


def namespace_pids(namespace: str) -> list[int]:
    """The processes living in a network namespace (none if it does not exist)."""
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=30, check=False)
    return [int(pid) for pid in listed.stdout.split()] if listed.returncode == 0 else []


def stop_namespace(namespace: str) -> None:
    """Every process in the namespace (Ray's daemons, its workers, a build) asked to stop, then killed.
    Not `ray stop`: it stops Ray processes by name across the machine's one PID namespace, so it would
    stop every other Ray cluster on the machine too."""
    for sent, grace in ((signal.SIGTERM, TERM_SECONDS), (signal.SIGKILL, KILL_SECONDS)):
        for pid in namespace_pids(namespace):
            try:
                os.kill(pid, sent)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while namespace_pids(namespace) and time.monotonic() < deadline:
            time.sleep(0.2)


def remove_namespaces() -> None:
    """Both namespaces gone, with everything in them (deleting a namespace removes its end of the veth)."""
    for namespace in (WORKER_NS, HEAD_NS):
        stop_namespace(namespace)
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=30, check=False)


def make_namespaces() -> None:
    """The two namespaces with loopback up, joined by a veth pair made inside them (none in the root namespace)."""
    remove_namespaces()
    for namespace in (HEAD_NS, WORKER_NS):
        ip("netns", "add", namespace)
        ip("-n", namespace, "link", "set", "lo", "up")
    ip("link", "add", HEAD_LINK, "netns", HEAD_NS, "type", "veth", "peer", "name", WORKER_LINK, "netns", WORKER_NS)
    for namespace, link, address in ((HEAD_NS, HEAD_LINK, HEAD_IP), (WORKER_NS, WORKER_LINK, WORKER_IP)):
        ip("-n", namespace, "addr", "add", f"{address}/{PREFIX}", "dev", link)
        ip("-n", namespace, "link", "set", link, "up")


def in_namespace(namespace: str, command: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *command]


@dataclass(frozen=True)
class TwoHosts:
    """A head node and a worker node, each with its own home (its ~/.ray/auth_token) and Ray directory."""

    root: Path

    @property
    def address(self) -> str:
        return f"{HEAD_IP}:{PORT}"

    def environment(self, home: str, **extra: str) -> dict[str, str]:
        """This process's variables for a host: its home, this checkout first on the path, the model cache
        already filled (a new home would export the model again)."""
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        kept = {name: value for name, value in os.environ.items() if not name.startswith(DROPPED_PREFIXES)}
        return kept | {"HOME": str(self.root / home), "PYTHONPATH": path, "IQA_MODEL_CACHE": str(model_cache_dir())} | extra

    def run(self, namespace: str, command: list[str], env: dict[str, str], name: str, timeout: float = COMMAND_SECONDS) -> subprocess.CompletedProcess[str]:
        """A command in a namespace, its output in a file (a daemon it starts would hold a pipe open)."""
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as output:
            done = subprocess.run(in_namespace(namespace, command), cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        return subprocess.CompletedProcess(done.args, done.returncode, log.read_text(errors="replace"))

    def start_node(self, namespace: str, name: str, arguments: list[str], env: dict[str, str]) -> None:
        """`ray start ARGUMENTS` in a namespace, with its own Ray directory."""
        command = [RAY, "start", *arguments, *NODE_FLAGS, "--temp-dir", str(self.root / f"ray-{name}")]
        started = self.run(namespace, command, env, name)
        if started.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed: {started.stdout[-3000:]}")

    def start_head(self) -> None:
        """A token made where `ray start --head` finds it (so authentication is on, Ray's default), then the head."""
        env = self.environment("head")
        subprocess.run([RAY, "get-auth-token", "--generate"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=COMMAND_SECONDS, check=True)
        self.start_node(HEAD_NS, "head", ["--head", "--node-ip-address", HEAD_IP, "--port", str(PORT), "--include-dashboard=false"], env)

    def start_worker(self, **extra: str) -> None:
        """The worker node, with the cluster's token copied to its home: joining needs RAY_AUTH_MODE=token."""
        token = self.root / "worker" / ".ray" / "auth_token"
        token.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / "head" / ".ray" / "auth_token", token)
        env = self.environment("worker", RAY_AUTH_MODE="token", **extra)
        self.start_node(WORKER_NS, "worker", ["--address", self.address, "--node-ip-address", WORKER_IP], env)
        self.wait_for_nodes([HEAD_IP, WORKER_IP])

    def start_loopback_head(self, port: int, **extra: str) -> None:
        """A second, one-machine cluster on the head host's loopback (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, or
        Ray swaps 127.0.0.1 for the host's address); it stops with the namespace."""
        env = self.environment("head", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **extra)
        self.start_node(HEAD_NS, "loopback", ["--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--include-dashboard=false"], env)

    def alive_nodes(self) -> list[str]:
        """The addresses of the cluster's live nodes, as its GCS lists them."""
        env = self.environment("head", RAY_AUTH_MODE="token")
        listed = self.run(HEAD_NS, [sys.executable, "-c", ALIVE_NODES, self.address], env, "nodes", timeout=60)
        lines = [line.split()[1:] for line in listed.stdout.splitlines() if line.startswith("alive:")]
        return lines[-1] if listed.returncode == 0 and lines else []

    def wait_for_nodes(self, expected: list[str]) -> None:
        """Until exactly these nodes are alive (a node just stopped stays listed until the GCS notices)."""
        deadline, alive = time.monotonic() + JOIN_SECONDS, []
        while time.monotonic() < deadline:
            if (alive := self.alive_nodes()) == expected:
                return
            time.sleep(1)
        raise RuntimeError(f"the cluster's live nodes are {alive}, not {expected}")

    def restart_worker(self, **extra: str) -> None:
        """The worker node stopped, and started again with these variables (a failpoint armed on it alone)."""
        stop_namespace(WORKER_NS)
        self.wait_for_nodes([HEAD_IP])
        self.start_worker(**extra)

    def build(self, *arguments: str, env: dict[str, str] | None = None, address: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`python -m indexer build ARGUMENTS --no-progress --ray HEAD:PORT` (or another address), run on the head host."""
        command = [sys.executable, "-m", "indexer", "build", *arguments, "--no-progress", "--ray", address or self.address]
        return self.run(HEAD_NS, command, env or self.environment("head"), "build", timeout)


@contextmanager
def two_hosts() -> Iterator[TwoHosts]:
    """The two hosts, running; everything stopped and removed afterwards, whatever happened."""
    # What an aborted run left: its processes go with its namespaces, then its directories.
    remove_namespaces()
    for stale in Path(SCRATCH).glob(f"{SCRATCH_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=SCRATCH))
    try:
        make_namespaces()
        hosts = TwoHosts(root)
        hosts.start_head()
        hosts.start_worker()
        yield hosts
    finally:
        remove_namespaces()
        shutil.rmtree(root, ignore_errors=True)
