"""Indexing throughput against the decode-only ceiling, on the same files, in one run.

    python bench/index_throughput.py [--files 60] [--seconds 30] [--workers 2] [--engines numpy,torch]
    python bench/index_throughput.py --folder ~/Music [--max-windows 64,24] [--runs 5]
    python bench/index_throughput.py --device cuda --engines torch,numpy --batch-sizes auto,16 --workers 15 --files 600

Without --folder it writes N mp3 files of S seconds (30 s: FMA-like clips); with --folder it
uses the real files under it, as they are. Each run measures, in turn,
  1. decode-only: soundfile + soxr to 16 kHz mono in a pool of `workers` processes (the ceiling);
  2. `muser index` on the same files (a fresh library each time), as a user runs it.
and reports audio-seconds per wall-second for both and their ratio, medians over --runs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_mp3  # noqa: E402


def decode_seconds(path: str) -> float:
    from muser_model.core import audio
    return sum(len(b) for b in audio.iter_blocks(path)) / audio.SAMPLE_RATE


def decode_rate(files: list[str], workers: int) -> tuple[float, float]:
    """(audio seconds, audio seconds per wall second) of decoding every file."""
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        audio_s = sum(pool.map(decode_seconds, files))
    return audio_s, audio_s / (time.perf_counter() - started)


def write_clips(music: Path, n: int, seconds: float, workers: int) -> None:
    music.mkdir()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(write_mp3, [music / f"t{i:04d}.mp3" for i in range(n)], [seconds] * n, range(n)))


def index_run(music: Path, home: Path, args: argparse.Namespace, config: tuple[str, int, str]) -> dict:
    engine, max_windows, batch_size = config
    device = "cpu" if engine == "numpy" else args.device  # the numpy engine runs on the CPUs only
    env = {**os.environ, "MUSER_HOME": str(home)}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "muser_cli.main", "index", str(music), "--json",
                          "--workers", str(args.workers), "--device", device, "--engine", engine,
                          "--max-windows", str(max_windows)]
                         + ([] if batch_size == "auto" else ["--batch-size", batch_size]),
                         env=env, capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    summary["wall"] = time.perf_counter() - started
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--folder", type=Path, default=None, help="Real music to index instead of generated mp3s.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--engines", default="numpy,torch", help="muser index --engine values to run, in turn.")
    ap.add_argument("--max-windows", default="64", help="muser index --max-windows values to run, in turn.")
    ap.add_argument("--batch-sizes", default="auto",
                    help="muser index --batch-size values for the torch engine (auto: muser's default).")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from muser_model.core.files import walk_audio

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        music = args.folder
        if music is None:
            music = Path(tmp) / "music"
            write_clips(music, args.files, args.seconds, os.cpu_count() or 1)
        files = [str(e.path) for e in walk_audio([music])]
        configs = [(e, int(m), b) for e in args.engines.split(",") for m in args.max_windows.split(",")
                   for b in (args.batch_sizes.split(",") if e == "torch" else ["auto"])]
        decode, index = [], {c: [] for c in configs}
        for run in range(args.runs):
            audio_s, rate = decode_rate(files, args.workers)
            decode.append(rate)
            for config in configs:
                summary = index_run(music, Path(tmp) / f"home-{run}-{'-'.join(map(str, config))}", args, config)
                index[config].append((summary["audio_seconds"] / summary["wall"],
                                                     summary["audio_seconds"] / summary["seconds"],
                                                     summary["engine"], summary["failed"]))
        ceiling = statistics.median(decode)
        print(f"{len(files)} files, {audio_s / 3600:.2f} h of audio; medians of {args.runs} runs")
        print(f"decode only (soundfile+soxr, {args.workers} processes): {ceiling:.0f}x real time "
              f"(min {min(decode):.0f}, max {max(decode):.0f})")
        for (engine, max_windows, batch_size), rows in index.items():
            wall = statistics.median(r[0] for r in rows)
            device = "cpu" if engine == "numpy" else args.device
            print(f"muser index --engine {rows[0][2]} --device {device} --max-windows {max_windows} "
                  f"--batch-size {batch_size} (wall, incl. start-up): "
                  f"{wall:.0f}x real time (min {min(r[0] for r in rows):.0f}, max {max(r[0] for r in rows):.0f}) "
                  f"= {wall / ceiling:.0%} of the decode ceiling; in-scan rate "
                  f"{statistics.median(r[1] for r in rows):.0f}x; failed files {rows[0][3]}")


if __name__ == "__main__":
    main()
