"""What every corpus builder shares: the clip format, rendering MIDI, excerpting, tagged clip
files, atomic CSV/JSON writes, summaries, caption words and key names.

Clips are `CLIP_S` seconds of mono audio at `SR` Hz. A file that a reader may open (captions.csv,
summary.json, teacher_scores.npz) is written to a temporary file beside it and renamed, so an
interrupted build never leaves half a file.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from muser_model.core.files import new_file_mode

SR = 16000
CLIP_S = 12.0
SOUNDFONTS = {
    "FluidR3_GM": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "TimGM6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
}
# a 12 s clip renders in under 1 s on an idle core; some music21 MIDIs render for hours (a late
# end event), so a render is cut off here
RENDER_TIMEOUT_S = 45
PEAK = 0.99  # clips are scaled down to this peak when they would clip


# ----------------------------------------------------------------------------- atomic writes


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(binary file)` on a temporary file beside `path`, then rename it to `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), new_file_mode())  # mkstemp made it 0600
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def copy_atomic(src: Path, dst: Path) -> Path:
    """Copy `src` to `dst` through a temporary file and a rename (the folder is created)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dst, lambda fh: fh.write(Path(src).read_bytes()))
    return dst


DATA_DIR = Path(__file__).resolve().parent / "data"  # the committed derived data (manifests, scores)


def export_manifest(out: Path, manifest_name: str, data_dir: Path = DATA_DIR) -> Path:
    """OUT/captions.csv copied to DATA_DIR/<manifest_name> (atomically), for committing."""
    return copy_atomic(Path(out) / "captions.csv", Path(data_dir) / manifest_name)


def corpus_parser(doc: str | None, jobs: int = 2) -> argparse.ArgumentParser:
    """The command line every corpus builder starts from: --out, --seed and --jobs (its usage
    names the command as `muser-train` ran it)."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=jobs)
    return ap


def keep_in(results: dict[str, dict], cache: Path, key: str) -> Callable[[dict], None]:
    """keep(result): results[result[key]] = result, and the result appended to the JSON-lines
    `cache` (what makes a re-run skip finished jobs)."""

    def keep(result: dict) -> None:
        results[result[key]] = result
        with open(cache, "a") as fh:
            fh.write(json.dumps(result) + "\n")

    return keep


def run_jobs(work: Callable[[dict], dict], todo: Sequence[dict], jobs: int, keep: Callable[[dict], None],
             key: str, progress: Callable[[int, int], None] | None = None) -> None:
    """`work(job)` for every job of `todo`, in `jobs` processes when more than one, each result
    handed to `keep` as it comes. A worker that crashes fails its one job: keep gets
    {key: job[key], "excerpts": [], "skipped": [], "error": "worker: ..."}. `progress(n, total)`
    every 20 jobs and at the end (processes only)."""
    if jobs <= 1:
        for job in todo:
            keep(work(job))
        return
    with cf.ProcessPoolExecutor(max_workers=jobs) as ex:
        futures = {ex.submit(work, job): job[key] for job in todo}
        for n, future in enumerate(cf.as_completed(futures), 1):
            try:
                keep(future.result())
            except Exception as e:  # noqa: BLE001 - a crashed worker fails one job
                keep({key: futures[future], "excerpts": [], "skipped": [],
                      "error": f"worker: {type(e).__name__}: {e}"[:300]})
            if progress and (n % 20 == 0 or n == len(futures)):
                progress(n, len(futures))


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict], extra: str = "raise") -> None:
    """Rows as a CSV with a header, atomically. `extra="ignore"` drops keys not in `columns`."""
    def write(fh: IO[bytes]) -> None:
        with open(fh.fileno(), "w", newline="", encoding="utf-8", closefd=False) as text:
            writer = csv.DictWriter(text, fieldnames=list(columns), extrasaction=extra)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    """(columns, rows) of a CSV with a header."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_json(path: Path, value: object) -> None:
    """`value` as indented JSON, atomically."""
    atomic_write(path, lambda fh: fh.write(json.dumps(value, indent=2).encode("utf-8")))


# ----------------------------------------------------------------------------- summaries


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """How a builder was run, for its summary.json."""
    return " ".join([sys.executable, "-m", module, *(sys.argv[1:] if argv is None else argv)])


