"""Load from wrk (Debian's package): a C load generator that leaves the cores to the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from eval.perf.bench import LatencyReport

# The script rotates through the questions and prints its figures as JSON when wrk finishes.
SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = %(bodies)s
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/ask", nil, bodies[(i %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %%d, "seconds": %%f, "errors": %%d, "p50": %%f, "p95": %%f, "p99": %%f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3))
end
"""


def wrk_available() -> bool:
    """Whether the wrk binary is installed."""
    return shutil.which("wrk") is not None


def lua_string_list(texts: list[str]) -> str:
    """A Lua table literal of strings (JSON string escapes are valid Lua escapes for this text)."""
    return "{" + ", ".join(json.dumps(text) for text in texts) + "}"


def drive_wrk(base: str, questions: list[str], concurrency: int, seconds: float) -> LatencyReport:
    """POST /ask for a fixed time with `concurrency` connections on one wrk thread; stops by itself."""
    if not base.startswith("http://127.0.0.1:"):
        raise ValueError(f"load is only ever sent to 127.0.0.1, not {base}")
    bodies = [json.dumps({"question": question}) for question in questions]
    with tempfile.TemporaryDirectory(prefix="wrk-") as scratch:
        script = Path(scratch) / "ask.lua"
        script.write_text(SCRIPT % {"bodies": lua_string_list(bodies)}, encoding="utf-8")
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script), base]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    figures = json.loads(next(line[4:] for line in output.splitlines() if line.startswith("WRK ")))
    return LatencyReport(
        f"wrk c={concurrency}", figures["requests"], figures["errors"], figures["seconds"],
        figures["p50"], figures["p95"], figures["p99"],
    )
