"""Peak memory (RSS of muser and its decoder processes, summed) for long files.

    python bench/memory.py [--minutes 10 120]

For each length: one 16 kHz FLAC of music-like audio, then `muser index` on it (fresh library)
and `muser tag` on it, each in a fresh process; the process tree's RSS is sampled every 50 ms.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, music_like  # noqa: E402


def tree_rss_mb(root: int) -> float:
    total, pids = 0, [root]
    while pids:
        pid = pids.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS")))
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except (OSError, StopIteration):
            continue
    return total / 1024


def peak_rss(cmd: list[str], env: dict) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(0.05)
    if proc.returncode:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    return peak, time.perf_counter() - started


def write_long(path: Path, minutes: float, sr: int = 16_000) -> None:
    with sf.SoundFile(path, "w", sr, 1, format="FLAC") as f:
        for i in range(int(minutes)):
            f.write(music_like(60.0, sr, seed=i))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[10, 120])
    args = ap.parse_args()
    print(machine())
    print("| file length | muser index peak RSS | time | muser tag peak RSS | time |")
    print("|---|---|---|---|---|")
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory() as tmp:
            music = Path(tmp) / "music"
            music.mkdir()
            path = music / "long.flac"
            write_long(path, minutes)
            env = {**os.environ, "MUSER_HOME": str(Path(tmp) / "home")}
            muser = [sys.executable, "-m", "muser_cli.main"]
            index_mb, index_s = peak_rss(muser + ["index", str(music)], env)
            tag_mb, tag_s = peak_rss(muser + ["tag", str(path)], env)
            print(f"| {minutes:.0f} min | {index_mb:.0f} MB | {index_s:.0f} s | {tag_mb:.0f} MB | {tag_s:.0f} s |",
                  flush=True)


if __name__ == "__main__":
    main()
