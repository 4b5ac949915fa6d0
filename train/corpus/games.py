"""Cut the Ogg Vorbis music of seven Debian game packages into captioned 12 s excerpts.

Usage (from the repository root):
    sudo apt-get install wesnoth-1.16-music fretsonfire-songs-muldjord hyperrogue-music \\
        supertuxkart-data hedgewars-data widelands-data frozen-bubble-data
    python -m muser_train.corpus.games --out corpus/games --seed 0 --jobs 2

Sources: exactly the packages in GAMES. Files come from `dpkg -L`; only music folders are used
(sound effects, voices, critters and cut-scene audio are skipped) and tracks shorter than 30 s
(jingles, victory/defeat stings) are dropped. Frets on Fire songs ship as stems (song.ogg +
guitar.ogg): they are mixed back into one track.

Per track: Vorbis tags (title, artist/composer, album, genre, description/comment), the
package's Debian description, the game, and the licence from /usr/share/doc/PKG/copyright
(DEP-5 stanzas matched per file; otherwise the licence named in the text). Up to
MAX_EXCERPTS evenly spaced excerpts of 12 s, 16 kHz mono, 16-bit FLAC; silent excerpts are
skipped. Each excerpt gets several captions: facts from the tags and the game, style words
only where the tags, title, file name or package description contain them (no instrument is
guessed), and mood/tempo captions measured on the excerpt by muser_train.corpus.mood.

genre: a GTZAN genre only when the Vorbis GENRE tag names it ("Death Metal" -> metal,
"Romantic Classical" -> classical); otherwise "other". tags: left empty (game clips have no
complete MTT labels; the measured MTT words slow/fast/loud/quiet/soft are in `mood_tags`).
split: by track, seeded; variants of one piece (SuperTuxKart's "_fast" last-lap versions,
Hedgewars' "_sd" sudden-death versions) share the split. About 15% of each package's tracks
are held out.
"""
from __future__ import annotations

import configparser
import fnmatch
import json
import re
import sys
import time
from pathlib import Path

from muser_train.corpus import common
from muser_train.corpus.common import CLIP_S, SR, command_line, hours, write_csv, write_json
from muser_train.corpus.debpkg import Licensing, dpkg_files, licensing, package_description, package_version
from muser_train.corpus.excerpts import EXCERPT_EVERY_S, MAX_EXCERPTS, excerpt_job
from muser_train.corpus.manifest import CACHE_NAME, GAMES_COLUMNS, read_cache
from muser_train.corpus.splits import assign_splits, groups_by
from muser_train.corpus.tracks import Track, clean_person, gtzan_genre, make_rows, pretty_stem, read_tags, safe_name

MIN_TRACK_S = 30.0

# package -> game facts. `kind` paraphrases the Debian description (of the game's main
# package where the data package says nothing); `music` are path patterns of music files.
GAMES: dict[str, dict] = {
    "wesnoth-1.16-music": {
        "game": "The Battle for Wesnoth", "short": "Wesnoth",
        "kind": "turn-based fantasy strategy game", "music": ["*/data/core/music/*.ogg"]},
    "fretsonfire-songs-muldjord": {
        "game": "Frets on Fire", "short": "Frets on Fire",
        "kind": "guitar rhythm game", "music": ["*/songs/*/*.ogg"],
        # debian/copyright: "composed by El Senator of the danish metal band Muldjord"
        "extra": ["a song by the Danish metal band Muldjord"]},
    "hyperrogue-music": {
        "game": "HyperRogue", "short": "HyperRogue",
        "kind": "roguelike game on the hyperbolic plane", "music": ["*/hyperrogue/music/*.ogg"]},
    "supertuxkart-data": {
        "game": "SuperTuxKart", "short": "SuperTuxKart", "kind": "3D kart racing game",
        "music": ["*/data/music/*.ogg", "*/data/tracks/*/*.ogg"],
        # track folders also hold ambience and cut-scene speech: keep only long files there
        "skip": ["*/introcutscene*/*", "*steam*", "*sheep*", "*speech*"], "min_s": {"/tracks/": 60}},
    "hedgewars-data": {
        "game": "Hedgewars", "short": "Hedgewars", "kind": "turn-based artillery game",
        "music": ["*/Data/Music/*.ogg"]},
    "widelands-data": {
        "game": "Widelands", "short": "Widelands", "kind": "fantasy real-time strategy game",
        "music": ["*/data/music/*.ogg"]},
    "frozen-bubble-data": {
        "game": "Frozen Bubble", "short": "Frozen Bubble", "kind": "puzzle arcade game",
        "music": ["*/frozen-bubble/snd/*zik*.ogg"]},
}
PACKAGES = tuple(GAMES)

STEM_NAMES = {"song", "guitar", "rhythm", "drums", "bass", "vocals", "keys"}
VARIANT_SUFFIX = re.compile(r"(?i)[_-](fast|f|sd)$")


