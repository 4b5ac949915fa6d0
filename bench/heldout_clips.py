"""Cut the held-out real-music evaluation clips (corpus v3 test split) and a reference sample.

    python bench/heldout_clips.py [--out /work/evaldata/clips] [--reference 600] [--seed 0]
                                  [--packages P ...] [--jobs 2]

The audio never enters git: this rebuilds it from the Debian packages named in the committed
manifest (train/corpus/data/v3_manifest.csv, one row per 12 s excerpt):

- OUT/test/<id>       every `split == test` excerpt (ids end in .flac, as the teacher scores'
                      ids in v3_teacher_scores.npz, so a clip maps to its teacher probabilities);
- OUT/reference/<id>  a seeded sample of `split == train` excerpts, stratified by package
                      (proportional, at least 3 per package that has 3);
- OUT/clips.csv       id, split, package, file (relative to OUT);
- OUT/summary.json    counts, packages, download volume and time, failures with reasons.

Per package: `apt-get download` into OUT/debs, then only the files the excerpts need are taken
out of the .deb (`dpkg-deb --fsys-tarfile | tar -x`, the same files `dpkg -x` would write, without
the gigabytes of game data around them) into OUT/root/PKG; members of zip/pk3 archives
(`ARCHIVE.pk3:member`) are read with zipfile into OUT/members/PKG/ARCHIVE/member. Each excerpt is
cut with ffmpeg (`-ss offset -t duration`, 16 kHz mono FLAC; tracker modules decode through
ffmpeg's libopenmpt demuxer from their start, as the corpus builder decoded them, since it seeks
only to a pattern row). Every step skips what is on disk and every write is a temporary
file renamed into place, so an interrupted run resumes where it stopped. Failures (a package that
does not download, a file missing from its package, a cut that ffmpeg refuses) are named in the
summary and never stop the run. Run `apt-get update` once before the first run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "train" / "corpus" / "data" / "v3_manifest.csv"
SR = 16000
MODULE_EXT = (".mod", ".xm", ".it", ".s3m")
NICE = ["nice", "-n", "10"]


def read_manifest(path: Path = MANIFEST) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sample_reference(rows: list[dict], n: int, seed: int, floor: int = 3) -> list[dict]:
    """N train rows spread over packages: each package's share proportional to its train rows,
    at least FLOOR (or all it has); the shares are trimmed from the largest to sum to N."""
    by_pkg: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["split"] == "train":
            by_pkg[r["package"]].append(r)
    total = sum(len(v) for v in by_pkg.values())
    quota = {p: max(min(floor, len(v)), round(n * len(v) / total)) for p, v in by_pkg.items()}
    while sum(quota.values()) > n:   # trim the package with the most spare above its floor
        p = max(quota, key=lambda k: (quota[k] - min(floor, len(by_pkg[k])), k))
        quota[p] -= 1
    while sum(quota.values()) < n:   # give to the package with the most rows left unsampled
        p = max(quota, key=lambda k: (len(by_pkg[k]) - quota[k], k))
        quota[p] += 1
    rng = random.Random(seed)
    picked = []
    for p in sorted(by_pkg):
        picked += rng.sample(sorted(by_pkg[p], key=lambda r: r["id"]), quota[p])
    return picked


def atomic_tmp(dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    return dst.with_name(f".{dst.name}.tmp{os.getpid()}{dst.suffix}")


def download(package: str, debs: Path) -> Path:
    """OUT/debs/PKG_*.deb, fetched with `apt-get download` unless it is there (apt-get writes
    a .deb only when complete, under its own partial name until then)."""
    debs.mkdir(parents=True, exist_ok=True)
    have = sorted(debs.glob(f"{package}_*.deb"))
    if have:
        return have[-1]
    r = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
    have = sorted(debs.glob(f"{package}_*.deb"))
    if r.returncode != 0 or not have:
        reason = (r.stderr.strip().splitlines() or ["no .deb written"])[-1]
        raise RuntimeError(f"{package}: apt-get download failed ({reason[:200]})")
    return have[-1]


def extract_files(deb: Path, root: Path, files: set[str]) -> dict[str, str]:
    """Take FILES (paths inside the package) out of DEB into ROOT, those not there yet.
    Returns {file: reason} for the files the package does not hold."""
    missing = sorted(f for f in files if not (root / f).is_file())
    if not missing:
        return {}
    tmp = root.with_name(f".{root.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tar = subprocess.Popen([*NICE, "dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        r = subprocess.run(["tar", "-x", "-C", str(tmp), "-f", "-", *(f"./{f}" for f in missing)],
                           stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        tar.wait()
        failed = {}
        for f in missing:
            src = tmp / f
            if src.is_file():   # tar finished writing it: move it in whole
                (root / f).parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, root / f)
            else:
                failed[f] = f"not in {deb.name} ({r.stderr.strip()[-160:] or 'tar wrote nothing'})"
        return failed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_members(archive: Path, members: dict[str, Path]) -> dict[str, str]:
    """Each member of a zip/pk3 ARCHIVE at its path in MEMBERS (kept when already there at full
    size; the archive is opened once). Returns {member: reason} for those that failed."""
    failed = {}
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as e:
        return {m: f"{archive.name}: not a readable zip/pk3 ({e})"[:240] for m in members}
    with zf:
        for member, dest in members.items():
            try:
                info = zf.getinfo(member)
                if dest.is_file() and dest.stat().st_size == info.file_size:
                    continue
                tmp = atomic_tmp(dest)
                with zf.open(info) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)
                os.replace(tmp, dest)
            except (OSError, KeyError, zipfile.BadZipFile) as e:
                failed[member] = f"{archive.name}:{member}: {e}"[:240]
    return failed


def source_path(out: Path, package: str, source_file: str) -> Path:
    """Where the excerpt's source file lies once extracted ("A.pk3:m" -> the member's copy)."""
    outer, _, member = source_file.partition(":")
    if member:
        return out / "members" / package / Path(outer).name / member
    return out / "root" / package / outer


def cut(src: Path, dst: Path, offset: float, duration: float) -> str:
    """DST: DURATION s of SRC from OFFSET, 16 kHz mono FLAC. Returns '' or the reason it failed."""
    if dst.is_file():
        return ""
    tmp = atomic_tmp(dst)
    span = ["-ss", f"{offset}", "-t", f"{duration}"]
    # libopenmpt seeks a module by pattern row (up to ~0.1 s off the corpus builder's cut, which
    # decoded from the start): for modules, decode from the start and drop the lead-in instead
    where = ["-i", str(src), *span] if src.suffix.lower() in MODULE_EXT else [*span, "-i", str(src)]
    r = subprocess.run([*NICE, "ffmpeg", "-nostdin", "-v", "error", "-y", *where, "-ac", "1",
                        "-ar", str(SR), "-sample_fmt", "s16", "-f", "flac", str(tmp)],
                       capture_output=True, text=True)
    try:
        frames = sf.info(tmp).frames if r.returncode == 0 else 0
    except (OSError, RuntimeError):
        frames = 0
    if frames < 0.95 * duration * SR:
        tmp.unlink(missing_ok=True)
        why = (r.stderr.strip().splitlines() or [f"{frames / SR:.1f} s of audio, wanted {duration}"])[-1]
        return f"ffmpeg: {why[:200]}"
    os.replace(tmp, dst)
    return ""


def prepare_package(package: str, rows: list[dict], out: Path) -> dict[str, str]:
    """Download PKG and put every source its ROWS need on disk. Returns {id: reason} failures."""
    deb = download(package, out / "debs")
    outer = {r["source_file"].partition(":")[0] for r in rows}
    missing = extract_files(deb, out / "root" / package, outer)
    failed = {r["id"]: missing[o] for r in rows if (o := r["source_file"].partition(":")[0]) in missing}
    by_archive: dict[str, dict[str, Path]] = defaultdict(dict)
    for r in rows:
        o, _, member = r["source_file"].partition(":")
        if member and r["id"] not in failed:
            by_archive[o][member] = source_path(out, package, r["source_file"])
    for o, members in by_archive.items():
        bad = extract_members(out / "root" / package / o, members)
        for r in rows:
            ro, _, m = r["source_file"].partition(":")
            if ro == o and m in bad:
                failed[r["id"]] = bad[m]
    return failed


def clip_path(out: Path, row: dict) -> Path:
    return out / ("test" if row["split"] == "test" else "reference") / row["id"]


def build(out: Path, rows: list[dict], jobs: int) -> dict:
    by_pkg: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_pkg[r["package"]].append(r)
    failures: dict[str, str] = {}
    failed_packages: dict[str, str] = {}
    started = time.time()
    with ThreadPoolExecutor(jobs) as pool:
        for i, pkg in enumerate(sorted(by_pkg), 1):
            todo = [r for r in by_pkg[pkg] if not clip_path(out, r).is_file()]
            print(f"[{i}/{len(by_pkg)}] {pkg}: {len(todo)} of {len(by_pkg[pkg])} clips to cut",
                  file=sys.stderr, flush=True)
            if not todo:
                continue
            try:
                failed = prepare_package(pkg, todo, out)
            except (RuntimeError, OSError) as e:
                failed_packages[pkg] = str(e)[:240]
                failures.update({r["id"]: f"package failed: {e}"[:240] for r in todo})
                continue
            failures.update(failed)
            ready = [r for r in todo if r["id"] not in failed]
            reasons = pool.map(lambda r: cut(source_path(out, pkg, r["source_file"]), clip_path(out, r),
                                             float(r["offset_s"]), float(r["duration_s"])), ready)
            failures.update({r["id"]: why for r, why in zip(ready, reasons) if why})
    return {"failures": failures, "failed_packages": failed_packages,
            "seconds": round(time.time() - started, 1)}


def write_outputs(out: Path, rows: list[dict], run: dict, args: argparse.Namespace,
                  wanted: Counter) -> dict:
    done = [r for r in rows if clip_path(out, r).is_file()]
    by_id = {r["id"]: r for r in rows}
    tmp = atomic_tmp(out / "clips.csv")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "split", "package", "file"])
        for r in done:
            rel = clip_path(out, r).relative_to(out)
            w.writerow([r["id"], rel.parts[0], r["package"], rel.as_posix()])
    os.replace(tmp, out / "clips.csv")
    debs = list((out / "debs").glob("*.deb"))
    summary = {
        "manifest": str(MANIFEST.relative_to(ROOT)), "seed": args.seed,
        "packages_requested": args.packages or "all",
        "wanted": dict(wanted),
        "cut": dict(Counter(clip_path(out, r).relative_to(out).parts[0] for r in done)),
        "packages": len({r["package"] for r in done}),
        "test_clips_per_package": dict(Counter(r["package"] for r in done if r["split"] == "test")),
        "debs_gb": round(sum(d.stat().st_size for d in debs) / 1e9, 2),
        "run_seconds": run["seconds"],
        "failed_packages": run["failed_packages"],
        "failures": {k: v for k, v in sorted(run["failures"].items()) if not clip_path(out, by_id[k]).is_file()},
    }
    tmp = atomic_tmp(out / "summary.json")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    os.replace(tmp, out / "summary.json")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/work/evaldata/clips"))
    ap.add_argument("--reference", type=int, default=600, help="train excerpts to sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--packages", nargs="*", help="only these packages (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel ffmpeg cuts")
    args = ap.parse_args(argv)
    manifest = read_manifest()
    rows = [r for r in manifest if r["split"] == "test"] + sample_reference(manifest, args.reference, args.seed)
    if args.packages:
        rows = [r for r in rows if r["package"] in set(args.packages)]
    wanted = Counter("test" if r["split"] == "test" else "reference" for r in rows)
    run = build(args.out, rows, args.jobs)
    summary = write_outputs(args.out, rows, run, args, wanted)
    print(json.dumps({k: summary[k] for k in ("wanted", "cut", "packages", "failed_packages")}))
    print(f"{len(summary['failures'])} failures; see {args.out / 'summary.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
