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
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from muser_train.corpus import common, mood
from muser_train.corpus.common import CLIP_S, SR, command_line, hours, with_article, write_csv, write_json
from muser_train.corpus.debpkg import Licensing, dpkg_files, licensing, package_description, package_version
from muser_train.corpus.excerpts import EXCERPT_EVERY_S, MAX_EXCERPTS, excerpt_job
from muser_train.corpus.manifest import CACHE_NAME, GAMES_COLUMNS, read_cache
from muser_train.corpus.splits import assign_splits, groups_by

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

# GENRE tag -> GTZAN genre (first match wins)
GTZAN_FROM_TAG = (
    (r"metal", "metal"), (r"hip[ -]?hop|\brap\b", "hiphop"), (r"\brock\b", "rock"),
    (r"classical", "classical"), (r"\bjazz", "jazz"), (r"\bblues", "blues"),
    (r"\bcountry\b", "country"), (r"\bdisco\b", "disco"), (r"\breggae\b", "reggae"),
    (r"\bpop\b", "pop"),
)
# Style words (never guessed): genre and instrument words only from the GENRE, ALBUM and
# DESCRIPTION tags; a few unambiguous style words also from the title or file name ("Rock" is a
# Hedgewars map theme, "Recorder 2" need not be a recorder).
TAG_STYLE_WORDS = ("orchestral", "symphonic", "celtic", "oriental", "folk", "electronic",
                   "techno", "psychedelic", "ambient", "piano", "guitar", "metal", "death metal",
                   "thrash metal", "rock", "classical", "romantic", "jazz", "waltz", "march",
                   "dance", "lullaby", "soundtrack", "renaissance", "medieval")
TITLE_STYLE_WORDS = ("orchestral", "symphony", "celtic", "oriental", "techno", "waltz", "lullaby",
                     "renaissance", "medieval", "dance")
ROLE_WORDS = ((r"menu", "Menu music"), (r"main theme", "Main theme"), (r"\bintro", "Intro music"),
              (r"battle", "Battle music"), (r"\bwin\b|victory", "Victory music"),
              (r"\blose\b|defeat", "Defeat music"), (r"sdmusic|\bsd\b", "Sudden-death music"),
              (r"\bfast\b", "Last-lap music"), (r"tension", "Tension music"),
              (r"\bingame\b", "In-game music"))



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


def clean_person(s: str) -> str:
    s = re.sub(r"\s*[-/]+\s*(www\.|https?://)\S*", "", s)
    s = re.sub(r"\(?https?://\S+\)?|<[^>]*>|\S+@\S+", "", s)
    s = re.sub(r"^\s*(\(c\)|©)?\s*\d{4}(\s*[-,]\s*\d{4})*,?\s*", "", s, flags=re.I)
    return " ".join(s.split()).strip(" ,;-")


def read_tags(path: str) -> dict[str, str]:
    import mutagen
    out = {}
    try:
        m = mutagen.File(path)
        tags = m.tags if m is not None and m.tags is not None else {}
        for k in ("title", "artist", "composer", "album", "genre", "description", "comment",
                  "comments", "license"):
            v = tags.get(k) if hasattr(tags, "get") else None
            if v:
                out[k] = " ".join(str(v[0]).split())
    except Exception:  # noqa: BLE001 - broken tags lose captions, never the run
        pass
    return out


def pretty_stem(stem: str) -> str:
    s = re.sub(r"^(hr3?|ingame)[-_]", "", stem)
    s = re.sub(r"[_-]+", " ", s).strip()
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", s)
    return s[:1].upper() + s[1:] if s else stem


@dataclass
class Track:
    package: str
    paths: list[str]          # several = stems mixed together
    track: str                # package/<name>
    group: str                # split unit
    title: str = ""
    title_from: str = "tag"
    artist: str = ""
    album: str = ""
    tag_genre: str = ""
    description: str = ""
    licence: str = ""
    copyright: str = ""
    duration_s: float = 0.0


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


# ----------------------------------------------------------------------------------------------
# audio
# ----------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------
# captions
# ----------------------------------------------------------------------------------------------
def gtzan_genre(tag_genre: str) -> str:
    g = tag_genre.lower()
    for pat, genre in GTZAN_FROM_TAG:
        if re.search(pat, g):
            return genre
    return "other"


def style_words(t: Track) -> list[str]:
    tags = " ".join([t.tag_genre, t.album, t.description]).lower()
    title = " ".join([t.title, t.track.split("/", 1)[1]]).lower().replace("_", " ")
    found = [w for w in TAG_STYLE_WORDS if re.search(rf"\b{re.escape(w)}\b", tags)]
    found += [w for w in TITLE_STYLE_WORDS if w not in found
              and re.search(rf"\b{re.escape(w)}\b", title)]
    # keep the most specific ("death metal" over "metal")
    return [w for w in found if not any(w != o and w in o for o in found)]