# ----------------------------------------------------------------------------------------------
# discovery and metadata
# ----------------------------------------------------------------------------------------------
def is_music(package: str, path: str) -> bool:
    info = GAMES.get(package)
    if info is None:
        return True
    if not any(fnmatch.fnmatch(path, p) for p in info["music"]):
        return False
    return not any(fnmatch.fnmatch(path.lower(), p.lower()) for p in info.get("skip", []))


def discover(packages=PACKAGES) -> list[tuple[str, str]]:
    """(package, ogg path) for every music file of the installed packages."""
    return [(p, f) for p in packages for f in dpkg_files(p) if is_music(p, f)]


def build_tracks(items: list[tuple[str, str]],
                 licences: dict[str, Licensing] | None = None) -> tuple[list[Track], list[dict]]:
    """Group files into tracks (stems of one song -> one track), read tags; drop short ones."""
    import mutagen
    licences = licences if licences is not None else {}
    by_dir: dict[tuple[str, str], list[str]] = {}
    singles: list[tuple[str, str]] = []
    for pkg, path in items:
        if Path(path).stem.lower() in STEM_NAMES:
            by_dir.setdefault((pkg, str(Path(path).parent)), []).append(path)
        else:
            singles.append((pkg, path))
    units = [(pkg, [p]) for pkg, p in singles]
    units += [(pkg, sorted(ps, key=lambda p: Path(p).stem != "song")) for (pkg, _), ps
              in by_dir.items()]
    tracks, skipped = [], []
    for pkg, paths in sorted(units, key=lambda u: (u[0], u[1][0])):
        lic = licences.get(pkg) or Licensing()
        durs = []
        for p in paths:
            try:
                durs.append(float(mutagen.File(p).info.length))
            except Exception as e:  # noqa: BLE001
                skipped.append({"path": p, "reason": f"unreadable: {type(e).__name__}: {e}"[:200]})
        if not durs:
            continue
        dur = max(durs)
        info = GAMES.get(pkg, {})
        min_s = MIN_TRACK_S
        for frag, s in info.get("min_s", {}).items():
            if frag in paths[0]:
                min_s = max(min_s, s)
        if dur < min_s:
            skipped.append({"path": paths[0], "reason": f"short ({dur:.1f} s < {min_s:.0f} s)"})
            continue
        stemmed = len(paths) > 1 or Path(paths[0]).stem.lower() in STEM_NAMES
        name = Path(paths[0]).parent.name if stemmed else Path(paths[0]).stem
        tags = read_tags(paths[0])
        ini = Path(paths[0]).parent / "song.ini"
        if stemmed and ini.is_file():
            cp = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                cp.read(ini, encoding="utf-8")
                if cp.has_section("song"):
                    tags["title"] = cp["song"].get("name", tags.get("title", ""))
                    tags["artist"] = cp["song"].get("artist", tags.get("artist", ""))
            except (configparser.Error, UnicodeDecodeError):
                pass
        title = re.sub(r"\s*\((fof|frets on fire)[^)]*\)\s*$", "", tags.get("title", ""),
                       flags=re.I).strip()
        licence, holder = lic.lookup(paths[0])
        artist = clean_person(tags.get("artist") or tags.get("composer") or "")
        desc = tags.get("description") or tags.get("comment") or tags.get("comments") or ""
        if re.search(r"https?://|www\.|@|cc-by|licen[cs]e", desc, re.I) or len(desc) < 12:
            desc = ""
        tracks.append(Track(
            package=pkg, paths=paths, track=f"{pkg}/{name}",
            group=f"{pkg}/{VARIANT_SUFFIX.sub('', name).lower()}",
            title=title, artist=artist or clean_person(holder),
            album=tags.get("album", "") if tags.get("album", "").lower().strip("?. ") not in
            ("", "non", "none", "unknown", "untitled") else "",
            tag_genre=tags.get("genre", ""), description=desc,
            licence=tags.get("license") and licence == "unknown" and tags["license"] or licence,
            copyright=holder, duration_s=dur))
    # a title shared by three or more files of one package is a copy-pasted tag
    count: dict[tuple[str, str], int] = {}
    for t in tracks:
        count[(t.package, t.title.lower())] = count.get((t.package, t.title.lower()), 0) + 1
    for t in tracks:
        if not t.title or count[(t.package, t.title.lower())] > 2:
            t.title, t.title_from = pretty_stem(t.track.split("/", 1)[1]), "filename"
            if t.title.isdigit():  # "ingame_14" says nothing
                t.title = ""
    return tracks, skipped


