"""Corpus v3: the real music of the allow-listed Debian game packages, cut into 12 s excerpts.

    python -m muser_train.corpus.realmusic --out corpus/v3 [--packages P ...] [--jobs 2]

Sources: exactly the "New for corpus v3" packages of /work/shared/corpus-sources.md (PACKAGES).
Per package, one idempotent, resumable pipeline (every step skips work already on disk; every
file a reader opens is written to a temporary file and renamed):

1. download  `apt-get download PKG` into OUT/debs (skipped when a PKG_*.deb is there);
2. extract   `dpkg -x` into OUT/root/PKG (a `.done` marker makes it resumable), then the music
             members of zip/pk3 archives (ufoai-music 0music.pk3 `music/`, 0ad-data public.zip
             `audio/music/` without `audio/ambient/`, OpenArena pk3s) into OUT/members/PKG;
3. discover  music files (ogg, mp3, flac, wav, opus and the tracker modules mod/xm/it/s3m) by the
             package's globs (MUSIC_GLOBS) or, for the others, by the allow-list's measuring rule:
             a file in a folder named like music (MUSIC_DIR) of at least MIN_MUSIC_DIR_S, or
             elsewhere of at least MIN_ELSEWHERE_S;
4. decode    with ffmpeg (its libopenmpt demuxer plays the tracker modules once, no loop) to
             16 kHz mono;
5. dedup     loops: a track whose opening LOOP_PROBE_S seconds come back (correlation of
             log-spectral frames >= LOOP_MIN_CORR, no earlier than LOOP_MIN_S, and the rest
             of the track repeats it one period later to the end) is cut where they
             come back, so one pass of each loop is kept (Planet Blupi's ten 600 s loops);
             duplicates: a track whose decoded audio hashes like one already kept (the same tune
             shipped by two packages, or twice in one) is dropped and named in the summary;
6. split     by whole track, seeded (corpus.splits), 15 % of each package's pieces held out; variants of
             one piece (the same name in two folders or formats, "_fast"/"_sd" suffixes) share
             it, and a dropped duplicate has no split at all, so nothing leaks;
7. excerpts  as corpus v2 (games.py): evenly spaced 12 s FLAC excerpts, silent ones skipped,
             captions from the tags, the game and the measured mood.

A package that cannot be downloaded or extracted, an archive that does not open and a file that
does not decode are named, skipped and listed in OUT/summary.json (`failed_packages`,
`decode_errors`); they never stop the build. Outputs: OUT/captions.csv (the manifest: `id`,
`path`, package, source file, offset, duration, split, licence, captions) and OUT/summary.json
(hours per package, failures, dedup decisions).

Committed derived data (no audio): train/corpus/data/v3_manifest.csv (`--export` copies the
manifest there) and train/corpus/data/v3_teacher_scores.npz (float16 MTT-50 + MSD-50 ensemble
probabilities per clip id, from `python -m muser_train.teachers.score_manifest`). A new machine
runs this one command; at the end the committed scores are copied to OUT/ensemble_scores.npz and
the summary says how many of the rebuilt clips they cover, so the teachers need not run again.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muser_train.corpus import common
from muser_train.corpus.common import CLIP_S, DATA_DIR, SR, command_line, hours, write_csv, write_json
from muser_train.corpus.debpkg import Licensing, PackageError, download, extract_deb, find_deb, licensing
from muser_train.corpus.excerpts import LOOP_MIN_CORR, LOOP_MIN_S, LOOP_PROBE_S, excerpt_job
from muser_train.corpus.manifest import CACHE_NAME, REALMUSIC_COLUMNS, read_cache
from muser_train.corpus.splits import assign_splits, groups_by
from muser_train.corpus.tracks import Track, clean_person, make_rows, pretty_stem, read_tags, safe_name

AUDIO_EXT = (".ogg", ".mp3", ".flac", ".wav", ".opus")
MODULE_EXT = (".mod", ".xm", ".it", ".s3m")
ARCHIVE_EXT = (".zip", ".pk3")
MUSIC_DIR = re.compile(r"(?i)^(music|musics|musik|mus|songs|soundtrack|tunes|bgm)$")
MIN_MUSIC_DIR_S = 20.0
MIN_ELSEWHERE_S = 90.0
MIN_AUDIO_BYTES = 40_000  # 20 s of Ogg Vorbis at its lowest usual bitrate (16 kb/s)

# package -> (game, kind of game)
GAMES: dict[str, tuple[str, str]] = {
    "ufoai-music": ("UFO: Alien Invasion", "squad-based tactical strategy game"),
    "0ad-data": ("0 A.D.", "historical real-time strategy game"),
    "planetblupi-music-ogg": ("Planet Blupi", "puzzle and strategy game"),
    "naev-data": ("Naev", "2D space trading and combat game"),
    "supertux-data": ("SuperTux", "jump'n'run platform game"),
    "berusky2-data": ("Berusky 2", "3D logic puzzle game"),
    "colobot-common-sounds": ("Colobot", "real-time strategy game about programming robots"),
    "marsshooter-data": ("M.A.R.S.", "2D space shooter"),
    "freedroidrpg-data": ("FreedroidRPG", "science-fiction role-playing game"),
    "unknown-horizons": ("Unknown Horizons", "colony-building strategy game"),
    "flare-game": ("Flare", "fantasy action role-playing game"),
    "megaglest-data": ("MegaGlest", "3D real-time strategy game"),
    "redeclipse-data": ("Red Eclipse", "first-person arena shooter"),
    "trackballs-data": ("Trackballs", "marble labyrinth game"),
    "pushover-data": ("Pushover", "domino puzzle game"),
    "pekka-kana-2-data": ("Pekka Kana 2", "jump'n'run platform game"),
    "starfighter-data": ("Project: Starfighter", "2D space shoot'em up"),
    "warmux-data": ("Warmux", "turn-based artillery game"),
    "wizznic-data": ("Wizznic", "block-matching puzzle game"),
    "openclonk-data": ("OpenClonk", "action and strategy platform game"),
    "fillets-ng-data": ("Fish Fillets NG", "underwater puzzle game"),
    "freedroid-data": ("Freedroid", "Paradroid-like arcade shooter"),
    "pingus-data": ("Pingus", "Lemmings-like puzzle game"),
    "davegnukem-data": ("Dave Gnukem", "retro 2D platform shooter"),
    "rafkill-data": ("Rafkill", "vertical space shoot'em up"),
    "enigma-data": ("Enigma", "marble puzzle game"),
    "freecol": ("FreeCol", "turn-based colonization strategy game"),
    "btanks-data": ("Battle Tanks", "top-down tank action game"),
    "zaz-data": ("Zaz", "ball-matching puzzle arcade game"),
    "ardentryst": ("Ardentryst", "action role-playing platform game"),
    "open-invaders-data": ("Open Invaders", "Space Invaders clone"),
    "freedink-data": ("FreeDink", "adventure role-playing game"),
    "wordwarvi-sound": ("Word War vi", "retro side-scrolling shoot'em up"),
    "bomberclone-data": ("BomberClone", "Bomberman-like arcade game"),
    "tuxmath-data": ("Tux, of Math Command", "educational math arcade game"),
    "lordsawar-data": ("LordsAWar!", "turn-based fantasy strategy game"),
    "adonthell-data": ("Adonthell", "2D role-playing game"),
    "xmoto-data": ("X-Moto", "2D motocross platform game"),
    "openarena-088-data": ("OpenArena", "first-person arena shooter"),
    "tuxtype-data": ("Tux Typing", "educational typing game"),
    "miceamaze": ("MiceAmaze", "mice-and-arrows puzzle game"),
    "freeorion-data": ("FreeOrion", "turn-based space empire strategy game"),
    "noiz2sa-data": ("Noiz2sa", "abstract shoot'em up"),
    "neverball-common": ("Neverball", "3D ball-tilting game"),
    "hex-a-hop-data": ("Hex-a-hop", "hexagonal tile puzzle game"),
    "lincity-ng-data": ("LinCity-NG", "city-building simulation game"),
    "amoebax-data": ("Amoebax", "Puyo Puyo-like puzzle game"),
    "pinball-table-gnu-data": ("Emilia Pinball (GNU table)", "pinball game"),
    "extremetuxracer-data": ("Extreme Tux Racer", "3D downhill racing game"),
    "gl-117-data": ("GL-117", "flight action game"),
    "plee-the-bear-data": ("Plee the Bear", "2D platform game"),
    "pathological": ("Pathological", "marble-routing puzzle game"),
    "pinball-data": ("Emilia Pinball", "pinball game"),
    "powermanga-data": ("Powermanga", "2D space shoot'em up"),
    "gigalomania-data": ("Gigalomania", "god-game real-time strategy"),
    "ri-li-data": ("Ri-li", "toy-train arcade game"),
    "tomatoes-data": ("I Have No Tomatoes", "top-down arcade maze game"),
    "torcs-data": ("TORCS", "3D car racing simulator"),
}
PACKAGES = tuple(GAMES)

# package -> globs of music paths (relative to the extracted tree); others use the generic rule
MUSIC_GLOBS: dict[str, list[str]] = {
    "planetblupi-music-ogg": ["usr/share/planetblupi/music/*"],
    "naev-data": ["*dat/snd/music/*"],
    "supertux-data": ["*games/supertux2/music/*"],
    "berusky2-data": ["*games/berusky2/music/*"],
    "colobot-common-sounds": ["*games/colobot/music/*"],
    "marsshooter-data": ["*audio/music/*"],
    "freedroidrpg-data": ["*data/sound/music/*"],
    "unknown-horizons": ["*content/audio/music/*"],
    "flare-game": ["*mods/*/music/*"],
    "megaglest-data": ["*techs/*/factions/*/music/*", "*data/core/menu/music/*"],
    "redeclipse-data": ["*data/sounds/music/*"],
}
# package -> archive member globs (None: the generic music-folder rule on member paths)
ARCHIVE_MEMBERS: dict[str, dict] = {
    "ufoai-music": {"archives": ["*0music.pk3"], "members": ["music/*"], "skip": []},
    "0ad-data": {"archives": ["*public.zip"], "members": ["audio/music/*"],
                 "skip": ["audio/ambient/*"]},
    "openarena-088-data": {"archives": ["*.pk3"], "members": ["music/*"], "skip": []},
}
SKIP_GLOBS = ["*/ambient/*", "*/ambience/*", "*/sfx/*", "*/voice*/*", "*/speech/*"]


def log(msg: str) -> None:
    print(f"[realmusic] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# download and extraction
# ----------------------------------------------------------------------------------------------
def member_is_music(name: str, members: list[str] | None, skip: list[str]) -> bool:
    low = name.lower()
    if not low.endswith(AUDIO_EXT + MODULE_EXT) or any(fnmatch.fnmatch(low, s) for s in skip):
        return False
    if members is None:
        return any(MUSIC_DIR.match(part) for part in Path(name).parts[:-1])
    return any(fnmatch.fnmatch(low, m.lower()) for m in members)


def extract_members(archive: Path, dest: Path, members: list[str] | None,
                    skip: list[str]) -> list[Path]:
    """The music members of a zip/pk3 archive, written under DEST (each atomically; members
    already there are kept). Raises PackageError when the archive does not open."""
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as e:
        raise PackageError(f"{archive.name}: not a readable zip/pk3 archive ({e})") from None
    out = []
    with zf:
        for info in zf.infolist():
            if info.is_dir() or not member_is_music(info.filename, members, skip):
                continue
            target = dest / archive.stem / info.filename
            if not (target.is_file() and target.stat().st_size == info.file_size):
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                with zf.open(info) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, target)
            out.append(target)
    return out


# ----------------------------------------------------------------------------------------------
# discovery
# ----------------------------------------------------------------------------------------------
def probe_duration(path: Path) -> float:
    """Seconds of audio by muser's prober (libsndfile, else ffprobe: modules through libopenmpt);
    0.0 when it cannot tell."""
    from muser_model.core import audio
    from muser_model.core.errors import AudioError

    try:
        return audio.probe(path).duration_s
    except (AudioError, OSError, ValueError, subprocess.SubprocessError):
        return 0.0


class ProbeCache:
    """Durations by (path, size, mtime), kept in OUT/probe.json so a rerun probes nothing.
    An audio file (not a module) under MIN_AUDIO_BYTES is too small to hold 20 s of music and
    is not probed (0.0 s): games ship thousands of tiny sound effects."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.known = json.loads(path.read_text())
        except (OSError, ValueError):
            self.known = {}

    def duration(self, file: Path) -> float:
        st = file.stat()
        if st.st_size < MIN_AUDIO_BYTES and file.suffix.lower() in AUDIO_EXT:
            return 0.0
        key = f"{file}|{st.st_size}|{st.st_mtime_ns}"
        if key not in self.known:
            self.known[key] = probe_duration(file)
        return self.known[key]

    def save(self) -> None:
        write_json(self.path, self.known)


