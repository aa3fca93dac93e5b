"""What scraping /metrics costs under load: wrk runs with and without a concurrent scraper, interleaved,
and whether the request counts /metrics reports equal wrk's."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from eval.perf.bench import process_tree
from eval.perf.wrk import lua_string_list

# Sends /ask for `seconds` from the first request, then no more (delay() parks each connection) so that the
# requests in flight finish before wrk stops: every request sent is answered and counted on both sides. The
# rate is responses over the time from the first request to the last response (LuaJIT's ffi for a clock).
SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } iqa_timespec;
int clock_gettime(int clk_id, iqa_timespec *tp);
]]
local clock = ffi.new("iqa_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = %(bodies)s
local seconds = %(seconds)f
sent, statuses, first, last = 0, {}, nil, nil
local threads = {}
setup = function(thread) table.insert(threads, thread) end
-- Requests are counted here, not in request(), which wrk also calls once to check the script.
delay = function()
  local t = now()
  if first == nil then first = t end
  if t - first >= seconds then return 3600000 end
  sent = sent + 1
  return 0
end
request = function()
  return wrk.format(nil, "/ask", nil, bodies[(sent %% #bodies) + 1])
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  last = now()
end
done = function(summary, latency, requests)
  local total, begin, finish, parts = 0, nil, nil, {}
  local merged = {}
  for _, thread in ipairs(threads) do
    total = total + thread:get("sent")
    local f, l = thread:get("first"), thread:get("last")
    if f and (begin == nil or f < begin) then begin = f end
    if l and (finish == nil or l > finish) then finish = l end
    for status, n in pairs(thread:get("statuses")) do merged[status] = (merged[status] or 0) + n end
  end
  for status, n in pairs(merged) do table.insert(parts, string.format('"%%d": %%d', status, n)) end
  io.write(string.format('WRK {"sent": %%d, "seconds": %%f, "statuses": {%%s}, "p50": %%f, "p99": %%f}\\n',
    total, (finish or 0) - (begin or 0), table.concat(parts, ", "), latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


@dataclass(frozen=True)
class Run:
    """One wrk run: its rate, what wrk counted per status and what /metrics counted."""

    arm: str
    rate: float
    sent: int
    wrk_statuses: dict[str, int]
    metric_statuses: dict[str, int]
    scrapes: int
    p50: float
    p99: float
    # Server CPU time (all its processes) per response: less moved than req/s by other work on the machine.
    cpu_ms: float

    @property
    def counts_equal(self) -> bool:
        """Every request wrk sent was answered, and /metrics counts the same per status."""
        return self.sent == sum(self.wrk_statuses.values()) and self.wrk_statuses == self.metric_statuses

    def line(self) -> str:
        """One printable line."""
        return (
            f"{self.arm:<9} {self.rate:8.1f} req/s  server CPU {self.cpu_ms:5.2f} ms/request  p50 {self.p50:6.1f} ms  "
            f"p99 {self.p99:6.1f} ms  scrapes {self.scrapes:<3} wrk {self.wrk_statuses}  /metrics {self.metric_statuses}  "
            f"{'equal' if self.counts_equal else 'DIFFERENT'}"
        )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its descendants, from /proc."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def ask_counts(base: str, headers: dict[str, str]) -> dict[str, int]:
    """POST /ask requests by status, as /metrics reports them."""
    text = httpx.get(f"{base}/metrics", headers=headers, timeout=30).text
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "iqa_http_requests_total" and sample.labels.get("route") == "/ask":
                counts[sample.labels["status"]] = int(sample.value)
    return counts


class Scraper:
    """GET /metrics every `interval` seconds in a thread, as Prometheus would (far more often than its 15 s)."""

    def __init__(self, base: str, headers: dict[str, str], interval: float) -> None:
        self.base, self.headers, self.interval = base, headers, interval
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30, headers=self.headers) as client:
            while not self._stop.wait(self.interval):
                client.get(f"{self.base}/metrics").raise_for_status()
                self.scrapes += 1

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wrk_run(base: str, questions: list[str], concurrency: int, seconds: float, drain: float) -> dict:
    """One drained wrk run against /ask; wrk's figures as a dict."""
    if not base.startswith("http://127.0.0.1:"):
        raise ValueError(f"load is only ever sent to 127.0.0.1, not {base}")
    bodies = [json.dumps({"question": question}) for question in questions]
    with tempfile.TemporaryDirectory(prefix="wrk-") as scratch:
        script = Path(scratch) / "ask.lua"
        script.write_text(SCRIPT % {"bodies": lua_string_list(bodies), "seconds": seconds}, encoding="utf-8")
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds + drain:g}s", "--timeout", "10s", "-s", str(script), base]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + drain + 60, check=True).stdout
    return json.loads(next(line[4:] for line in output.splitlines() if line.startswith("WRK ")))