def build(out: str | Path, items: list[tuple[str, str]], seed: int = 0, jobs: int = 2,
          descriptions: dict[str, str] | None = None, log=print) -> dict:
    """Write OUT/captions.csv and OUT/summary.json from (package, ogg path) items."""
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pkgs = sorted({p for p, _ in items})
    licences = {p: licensing(p) for p in pkgs}
    descriptions = descriptions if descriptions is not None else {
        p: package_description(p) for p in pkgs}
    tracks, skipped = build_tracks(items, licences)
    splits = assign_splits(groups_by(tracks, "package"), seed)
    log(f"{len(items)} music files -> {len(tracks)} tracks ({len(skipped)} files skipped)")
    jobs_ = [{"out": str(out), "paths": t.paths, "key": t.track, "package": t.package,
              "name": safe_name(t.track.split("/", 1)[1]), "limit_peak": True} for t in tracks]
    # resumable: a track whose measured excerpts are all on disk is not redone; a failed one is
    cache_file = out / CACHE_NAME
    results = read_cache(out, retry_errors=True)
    todo = [j for j in jobs_ if j["key"] not in results]
    log(f"{len(jobs_) - len(todo)} tracks already done, {len(todo)} to cut")

    keep = common.keep_in(results, cache_file, "key")
    common.run_jobs(excerpt_job, todo, jobs, keep, "key",
                    lambda n, total: log(f"{n}/{total} tracks, {time.time() - t0:.0f}s"))
    rows, errors, silent = [], [], 0
    per_pkg: dict[str, dict] = {}
    for t in tracks:
        res = results[t.track]
        split = splits[t.group]
        pk = per_pkg.setdefault(t.package, {
            "game": GAMES.get(t.package, {}).get("game", t.package),
            "version": package_version(t.package), "tracks": 0, "excerpts": 0,
            "train": 0, "test": 0, "track_hours": 0.0, "excerpt_hours": 0.0, "licences": {},
            "genres": {}, "test_tracks": []})
        if res["error"]:
            errors.append({"track": t.track, "paths": t.paths, "error": res["error"]})
            log(f"error: {t.track}: {res['error']}")
            continue
        silent += len(res["skipped"])
        r = make_rows(t, res, split, seed, GAMES.get(t.package))
        rows += r
        pk["tracks"] += 1
        pk["excerpts"] += len(r)
        pk[split] += len(r)
        pk["track_hours"] += t.duration_s / 3600
        pk["excerpt_hours"] += len(r) * CLIP_S / 3600
        pk["licences"][t.licence] = pk["licences"].get(t.licence, 0) + 1
        g = gtzan_genre(t.tag_genre)
        pk["genres"][g] = pk["genres"].get(g, 0) + len(r)
        if split == "test":
            pk["test_tracks"].append(t.track)
    for pk in per_pkg.values():
        pk["track_hours"] = round(pk["track_hours"], 3)
        pk["excerpt_hours"] = round(pk["excerpt_hours"], 3)
    rows.sort(key=lambda r: r["path"])
    write_csv(out / "captions.csv", GAMES_COLUMNS, rows)
    licence_totals: dict[str, int] = {}
    for r in rows:
        licence_totals[r["licence"]] = licence_totals.get(r["licence"], 0) + 1
    summary = {
        "command": command_line("muser_train.corpus.games", None),
        "seed": seed, "packages": per_pkg,
        "tracks": sum(p["tracks"] for p in per_pkg.values()),
        "excerpts": len(rows),
        "split_totals": {s: sum(1 for r in rows if r["split"] == s) for s in ("train", "test")},
        "genres": {g: sum(1 for r in rows if r["genre"] == g) for g in
                   sorted({r["genre"] for r in rows})},
        "hours": hours(len(rows)),
        "source_hours": round(sum(p["track_hours"] for p in per_pkg.values()), 3),
        "licences_by_excerpt": licence_totals,
        "clip_seconds": CLIP_S, "sample_rate": SR, "format": "FLAC 16-bit mono",
        "excerpt_every_s": EXCERPT_EVERY_S, "max_excerpts_per_track": MAX_EXCERPTS,
        "silent_excerpts_skipped": silent, "files_skipped": skipped, "decode_errors": errors,
        "package_descriptions": {p: d.split("\n")[0] for p, d in descriptions.items()},
        "elapsed_s": round(time.time() - t0, 1),
    }
    write_json(out / "summary.json", summary)
    return summary


def main(argv=None):
    ap = common.corpus_parser(__doc__)
    ap.add_argument("--packages", nargs="*", default=list(PACKAGES), choices=list(PACKAGES))
    args = ap.parse_args(argv)
    items = discover(args.packages)
    missing = [p for p in args.packages if not dpkg_files(p)]
    if missing:
        print(f"not installed (skipped): {' '.join(missing)}", file=sys.stderr)
    if not items:
        print("no music found: install the packages listed in --help", file=sys.stderr)
        return 2
    s = build(args.out, items, seed=args.seed, jobs=args.jobs)
    print(json.dumps({k: s[k] for k in ("tracks", "excerpts", "split_totals", "genres", "hours",
                                        "licences_by_excerpt", "elapsed_s")}, indent=1))
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