def in_music_dir(rel: str) -> bool:
    return any(MUSIC_DIR.match(part) for part in Path(rel).parts[:-1])


def candidate_files(package: str, root: Path) -> list[str]:
    """Paths (relative to ROOT) of the audio files that may be music."""
    globs = MUSIC_GLOBS.get(package)
    rels = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or not rel.lower().endswith(AUDIO_EXT + MODULE_EXT):
            continue
        if any(fnmatch.fnmatch("/" + rel.lower(), s) for s in SKIP_GLOBS):
            continue
        if globs is not None and not any(fnmatch.fnmatch(rel, g) for g in globs):
            continue
        rels.append(rel)
    return rels


def min_duration(rel: str, globbed: bool) -> float:
    return MIN_MUSIC_DIR_S if globbed or in_music_dir(rel) else MIN_ELSEWHERE_S


# ----------------------------------------------------------------------------------------------
# decoding, loops and duplicates
# ----------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------
# tracks, splits and excerpts
# ----------------------------------------------------------------------------------------------
@dataclass
class Source:
    package: str
    path: Path          # absolute path of the file (in OUT/root or OUT/members)
    source_file: str    # as shipped: the path in the package, "ARCHIVE.pk3:member" for members
    duration_s: float = 0.0


VARIANT = re.compile(r"(?i)([_-](fast|f|sd|loop|intro|hq|lq))+$")