def role(t: Track) -> str:
    hay = re.sub(r"[_-]+", " ", t.track.split("/", 1)[1] + " " + t.title).lower()
    for pat, word in ROLE_WORDS:
        if re.search(pat, hay):
            return word
    if t.description.lower().startswith("gameplay music"):
        return "Gameplay music"
    return "Music"


def captions(t: Track, feats: mood.Features, pkg_desc: str, seed_key: str) -> tuple[str, list[str], list[str]]:
    """(main text, other texts, mood words) for one excerpt."""
    info = GAMES.get(t.package, {"game": t.package, "short": t.package, "kind": "game"})
    game, kind = info["game"], info["kind"]
    by = f" by {t.artist}" if t.artist else ""
    titled = (f"titled '{t.title}'" if t.title_from == "tag" else
              f"'{t.title}'" if t.title else "")
    styles = style_words(t)
    genre_w = t.tag_genre.lower() if t.tag_genre and t.tag_genre.lower() not in (
        "game", "other", "soundtrack", "game music", "widelands") else ""
    rng = random.Random(seed_key)
    texts = [" ".join(x for x in [f"{role(t)} from {game}, {with_article(kind)},", titled] if x)
             .rstrip(",") + f"{by}."]
    if t.artist and t.title:
        texts.append(f"The song titled {t.title}, belongs to {genre_w or 'game soundtrack'}, "
                     f"written by {t.artist}")
    style_phrase = " ".join(w for w in styles if w != "soundtrack" and w not in genre_w)
    lead = " ".join(x for x in [genre_w, style_phrase] if x)
    texts.append(with_article(f"{lead + ' ' if lead else ''}soundtrack piece from the {kind} {game}", cap=True)
                 + ".")
    if t.title:
        texts.append(f"'{t.title}', {genre_w or 'music'} from the {re.sub('^The ', '', game)} "
                     f"soundtrack{by}.")
    if t.album and t.title and t.album.lower() not in game.lower():
        texts.append(f"'{t.title}' from the album {t.album}{by}.")
    if t.description:
        texts.append(f"{t.description.rstrip('.')} ({game}).")
    texts += info.get("extra", [])
    subject = f"{genre_w} music" if genre_w else (
        f"{styles[0]} game music" if styles and styles[0] not in ("soundtrack",) else "game music")
    words = mood.mood_words(feats)
    texts += mood.mood_texts(feats, subject=subject, seed=seed_key)
    texts = list(dict.fromkeys(texts))
    main = texts[0] if rng.random() < 0.5 else rng.choice(texts)
    return main, [x for x in texts if x != main], words


MTT_MOOD = ("slow", "fast", "loud", "quiet", "soft")


def make_rows(t: Track, res: dict, split: str, pkg_desc: str, seed: int) -> list[dict]:
    rows = []
    genre = gtzan_genre(t.tag_genre)
    for ex in res["excerpts"]:
        feats = mood.Features(**ex["features"])
        main, others, words = captions(t, feats, pkg_desc, f"{seed}-{ex['path']}")
        attrs = mood.attributes(feats)
        rows.append({
            "path": ex["path"], "text": main, "texts": " | ".join(others), "genre": genre,
            "style": (t.tag_genre or "game soundtrack").lower(), "groove": "", "tempo": "",
            "key": "", "progression": "", "instruments": "", "soundfont": "", "tags": "",
            "split": split, "source": "games", "package": t.package,
            "game": GAMES.get(t.package, {}).get("game", t.package), "track": t.track,
            "title": t.title, "artist": t.artist, "album": t.album, "tag_genre": t.tag_genre,
            "offset_s": ex["offset_s"], "licence": t.licence, "copyright": t.copyright,
            "mood_tags": ";".join(w for w in words if w in MTT_MOOD),
            "tempo_est": round(feats.tempo, 1) if attrs["pace"] or feats.tempo_confidence
            >= mood.TEMPO_MIN_CONF else "",
            "key_est": feats.key if attrs["mode"] else "",
            "rms_db": round(feats.rms_db, 1), "centroid_hz": round(feats.centroid_hz),
        })
    return rows


def safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "track"


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
        r = make_rows(t, res, split, descriptions.get(t.package, ""), seed)
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


if __name__ == "__main__":  # the same command as `muser-train`, with its error handler
    from muser_cli.train_tools import run

    run("muser_train.corpus.games")