def measure(
    base: str, pid: int, questions: list[str], arm: str, concurrency: int, seconds: float, interval: float, headers: dict[str, str]
) -> Run:
    """One run of an arm ("plain" or "scraped") against the server process pid, with /metrics read before and after it."""
    before = ask_counts(base, headers)
    cpu_before = cpu_seconds(pid)
    scraper = Scraper(base, headers, interval) if arm == "scraped" else None
    with scraper or contextlib.nullcontext():
        figures = wrk_run(base, questions, concurrency, seconds, drain=3.0)
    time.sleep(0.2)  # the last response's line is written just after its bytes
    cpu = cpu_seconds(pid) - cpu_before
    after = ask_counts(base, headers)
    delta = {status: n - before.get(status, 0) for status, n in after.items() if n - before.get(status, 0)}
    responses = sum(figures["statuses"].values())
    return Run(
        arm, responses / figures["seconds"], figures["sent"], {str(k): v for k, v in figures["statuses"].items()}, delta,
        scraper.scrapes if scraper else 0, figures["p50"], figures["p99"], cpu * 1000 / max(responses, 1),
    )


def scrape_cpu_ms(base: str, pid: int, headers: dict[str, str], scrapes: int = 200) -> float:
    """Server CPU time per scrape, over back-to-back scrapes of an otherwise idle server: what one scrape costs,
    whatever else the machine is doing."""
    with httpx.Client(timeout=30, headers=headers) as client:
        client.get(f"{base}/metrics").raise_for_status()
        before = cpu_seconds(pid)
        for _ in range(scrapes):
            client.get(f"{base}/metrics").raise_for_status()
        return (cpu_seconds(pid) - before) * 1000 / scrapes


def arms(rounds: int) -> list[str]:
    """ABBA ABBA …: each arm as often first as second, so drift in the machine's load cancels."""
    pair = ["plain", "scraped"]
    return [arm for round_ in range(rounds) for arm in (pair if round_ % 2 == 0 else pair[::-1])]


def summary(runs: list[Run]) -> list[str]:
    """Median rate per arm, their ratio, each adjacent pair's ratio, and the counts check."""
    rates = {arm: [run.rate for run in runs if run.arm == arm] for arm in ("plain", "scraped")}
    medians = {arm: statistics.median(values) for arm, values in rates.items()}
    pairs = [b.rate / a.rate if a.arm == "plain" else a.rate / b.rate for a, b in zip(runs[::2], runs[1::2])]
    cpu = {arm: statistics.median(run.cpu_ms for run in runs if run.arm == arm) for arm in ("plain", "scraped")}
    equal = sum(run.counts_equal for run in runs)
    return [
        f"median req/s: plain {medians['plain']:.1f}, scraped {medians['scraped']:.1f}; "
        f"scraped / plain = {medians['scraped'] / medians['plain']:.3f} (cost {1 - medians['scraped'] / medians['plain']:+.1%})",
        f"per-pair ratios: {', '.join(f'{ratio:.3f}' for ratio in pairs)}",
        f"median server CPU per request: plain {cpu['plain']:.3f} ms, scraped {cpu['scraped']:.3f} ms "
        f"(scraped / plain = {cpu['scraped'] / cpu['plain']:.3f})",
        f"request counts: /metrics equals wrk per status in {equal} of {len(runs)} runs",
    ]