def piece_group(package: str, source_file: str) -> str:
    """The split unit: one piece of music whatever its folder, format or variant suffix."""
    stem = Path(source_file.split(":")[-1]).stem.lower()
    return f"{package}/{VARIANT.sub('', stem) or stem}"


PLAIN_DIRS = re.compile(r"(?i)^(sound|sounds|snd|audio|data|music|musics|mus|songs)$")


def track_name(src: Source) -> str:
    """The file's stem, after its folder when that says more than "music" ("boss/theme")."""
    path = Path(src.source_file.split(":")[-1])
    parent = path.parent.name
    name = path.stem if not parent or PLAIN_DIRS.match(parent) else f"{parent}_{path.stem}"
    return safe_name(name)[-90:]


# ----------------------------------------------------------------------------------------------
# per package
# ----------------------------------------------------------------------------------------------
@dataclass
class PackageResult:
    sources: list[Source] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)   # files too short / archives unreadable
    failure: str = ""


def collect_package(package: str, out: Path, fetch: bool = True) -> PackageResult:
    """Download, extract and list the music of one package; a failure is returned, not raised."""
    res = PackageResult()
    try:
        deb = download(package, out / "debs") if fetch else find_deb(out / "debs", package)
        if deb is None:
            raise PackageError(f"{package}: no .deb in {out / 'debs'}")
        root = extract_deb(deb, out / "root" / package)
    except PackageError as e:
        res.failure = str(e)
        return res
    globbed = package in MUSIC_GLOBS
    for rel in candidate_files(package, root):
        res.sources.append(Source(package, root / rel, rel))
    spec = ARCHIVE_MEMBERS.get(package)
    for arch in sorted(p for p in root.rglob("*") if p.suffix.lower() in ARCHIVE_EXT):
        rel_arch = arch.relative_to(root).as_posix()
        if spec and not any(fnmatch.fnmatch(rel_arch, a) for a in spec["archives"]):
            continue
        members = spec["members"] if spec else None
        try:
            got = extract_members(arch, out / "members" / package, members,
                                  spec["skip"] if spec else [])
        except PackageError as e:
            res.skipped.append({"path": rel_arch, "reason": str(e)})
            continue
        base = out / "members" / package / arch.stem
        for p in got:
            res.sources.append(Source(package, p, f"{rel_arch}:{p.relative_to(base).as_posix()}"))
        globbed = globbed or bool(spec)
    kept = []
    probes = ProbeCache(out / "probe.json")
    for s in res.sources:
        s.duration_s = probes.duration(s.path)
        need = min_duration(s.source_file.split(":")[-1], globbed or ":" in s.source_file)
        if s.duration_s < need:
            res.skipped.append({"path": s.source_file,
                                "reason": f"short ({s.duration_s:.1f} s < {need:.0f} s)"})
        else:
            kept.append(s)
    res.sources = kept
    probes.save()
    return res


