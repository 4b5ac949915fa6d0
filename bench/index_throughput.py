"""Indexing throughput against the decode-only ceiling, on the same files, in one run.

    python bench/index_throughput.py [--files 40] [--seconds 30] [--workers 2] [--engines numpy,torch]

Writes N mp3 files of S seconds, then measures
  1. decode-only: soundfile + soxr to 16 kHz mono in a pool of `workers` processes (the ceiling);
  2. `muser index` on the same folder (fresh library), as a user runs it.
Reports audio-seconds per wall-second for both and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_mp3  # noqa: E402


def decode_seconds(path: str) -> float:
    from muser_model import audio

    return sum(len(b) for b in audio.iter_blocks(path)) / audio.SAMPLE_RATE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--engines", default="numpy,torch", help="muser index --engine values to run, in turn.")
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp) / "music"
        music.mkdir()
        files = [str(write_mp3(music / f"t{i:03d}.mp3", args.seconds, seed=i)) for i in range(args.files)]
        started = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            audio_s = sum(pool.map(decode_seconds, files))
        decode_rate = audio_s / (time.perf_counter() - started)
        print(f"{args.files} files x {args.seconds:.0f} s = {audio_s / 60:.1f} min of audio")
        print(f"decode only (soundfile+soxr, {args.workers} processes): {decode_rate:.0f}x real time")
        for engine in args.engines.split(","):
            env = {**os.environ, "MUSER_HOME": str(Path(tmp) / f"home-{engine}")}
            started = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "muser_cli.main", "index", str(music), "--json",
                                  "--workers", str(args.workers), "--device", args.device, "--engine", engine],
                                 env=env, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - started
            summary = json.loads(out.stdout)
            index_rate = summary["audio_seconds"] / wall
            print(f"muser index --engine {summary['engine']} (wall, incl. start-up): {index_rate:.0f}x real time "
                  f"= {index_rate / decode_rate:.0%} of the decode ceiling; "
                  f"in-scan rate {summary['audio_seconds'] / summary['seconds']:.0f}x")

if __name__ == "__main__":
    main()
