"""How library cost grows with size: catalogue + index build, cold and warm query time.

    python bench/library_scale.py --sizes 1000 10000 100000

Rows are written through the real catalogue (`put_tracks`, 1,000 per transaction) with
clustered unit vectors (no audio is decoded: that cost is per track, see index_throughput.py);
then the ANN index is built and saved (`sync_index`), and `muser search` is timed as a fresh
process (cold: imports + loading the index) and in-process (warm: one query on a loaded index).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import fake_library  # noqa: E402
from common import machine, time_command  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(machine())
    print("| tracks | catalogue + index build | index file | cold `muser search` (median) | warm query |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            started = time.perf_counter()
            fake_library(home, n)
            build = time.perf_counter() - started
            from muser_model.library.store import Library

            lib = Library.open("bench")
            index_mb = sum(p.stat().st_size for p in lib.root.glob("index-*.hnsw")) / 1e6
            ann, _ = lib.ann()
            ids, vectors = lib.catalogue.vectors(lib.model_hash, [1, 2, 3, 4, 5])
            warm = []
            for v in vectors:
                t = time.perf_counter()
                ann.query(v, 10)
                warm.append((time.perf_counter() - t) * 1000)
            lib.close()
            cmd = [sys.executable, "-m", "muser_cli.main", "search", "calm piano", "--library", "bench"]
            env = {"MUSER_HOME": str(home)}
            time_command(cmd, 1, env)
            cold = statistics.median(time_command(cmd, args.runs, env))
            print(f"| {n:,} | {build:.1f} s | {index_mb:.1f} MB | {cold:.2f} s | {statistics.median(warm):.2f} ms |",
                  flush=True)
            os.environ.pop("MUSER_HOME", None)


if __name__ == "__main__":
    main()