# ----------------------------------------------------------------------------------------------
# the build
# ----------------------------------------------------------------------------------------------
def game_facts(package: str) -> dict:
    """The caption facts (tracks.captions) of a package's game: its name and kind."""
    game, kind = GAMES.get(package, (package, "game"))
    return {"game": game, "short": package, "kind": kind}


def to_track(s: Source, lic: Licensing) -> Track:
    tags = read_tags(str(s.path)) if s.path.suffix.lower() in AUDIO_EXT else {}
    licence, holder = lic.lookup("/" + s.source_file.split(":")[0])
    title = tags.get("title", "")
    return Track(
        package=s.package, paths=[str(s.path)], track=f"{s.package}/{track_name(s)}",
        group=piece_group(s.package, s.source_file),
        title=title or pretty_stem(Path(s.source_file.split(":")[-1]).stem),
        title_from="tag" if title else "filename",
        artist=clean_person(tags.get("artist") or tags.get("composer") or holder or ""),
        album=tags.get("album", ""), tag_genre=tags.get("genre", ""),
        licence=licence, copyright=holder, duration_s=s.duration_s)


def build(out: str | Path, packages=PACKAGES, seed: int = 0, jobs: int = 2,
          fetch: bool = True) -> dict:
    """Build OUT/captions.csv and OUT/summary.json for PACKAGES (see the module docstring)."""
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    failed, skipped, sources = {}, [], []
    for pkg in packages:
        got = collect_package(pkg, out, fetch=fetch)
        if got.failure:
            failed[pkg] = got.failure
            log(f"skipped package: {got.failure}")
            continue
        skipped += [dict(x, package=pkg) for x in got.skipped]
        sources += got.sources
        log(f"{pkg}: {len(got.sources)} music files")
    names: dict[str, int] = {}
    jobs_ = []
    for s in sources:
        name = track_name(s)
        names[f"{s.package}/{name}"] = names.get(f"{s.package}/{name}", 0) + 1
        if names[f"{s.package}/{name}"] > 1:
            name = f"{name}_{names[f'{s.package}/{name}']}"
        jobs_.append({"out": str(out), "paths": [str(s.path)], "package": s.package, "name": name,
                      "key": f"{s.package}:{s.source_file}", "trim_loop": True})
    cache = out / CACHE_NAME
    results = read_cache(out)
    todo = [j for j in jobs_ if j["key"] not in results]
    log(f"{len(jobs_)} music files, {len(jobs_) - len(todo)} already done, {len(todo)} to decode")

    keep = common.keep_in(results, cache, "key")
    common.run_jobs(excerpt_job, todo, jobs, keep, "key",
                    lambda n, total: log(f"{n}/{total} files decoded"))
    return assemble(out, sources, jobs_, results, failed, skipped, seed, t0)