def count_by(rows: Iterable[dict], key: str) -> dict[str, int]:
    """{value of `key`: number of rows}, sorted by value; an absent value counts as ""."""
    counts: dict[str, int] = {}
    for row in rows:
        value = row.get(key) or ""
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def split_counts(rows: Iterable[dict], key: str, splits: Sequence[str] = ("train", "test")) -> dict:
    """{value of `key`: {split: number of rows}} (the per-genre / per-source table)."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row[key], dict.fromkeys(splits, 0))[row["split"]] += 1
    return counts


def hours(n_clips: int) -> float:
    return round(n_clips * CLIP_S / 3600, 3)


def finish(out: Path, summary: dict, shown: Sequence[str]) -> None:
    """Write OUT/summary.json and print the `shown` keys of it on stdout."""
    write_json(out / "summary.json", summary)
    print(json.dumps({k: summary[k] for k in shown if k in summary}, indent=1))


# ----------------------------------------------------------------------------- audio


def fluid_render(mid: Path, wav: Path, sf2: str) -> np.ndarray:
    """A MIDI file rendered through `sf2` (FluidSynth), or through a TiMidity++ patch set when
    `sf2` names its `.cfg` (freepats: `corpus.freepats`): mono float32 at SR. (n,)"""
    if str(sf2).endswith(".cfg"):
        cmd = ["timidity", "-c", str(sf2), "-Ow", "-A70", "-s", str(SR), "-o", str(wav), str(mid)]
        tool = "timidity"
    else:
        cmd = ["fluidsynth", "-ni", "-g", "0.7", "-F", str(wav), "-r", str(SR), str(sf2), str(mid)]
        tool = "fluidsynth"
    r = subprocess.run(cmd, capture_output=True, timeout=RENDER_TIMEOUT_S)
    if r.returncode != 0 or not Path(wav).exists():
        raise RuntimeError(f"{tool} failed: " + r.stderr.decode(errors="ignore")[-300:])
    import soundfile as sf

    y, sr = sf.read(str(wav), dtype="float32", always_2d=True)  # (n, channels)
    y = y.mean(axis=1)
    if sr != SR:
        import soxr

        y = soxr.resample(y, sr, SR)
    return y


def excerpt(y: np.ndarray, start_s: float, rng=None, latest_start: float | None = None) -> np.ndarray:
    """CLIP_S seconds of `y` from `start_s`, or from a start drawn by `rng` in
    [start_s, latest_start] (kept inside the signal). Shorter when `y` ends first."""
    n = int(CLIP_S * SR)
    s = int(start_s * SR)
    if latest_start is not None and rng is not None:
        hi = max(start_s, min(latest_start, len(y) / SR - CLIP_S))
        s = int(rng.uniform(start_s, hi) * SR)
    return y[s:s + n]


def write_ogg(y: np.ndarray, path: Path, title: str, artist: str, genre: str) -> None:
    """A clip as Ogg Vorbis at SR with title/artist/genre tags, scaled to PEAK if it would clip."""
    import soundfile as sf
    from mutagen.oggvorbis import OggVorbis

    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > PEAK:
        y = y * (PEAK / peak)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, SR, format="OGG", subtype="VORBIS")
    tags = OggVorbis(str(path))
    tags["title"], tags["artist"], tags["genre"] = title, artist, genre
    tags.save()


# ----------------------------------------------------------------------------- caption words


def with_article(phrase: str, cap: bool = False) -> str:
    """"an organ piece", "a jazz waltz", "an 8-bit tune"; "An ..." with `cap`."""
    phrase = phrase.strip()
    article = "an" if phrase[:1].lower() in "aeiou8" else "a"
    return f"{article.capitalize() if cap else article} {phrase}"


def join_words(words: Iterable[str]) -> str:
    """"a", "a and b", "a, b and c" ("" for none)."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# ----------------------------------------------------------------------------- keys


def score_key(score, unknown: str = "") -> str:
    """A music21 score's analysed key as "Eb major" (flats as b), or `unknown`."""
    try:
        k = score.analyze("key")
    except Exception:  # noqa: BLE001 - music21 raises many kinds on odd scores
        return unknown
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"
