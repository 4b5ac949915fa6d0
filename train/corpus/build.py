"""Build the whole offline training corpus with one command (idempotent, resumable).

    python -m muser_train.corpus --out corpus --jobs 2 --seed 0

Steps (each is skipped when its output is already there):
  a. OUT/mma     corpus.mma --clips-per-style 40 --classical-clips 320 --subsample 6 (MIDI renders)
     OUT/mma_extra  the training clips of the same plan that `mma` leaves out (`--complement-of 6
                 --only-split train`: 1,816 more genre-labelled renders of the training
                 grooves and pieces, none held out; opt-in with --sources ... mma_extra)
     OUT/mma_freepats  every training clip of that plan again through the freepats patch set
                 (TiMidity++; the package fetched to OUT/debs by corpus.freepats): a third
                 instrument sound set, no held-out groove; opt-in with --sources ... mma_freepats)
     OUT/mma_tempo  the training clips of the genre grooves again at tempos drawn from 60-200
                 bpm (`corpus.mma --tempo-range 60 200 --genres ...`); opt-in, as mma_extra
     OUT/mma_libs  the training clips of the GTZAN-genre grooves of MMA's other libraries
                 (`corpus.mma --library more`: Casio, Yamaha, karaoke, pflib and alexis styles,
                 with country ballads, hip-hop and metal); opt-in, as mma_extra
  b. OUT/games   corpus.games (music of seven Debian game packages)
     OUT/scores  corpus.scores (music21 scores: Palestrina, trecento, Beethoven quartets, folk
                 fiddle tunes; composer/period/instrument labels)
     OUT/realmusic  corpus.realmusic (corpus v3: the real music of the allow-listed Debian
                 packages; opt-in with --sources ... realmusic, it downloads about 6 GB). Its
                 committed teacher scores (train/corpus/data/v3_teacher_scores.npz) are copied
                 to OUT/realmusic/ensemble_scores.npz, so step d scores only the clips they lack.
     OUT/renders corpus.renders (corpus v3: the LMMS demo projects and the Hydrogen demo songs
                 through their drum kits, rendered headless; opt-in with --sources ... renders).
  c. mood        MMA rows get mood captions from corpus.mood: tempo and key from their known
                 `tempo`/`key` columns, loudness/dynamics/brightness measured on the audio.
                 Appended to `texts`; a row is done once its `mood_words` column is filled.
  d. teachers    (not for mma_extra, mma_freepats, mma_tempo, mma_libs: their renders supervise genre and text only)
                 OUT/NAME/ensemble_scores.npz: the MTT-50 and MSD-50 ensemble probabilities of
                 every clip (`muser_train.teachers.score_manifest`, resumable), starting from the
                 committed train/corpus/data/NAME_teacher_scores.npz where there is one, so only
                 clips it lacks are scored (a failure is reported, not fatal).
  e. merge       OUT/captions.csv (ids and paths relative to OUT: mma/..., games/...; `source`
                 column), OUT/ensemble_scores.npz (the same ids) and OUT/summary.json with
                 totals. Always redone (cheap).
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from muser_train.corpus import common, mood
from muser_train.corpus.common import SR, copy_atomic, count_by, hours, read_csv, write_csv, write_json
from muser_train.errors import CorpusError

SOURCES = ("mma", "games", "scores")
OPTIONAL_SOURCES = ("realmusic", "renders", "mma_extra", "mma_freepats", "mma_tempo", "mma_libs")  # built only when named in --sources
# The plan of the first checkpoints (40 clips per groove file, 320 classical: the same held-out
# groove files, variants and pieces, so a checkpoint fine-tuned from them is tested on clips none
# of its stages trained on), rendering every 6th clip: about 490 clips, 1.6 h.
MMA_PLAN = ["--clips-per-style", "40", "--classical-clips", "320"]
MMA_ARGS = [*MMA_PLAN, "--subsample", "6"]
# The rest of that plan's training clips (the five in six that `mma` leaves out): more genre-
# labelled renders of the same training grooves, never a held-out groove, variant or piece.
MMA_EXTRA_ARGS = [*MMA_PLAN, "--complement-of", "6", "--only-split", "train"]
# Every training clip of that plan again (mma's and mma_extra's, the same grooves, keys, tempos
# and voices) played through the freepats patch set (TiMidity++): a third instrument sound set
# beside the two soundfonts, so that genre is learnt apart from one set of samples. Never a
# held-out groove; OPL-3 stays the soundfont no training clip is rendered through.
MMA_FREEPATS_ARGS = [*MMA_PLAN, "--only-split", "train"]
# The plan's training clips of the GTZAN-genre grooves again, each at a tempo drawn from 60-200
# bpm instead of its groove's narrow range: the training country grooves are played at 130-200
# bpm but one, and the stage-2 checkpoints call them jazz or blues when slowed down.
MMA_TEMPO_ARGS = [*MMA_PLAN, "--only-split", "train", "--tempo-range", "60", "200",
                  "--genres", "blues", "country", "disco", "jazz", "pop", "reggae", "rock"]
# The GTZAN-genre grooves of MMA's other libraries (Casio, Yamaha and karaoke keyboard styles,
# pflib, alexis): other authors' grooves of the same genres, the near neighbours that held-out
# stdlib grooves (slowcountry, countrywaltz, 8beat) lack; with hip-hop and metal styles. Training
# clips only (a quarter of the files of jazz, pop and rock are held out: `--only-split test`
# renders them as a test set); at least 96 clips a genre.
MMA_LIBS_ARGS = ["--library", "more", "--clips-per-style", "16", "--min-clips-per-genre", "96",
                 "--only-split", "train"]
MMA_SOURCES = ("mma", "mma_extra", "mma_freepats", "mma_tempo", "mma_libs")  # MMA renders: known tempo and key, so mood captions (step c)
# Sources that supervise genre and text only: step d runs no teacher over them (about 0.8 s a clip
# on 2 cores, 25 min for mma_extra), and training gives their clips no tag-head target.
UNSCORED_SOURCES = ("mma_extra", "mma_freepats", "mma_tempo", "mma_libs")
TEACHER_PATCHES = 2  # the teachers score two evenly spread 3 s patches of each 12 s clip (half the cost)
TEACHER_SCORES_FILE = "ensemble_scores.npz"  # read by the folder dataset (training.datasets)
# What the MMA sub-corpus is made of (see corpus/mma.py); the games list their own.
MMA_LICENCES = {"MMA groove library": "GPL-2+", "music21 corpus": "BSD-3-Clause",
                "FluidR3_GM soundfont": "MIT", "TimGM6mb soundfont": "GPL-2"}
# mma_freepats is played through the freepats patches, not the two soundfonts
MMA_FREEPATS_LICENCES = {**{k: v for k, v in MMA_LICENCES.items() if "soundfont" not in k},
                         "freepats patch set": "GPL-2+ with a composition exception"}


def log(msg: str) -> None:
    print(f"[corpus] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# a, b: sub-corpora
# ----------------------------------------------------------------------------------------------
def run_step(cmd: list[str]) -> int:
    log("running: " + " ".join(cmd))
    return subprocess.call(cmd)


def running_elsewhere(module: str, sub: Path) -> bool:
    """True when another process is already building SUB with MODULE (never start a second)."""
    try:
        r = subprocess.run(["pgrep", "-f", f"{module} --out {sub}"], capture_output=True,
                           text=True)
    except OSError:
        return False
    return any(int(p) != os.getpid() for p in r.stdout.split())


BUILDERS = {  # sub-corpus -> (module, extra arguments)
    "mma": ("muser_train.corpus.mma", MMA_ARGS),
    "mma_extra": ("muser_train.corpus.mma", MMA_EXTRA_ARGS),
    "games": ("muser_train.corpus.games", []),
    # as built for the shipped checkpoint: Monteverdi left out (some madrigal MIDIs render for an hour)
    "scores": ("muser_train.corpus.scores", ["--scale", "0.6", "--sources", "palestrina", "trecento",
                                             "beethoven", "ryansMammoth"]),
    "realmusic": ("muser_train.corpus.realmusic", []),
    "renders": ("muser_train.corpus.renders", []),
    "mma_freepats": ("muser_train.corpus.mma", MMA_FREEPATS_ARGS),
    "mma_tempo": ("muser_train.corpus.mma", MMA_TEMPO_ARGS),
    "mma_libs": ("muser_train.corpus.mma", MMA_LIBS_ARGS),
}


def soundfont_args(name: str, out: Path) -> list[str]:
    """The --render-soundfont argument of a sub-corpus rendered through a fetched patch set
    (mma_freepats: the freepats package, fetched to OUT/debs once); none for the others."""
    if name != "mma_freepats":
        return []
    from muser_train.corpus.freepats import freepats_config

    return ["--render-soundfont", f"FreePats={freepats_config(out / 'debs')}"]


def ensure(name: str, out: Path, seed: int, jobs: int) -> str:
    """Build OUT/NAME with its builder unless it is there or being built by another process."""
    sub = out / name
    if (sub / "captions.csv").is_file():
        return "present"
    module, extra = BUILDERS[name]
    if running_elsewhere(module, sub):
        log(f"{sub} is being built by another process: not starting a second one")
        return "in progress elsewhere"
    try:
        extra = [*extra, *soundfont_args(name, out)]
    except (OSError, RuntimeError, ValueError, CorpusError) as e:  # cannot be fetched or read: named, skipped
        log(f"{name}: skipped ({e})")
        return f"failed ({e})"
    rc = run_step([sys.executable, "-m", module, "--out", str(sub), *extra, "--seed", str(seed),
                   "--jobs", str(jobs)])
    return "built" if rc == 0 else f"failed (exit {rc})"


# ----------------------------------------------------------------------------------------------
# c: mood captions for rows with known tempo/key
# ----------------------------------------------------------------------------------------------
def _subject(row: dict) -> str:
    try:
        from muser_train.corpus.mma import STYLE_WORD
    except ImportError:  # pragma: no cover
        STYLE_WORD = {}
    style = STYLE_WORD.get(row.get("style", ""), row.get("style", "")) or row.get("genre", "")
    if not style or style == "other":
        return "music"
    return style if style.endswith("music") else f"{style} music"


def _mood_job(args: tuple[str, dict, str]) -> tuple[str, list[str], list[str], str]:
    path, row, seed_key = args
    from muser_model.core import audio
    try:
        wave = audio.load_audio(path, SR)
        feats = mood.analyse(wave, SR)
        err = ""
    except Exception as e:  # noqa: BLE001 - an unreadable clip still gets metadata words
        feats, err = None, f"{type(e).__name__}: {e}"[:200]
    tempo = float(row["tempo"]) if (row.get("tempo") or "").strip() else None
    key = (row.get("key") or "").strip() or None
    words = mood.mood_words(feats, known_tempo=tempo, known_mode=key)
    texts = mood.mood_texts(feats, known_tempo=tempo, known_mode=key, subject=_subject(row),
                            seed=seed_key)
    return row["path"], words, texts, err


def add_mood(sub: Path, jobs: int = 2, seed: int = 0) -> dict:
    """Append mood captions to the rows of SUB/captions.csv that have none yet."""
    cap = sub / "captions.csv"
    cols, rows = read_csv(cap)
    todo = [r for r in rows if not (r.get("mood_words") or "").strip()]
    if not todo:
        return {"rows": len(rows), "added": 0}
    work = [(str(sub / r["path"]), r, f"{seed}-{r['path']}") for r in todo]
    if jobs > 1 and len(work) > 8:
        with cf.ProcessPoolExecutor(max_workers=jobs) as ex:
            results = list(ex.map(_mood_job, work, chunksize=16))
    else:
        results = [_mood_job(w) for w in work]
    by_path = {p: (w, t, e) for p, w, t, e in results}
    errors = 0
    for r in todo:
        words, texts, err = by_path[r["path"]]
        errors += bool(err)
        have = [r.get("text", "")] + [t for t in (r.get("texts") or "").split(" | ") if t]
        new = [t for t in texts if t not in have]
        r["texts"] = " | ".join([t for t in have[1:]] + new)
        r["mood_words"] = ";".join(words) or "-"
        r["mood_tags"] = ";".join(w for w in words if w in ("slow", "fast", "loud", "quiet",
                                                             "soft"))
    for c in ("mood_words", "mood_tags"):
        if c not in cols:
            cols.append(c)
    write_csv(cap, cols, rows, extra="ignore")
    return {"rows": len(rows), "added": len(todo), "audio_errors": errors}


# ----------------------------------------------------------------------------------------------
# d: teacher ensemble scores (MTT-50 + MSD-50 probabilities per clip; a failure is reported)
# ----------------------------------------------------------------------------------------------


def teacher_scores(sub: Path, name: str, committed: Path = common.DATA_DIR) -> str:
    """SUB/ensemble_scores.npz for every clip of SUB/captions.csv: the committed scores of this
    sub-corpus are copied first (so a new machine does not run the teachers again), then the clips
    they miss are scored (`muser_train.teachers.score_manifest`, resumable)."""
    from muser_train.teachers import score_manifest

    dst = sub / TEACHER_SCORES_FILE
    src = committed / f"{name}_teacher_scores.npz"
    if src.is_file() and not dst.is_file():
        copy_atomic(src, dst)
    try:
        counts = score_manifest.run(sub / "captions.csv", dst, sub, TEACHER_PATCHES, log=log)
    except score_manifest.ManifestError as e:
        log(f"warning: teacher scores for {sub}: {e}; continuing without")
        return f"failed ({e})"
    return (f"{counts['scored']} scored, {counts['failed']} failed, "
            f"{counts['skipped']} already scored")


def merge_scores(out: Path, sources) -> int:
    """OUT/ensemble_scores.npz: the sub-corpora's scores with their ids prefixed as the merged
    captions.csv writes them ("mma/<id>"); returns the number of clips."""
    from muser_train.teachers.score_manifest import ScoreTable, load_table, save_table

    merged = ScoreTable()
    for name in sources:
        path = out / name / TEACHER_SCORES_FILE
        if path.is_file():
            table = load_table(path)
            merged.scores.update({f"{name}/{i}": v for i, v in table.scores.items()})
            merged.failed.update({f"{name}/{i}": v for i, v in table.failed.items()})
    if merged.scores or merged.failed:
        save_table(merged, out / TEACHER_SCORES_FILE, sorted(merged.scores))
    return len(merged.scores)


# ----------------------------------------------------------------------------------------------
# e: merge
# ----------------------------------------------------------------------------------------------
def merge(out: Path, sources=SOURCES) -> dict:
    out = Path(out)
    columns: list[str] = ["id", "path", "source"]
    merged: list[dict] = []
    subs = {}
    for name in sources:
        cap = out / name / "captions.csv"
        if not cap.is_file():
            continue
        cols, rows = read_csv(cap)
        columns += [c for c in cols if c not in columns]
        for r in rows:
            r = dict(r)
            r["id"] = f"{name}/{r.get('id') or r['path']}"
            r["path"] = f"{name}/{r['path']}"
            r["source"] = name
            merged.append(r)
        summ = out / name / "summary.json"
        subs[name] = json.loads(summ.read_text()) if summ.is_file() else {}
    write_csv(out / "captions.csv", columns, merged, extra="ignore")
    per_source = {}
    for name in subs:
        rows = [r for r in merged if r["source"] == name]
        per_source[name] = {"clips": len(rows), "hours": hours(len(rows)),
                            "splits": count_by(rows, "split"), "genres": count_by(rows, "genre")}
    licences: dict[str, object] = {}
    for name in MMA_SOURCES:
        if name in subs:
            licences[name] = MMA_FREEPATS_LICENCES if name == "mma_freepats" else MMA_LICENCES
    if "scores" in subs:
        licences["scores"] = {"music21 corpus scores": "public-domain works; music21 BSD-3-Clause",
                              "FluidR3_GM soundfont": "MIT", "TimGM6mb soundfont": "GPL-2"}
    if "games" in subs:
        licences["games"] = {p: {"licences_by_track": v.get("licences", {}),
                                 "version": v.get("version", "")}
                             for p, v in subs["games"].get("packages", {}).items()}
    return {
        "clips": len(merged), "hours": hours(len(merged)),
        "splits": count_by(merged, "split"), "genres": count_by(merged, "genre"),
        "sources": per_source, "licences": licences,
        "with_teacher_tags": sum(1 for r in merged if (r.get("teacher_tags") or "").strip()),
        "with_mood_words": sum(1 for r in merged
                               if (r.get("mood_words") or r.get("mood_tags") or "").strip()),
    }


def main(argv=None) -> int:
    ap = common.corpus_parser(__doc__)
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), 
                    choices=list(SOURCES + OPTIONAL_SOURCES))
    args = ap.parse_args(argv)
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, object] = {}
    for name in args.sources:
        steps[name] = ensure(name, out, args.seed, args.jobs)
    for name in MMA_SOURCES:
        if name in args.sources and (out / name / "captions.csv").is_file():
            steps[f"mood_{name}"] = add_mood(out / name, args.jobs, args.seed)
            log(f"mood ({name}): {steps[f'mood_{name}']}")
    for name in args.sources:
        if (out / name / "captions.csv").is_file() and name not in UNSCORED_SOURCES:
            steps[f"teacher_scores_{name}"] = teacher_scores(out / name, name)
    summary = merge(out, args.sources)
    summary["with_teacher_scores"] = merge_scores(out, args.sources)
    summary["command"] = "python -m muser_train.corpus " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])
    summary["seed"] = args.seed
    summary["steps"] = steps
    summary["elapsed_s"] = round(time.time() - t0, 1)
    write_json(out / "summary.json", summary)
    print(json.dumps({k: summary[k] for k in ("clips", "hours", "splits", "steps", "elapsed_s")},
                     indent=1))
    failed = [k for k, v in steps.items() if isinstance(v, str) and v.startswith("failed")
              and not k.startswith("teacher_scores")]
    return 1 if failed else 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
