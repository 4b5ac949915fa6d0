"""`muser serve` under load, on a 10,000-track library, against 127.0.0.1.

    python bench/web_load.py [--tracks 10000] [--clients 20] [--seconds 30] [--searches 1000]

The library is written once under the shipped checkpoint's hash with clustered unit vectors and
their real predictions (cold_start.fake_library). The server runs as `muser serve` in its own
process. Reported:
- start: seconds from launch until the address is announced, then the first search's latency;
- warm latency per query (sequential, one client): median and 95th percentile;
- memory: the server's RSS after warming up and after `--searches` more searches (50 distinct
  queries, filters and limits in turn);
- map: seconds from the first /api/map request until the layout is served, and its size;
- load: `--clients` threads, each on its own keep-alive connection, searching back to back for
  `--seconds`: requests/s, latency percentiles, and every non-200 answer counted as an error.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import fake_library  # noqa: E402
from common import machine  # noqa: E402

WORDS = ["melancholic piano", "sad", "rainy night", "energetic rock with drums", "calm ambient", "happy pop",
         "dark electronic", "female vocals", "no drums", "slow guitar", "jazz", "classical strings",
         "upbeat dance", "heavy metal", "acoustic folk", "lofi beats", "party", "sleep", "road trip", "epic"]


def queries(n: int) -> list[dict]:
    """`n` search requests: the words, some with a filter or another limit."""
    rng = random.Random(0)
    out = []
    for i in range(n):
        params = {"q": WORDS[i % len(WORDS)], "limit": rng.choice([20, 50, 100])}
        if i % 5 == 1:
            params["energy"] = ">0.5"
        if i % 7 == 2:
            params["q"] += f" {i}"  # a new text: the text embedding is not cached anywhere
        out.append(params)
    return out


def start_server(env: dict) -> tuple[subprocess.Popen, str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "muser_cli.main", "serve", "--no-browser", "--port", "0",
                             "--library", "bench"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
                            text=True)
    for line in proc.stderr:
        found = re.search(r"http://([\d.]+):(\d+)/", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain
            return proc, f"{found.group(1)}:{found.group(2)}", time.perf_counter() - started
    raise RuntimeError("the server did not start")


def search(conn: http.client.HTTPConnection, params: dict) -> tuple[int, float]:
    started = time.perf_counter()
    conn.request("GET", "/api/search?" + urlencode(params))
    response = conn.getresponse()
    response.read()
    return response.status, time.perf_counter() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def load(address: str, clients: int, seconds: float) -> dict:
    host, port = address.split(":")
    latencies: list[float] = []
    errors: list[int] = []
    stop = time.perf_counter() + seconds
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        mine, bad = [], []
        for params in _cycle(queries(200), k):
            if time.perf_counter() >= stop:
                break
            status, took = search(conn, params)
            mine.append(took)
            if status != 200:
                bad.append(status)
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {"requests": len(latencies), "errors": len(errors), "rps": len(latencies) / wall,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99)}


def map_timing(conn: http.client.HTTPConnection) -> str:
    started = time.perf_counter()
    while True:
        conn.request("GET", "/api/map", headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        body = response.read()
        if response.status == 200:
            break
        time.sleep(0.2)
    took = time.perf_counter() - started
    conn.request("GET", "/api/map")
    plain = conn.getresponse().read()
    return (f"map: served {took:.1f} s after the first request; {len(plain) / 2**20:.1f} MiB of JSON, "
            f"{len(body) / 2**20:.2f} MiB gzipped")


def _cycle(items: list, offset: int):
    while True:
        for i in range(len(items)):
            yield items[(i + offset * 7) % len(items)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--searches", type=int, default=1000)
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        fake_library(home, args.tracks)
        env = {**os.environ, "MUSER_HOME": str(home), "NO_COLOR": "1"}
        proc, address, start_s = start_server(env)
        try:
            host, port = address.split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            status, first = search(conn, {"q": "melancholic piano", "limit": 50})
            assert status == 200
            print(f"start: listening after {start_s:.2f} s; first search {first * 1000:.0f} ms")
            print("\n| query (limit 50) | median | p95 |\n|---|---|---|")
            for q in ("melancholic piano", "sad", "rainy night", "energetic rock with drums"):
                times = [search(conn, {"q": q, "limit": 50})[1] for _ in range(30)]
                print(f"| {q} | {statistics.median(times) * 1000:.0f} ms | {percentile(times, 95) * 1000:.0f} ms |")
            before = rss_mib(proc.pid)
            statuses = [search(conn, p)[0] for p in queries(args.searches)]
            after = rss_mib(proc.pid)
            print(f"\nmemory: RSS {before:.0f} MiB after warm-up, {after:.0f} MiB after {args.searches} more "
                  f"searches ({after - before:+.0f} MiB); non-200 answers: {sum(s != 200 for s in statuses)}")
            print("\n" + map_timing(conn))
            result = load(address, args.clients, args.seconds)
            print(f"\nload: {args.clients} clients x {args.seconds:.0f} s: {result['requests']} searches, "
                  f"{result['rps']:.1f}/s, errors {result['errors']}; latency p50 {result['p50'] * 1000:.0f} ms, "
                  f"p95 {result['p95'] * 1000:.0f} ms, p99 {result['p99'] * 1000:.0f} ms; "
                  f"RSS after {rss_mib(proc.pid):.0f} MiB")
            print(json.dumps({"start_s": start_s, "first_ms": first * 1000, **result}))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
