"""Cold `muser search` on a 10,000-track library, grounded and free-text queries, against a
baseline install (another checkout's interpreter) in the same run.

    python bench/search_grounded.py [--tracks 10000] [--runs 7] [--baseline /path/to/venv/bin/python]

The library is written once, under the shipped checkpoint's hash, with clustered unit vectors
(cold_start.fake_library); both interpreters search the same catalogue, so only the query path
differs. Runs alternate between the interpreters, so load from elsewhere hits both alike; each
run is a fresh process, timed as wall and CPU (user + system) seconds, medians reported.
A grounded query ("melancholic piano") scores every track with the heads (exact), a free-text
one ("rainy night") goes through the ANN index as before.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import fake_library, time_cpu  # noqa: E402
from common import machine  # noqa: E402

QUERIES = ("melancholic piano", "sad", "rainy night")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--baseline", default="", help="python of another install to time alike")
    args = ap.parse_args()
    print(machine())
    pythons = {"this": sys.executable, **({"baseline": args.baseline} if args.baseline else {})}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        fake_library(home, args.tracks)
        os.environ["MUSER_HOME"] = str(home)
        print(f"| query | install | wall (median) | CPU (median) |\n|---|---|---|---|")
        for query in QUERIES:
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in pythons}
            for _ in range(args.runs):
                for name, python in pythons.items():
                    times[name].append(time_cpu([python, "-m", "muser_cli.main", "search", query,
                                                 "--library", "bench"]))
            for name, runs in times.items():
                wall = statistics.median(w for w, _ in runs)
                cpu = statistics.median(c for _, c in runs)
                print(f"| {query} | {name} | {wall:.2f} s | {cpu:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