def assemble(out: Path, sources: list[Source], jobs_: list[dict], results: dict, failed: dict,
             skipped: list[dict], seed: int, t0: float) -> dict:
    """Dedup by content, split by piece, caption the excerpts and write the manifest/summary."""
    licences = {p: licensing(p, out / "root" / p / "usr/share/doc") for p in {s.package for s in sources}}
    by_hash: dict[str, str] = {}
    duplicates, errors, kept = [], [], []
    for s, j in zip(sources, jobs_):
        r = results[j["key"]]
        if r["error"]:
            errors.append({"package": s.package, "file": s.source_file, "error": r["error"]})
            continue
        if r["hash"] in by_hash:
            duplicates.append({"file": j["key"], "same_as": by_hash[r["hash"]]})
            continue
        by_hash[r["hash"]] = j["key"]
        kept.append((s, j, r))
    tracks = [(to_track(s, licences[s.package]), s, j, r) for s, j, r in kept]
    splits = assign_splits(groups_by([t for t, *_ in tracks], "package"), seed)
    rows, per_pkg = [], {}
    for t, s, j, r in tracks:
        t.track = f"{s.package}/{j['name']}"
        split = splits[t.group]
        new = make_rows(t, r, split, seed, game_facts(s.package))
        for row in new:
            row.update(id=row["path"], source="realmusic", source_file=s.source_file,
                       duration_s=CLIP_S, loop_s=r["loop_s"] or "")
        rows += new
        pk = per_pkg.setdefault(s.package, {"game": GAMES.get(s.package, (s.package,))[0],
                                            "files": 0, "track_hours": 0.0, "kept_hours": 0.0,
                                            "excerpts": 0, "train": 0, "test": 0, "loops_cut": 0,
                                            "licences": {}, "test_pieces": []})
        pk["files"] += 1
        pk["track_hours"] += r["decoded_s"] / 3600
        pk["kept_hours"] += r["kept_s"] / 3600
        pk["excerpts"] += len(new)
        pk[split] += len(new)
        pk["loops_cut"] += r["loop_s"] is not None
        pk["licences"][t.licence] = pk["licences"].get(t.licence, 0) + 1
        if split == "test" and t.group not in pk["test_pieces"]:
            pk["test_pieces"].append(t.group)
    for pk in per_pkg.values():
        pk["track_hours"] = round(pk["track_hours"], 3)
        pk["kept_hours"] = round(pk["kept_hours"], 3)
        pk["excerpt_hours"] = hours(pk["excerpts"])
    rows.sort(key=lambda x: x["path"])
    write_csv(out / "captions.csv", REALMUSIC_COLUMNS, rows)
    summary = {
        "command": command_line("muser_train.corpus.realmusic", None), "seed": seed,
        "packages": per_pkg, "failed_packages": failed, "decode_errors": errors,
        "duplicates_dropped": duplicates, "files_skipped": skipped,
        "files": len(tracks), "excerpts": len(rows), "hours": hours(len(rows)),
        "source_hours": round(sum(p["track_hours"] for p in per_pkg.values()), 3),
        "kept_hours": round(sum(p["kept_hours"] for p in per_pkg.values()), 3),
        "split_totals": {x: sum(1 for r in rows if r["split"] == x) for x in ("train", "test")},
        "clip_seconds": CLIP_S, "sample_rate": SR, "format": "FLAC 16-bit mono",
        "loop_rule": {"probe_s": LOOP_PROBE_S, "min_s": LOOP_MIN_S, "min_corr": LOOP_MIN_CORR},
        "elapsed_s": round(time.time() - t0, 1),
    }
    write_json(out / "summary.json", summary)
    return summary


MANIFEST_NAME = "v3_manifest.csv"
SCORES_NAME = "v3_teacher_scores.npz"
INSTALLED_SCORES = "ensemble_scores.npz"  # not pseudo_tags' teacher_scores.npz (another format)


def install_scores(out: Path, data_dir: Path = DATA_DIR) -> dict:
    """Copy the committed teacher scores to OUT/ensemble_scores.npz (so the teachers need not run
    again) and say how many of OUT's clips they cover."""
    src, dst = Path(data_dir) / SCORES_NAME, Path(out) / INSTALLED_SCORES
    if not src.is_file():
        return {"installed": False, "reason": f"{src} not found"}
    from muser_train.corpus.common import copy_atomic, read_csv
    if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
        copy_atomic(src, dst)
    with np.load(dst, allow_pickle=False) as z:
        have = set(z["ids"].tolist())
    _, rows = read_csv(Path(out) / "captions.csv")
    covered = sum(r["id"] in have for r in rows)
    return {"installed": True, "clips": len(rows), "covered": covered,
            "missing": len(rows) - covered}


def export_manifest(out: Path, data_dir: Path = DATA_DIR) -> Path:
    """OUT/captions.csv copied to DATA_DIR/v3_manifest.csv (atomically), for committing."""
    return common.export_manifest(out, MANIFEST_NAME, data_dir)


def main(argv=None) -> int:
    ap = common.corpus_parser(__doc__)
    ap.add_argument("--packages", nargs="*", default=list(PACKAGES), choices=list(PACKAGES))
    ap.add_argument("--no-download", action="store_true",
                    help="use only the .deb files already in OUT/debs")
    ap.add_argument("--export", action="store_true",
                    help=f"copy OUT/captions.csv to train/corpus/data/{MANIFEST_NAME}")
    args = ap.parse_args(argv)
    s = build(args.out, args.packages, seed=args.seed, jobs=args.jobs, fetch=not args.no_download)
    if args.export:
        log(f"manifest exported to {export_manifest(Path(args.out))}")
    s["teacher_scores"] = install_scores(Path(args.out))
    write_json(Path(args.out) / "summary.json", s)
    print(json.dumps({k: s[k] for k in ("files", "excerpts", "hours", "split_totals",
                                        "failed_packages", "teacher_scores", "elapsed_s")}, indent=1))
    return 0 if s["files"] else 1


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
