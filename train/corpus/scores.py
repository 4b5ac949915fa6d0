"""Render music21 corpus scores with chosen General-MIDI instruments: composer, period, form,
instrument, tempo and solo/ensemble labels (classical and folk beyond corpus.mma's chorales).

    python -m muser_train.corpus.scores --out corpus/scores --seed 0 --jobs 2

Sources (all in the PyPI `music21` package's corpus; public-domain scores):
  * Renaissance: Palestrina mass movements (Humdrum), Monteverdi madrigals;
  * medieval: Italian trecento pieces;
  * Classical period: Beethoven string quartet movements (each part its own string instrument);
  * folk: Ryan's Mammoth Collection fiddle tunes (reels, jigs, hornpipes, strathspeys, marches,
    airs, waltzes), monophonic, played solo on one instrument.
Every clip is 12 s at 16 kHz, rendered with FluidSynth through one of the two soundfonts.
Split: by piece (seeded, about 15 % of pieces held out), so no piece is in both splits.
Labels come from what was rendered (program numbers, tempo given to the synthesiser, the score's
analysed key), never guessed from the audio, except the loudness words from muser_train.corpus.mood.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import os
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muser_train.corpus.common import (CLIP_S, SOUNDFONTS, SR, command_line, excerpt, finish, fluid_render,
                                       hours, score_key, split_counts, with_article, write_csv, write_ogg)
from muser_train.corpus.manifest import SCORES_COLUMNS
from muser_train.corpus.midi import GM_NAMES, MTAT_VOCAB, midi_instruments


@dataclass(frozen=True)
class Source:
    name: str  # music21 corpus composer/collection name
    pattern: str  # regex a file path must match
    composer: str
    period: str
    form: str  # spoken form: "mass movement", "madrigal", ...
    programs: tuple[int, ...]  # GM programs to choose from (one for all parts)
    tempo: tuple[int, int]  # quarter-note bpm range
    pieces: int  # how many pieces
    clips_per_piece: int
    max_measures: int
    per_part: tuple[int, ...] = ()  # if set: one program per part, in order (string quartet)


SOURCES = (
    Source("palestrina", r"\.krn$", "Giovanni Pierluigi da Palestrina", "renaissance", "mass movement",
           (52, 19, 48, 53), (52, 84), 110, 1, 40),
    Source("monteverdi", r"madrigal\.[0-9.]+\.mxl$", "Claudio Monteverdi", "renaissance", "madrigal",
           (52, 48, 6, 53), (60, 104), 40, 2, 40),
    Source("trecento", r"\.xml$", "an anonymous trecento composer", "medieval", "medieval song",
           (74, 73, 24, 46, 19), (60, 110), 70, 1, 40),
    Source("beethoven", r"opus(18|59)no\d/movement\d\.mxl$|opus(74|132)\.mxl$", "Ludwig van Beethoven",
           "classical", "string quartet movement", (48,), (60, 150), 14, 4, 64, per_part=(40, 40, 41, 42)),
    Source("ryansMammoth", r"\.abc$", "traditional", "folk", "fiddle tune",
           (40, 110, 73, 78, 21, 46, 0, 24, 25, 109, 71), (90, 200), 320, 1, 32),
)

# folk tune kinds from the title: (word in title, spoken kind, quarter-note bpm range, pace word)
FOLK_KINDS = (
    ("reel", "reel", (190, 230), "fast"), ("jig", "jig", (160, 190), "fast"),
    ("hornpipe", "hornpipe", (150, 180), "lively"), ("strathspey", "strathspey", (120, 150), "moderate"),
    ("march", "march", (100, 120), "steady"), ("waltz", "waltz", (120, 160), "moderate"),
    ("polka", "polka", (180, 220), "fast"), ("air", "slow air", (60, 84), "slow"),
    ("lament", "lament", (56, 76), "slow"),
)

PROGRAM_TAGS = {0: ["piano"], 6: ["harpsichord"], 19: [], 21: [], 24: ["guitar"], 25: ["guitar"],
                40: ["violin", "strings"], 41: ["strings"], 42: ["cello", "strings"], 46: ["harp"],
                48: ["strings"], 52: ["choir", "choral"], 53: ["choir", "choral"], 71: [], 73: ["flute"],
                74: ["flute"], 78: [], 109: [], 110: ["violin"]}
PROGRAM_WORDS = {19: "church organ", 21: "accordion", 24: "nylon-string guitar", 25: "acoustic guitar",
                 52: "choir", 53: "choir", 71: "clarinet", 74: "recorder", 78: "whistle", 109: "bagpipe",
                 110: "fiddle", 48: "string ensemble", 46: "harp", 6: "harpsichord", 0: "piano",
                 40: "violin", 73: "flute"}


def program_word(p: int) -> str:
    return PROGRAM_WORDS.get(p, GM_NAMES[p].lower())


def folk_kind(title: str) -> tuple[str, tuple[int, int], str]:
    low = title.lower()
    for word, kind, bpm, pace in FOLK_KINDS:
        if re.search(rf"\b{word}s?\b", low):
            return kind, bpm, pace
    return "tune", (110, 170), ""


def piece_split(piece: str, seed: int, test_share: float = 0.15) -> str:
    h = int(hashlib.sha1(f"{seed}:{piece}".encode()).hexdigest()[:8], 16)
    return "test" if h / 0xFFFFFFFF < test_share else "train"


def tune_title(path: str) -> str:
    stem = Path(path).stem
    return re.sub(r"(?<=[a-z])(?=[A-Z0-9])", " ", stem).strip()


def plan(out: Path, seed: int, scale: float = 1.0, sources: Sequence[str] | None = None) -> list[dict]:
    from music21 import corpus

    rng = random.Random(seed)
    tasks = []
    for src in SOURCES:
        if sources is not None and src.name not in sources:
            continue
        files = sorted(str(p) for p in corpus.getComposer(src.name) if re.search(src.pattern, str(p)))
        chosen = rng.sample(files, min(len(files), max(1, round(src.pieces * scale))))
        for piece in sorted(chosen):
            title = tune_title(piece) if src.period == "folk" else Path(piece).stem
            kind, bpm, pace = folk_kind(title) if src.period == "folk" else (src.form, src.tempo, "")
            for j in range(src.clips_per_piece):
                idx = len(tasks)
                tasks.append({
                    "source": src.name, "piece": piece, "title": title, "composer": src.composer,
                    "period": src.period, "form": kind, "pace": pace, "tempo": rng.randint(*bpm),
                    "program": rng.choice(src.programs), "per_part": list(src.per_part),
                    "max_measures": src.max_measures, "soundfont": rng.choice(sorted(SOUNDFONTS)),
                    "rng_seed": rng.randrange(1 << 30), "split": piece_split(piece, seed),
                    "out_path": str(out / "audio" / src.name / f"{src.name}_{idx:04d}.ogg"),
                })
    return tasks


def render(task: dict) -> tuple[dict, dict | None, str | None]:
    try:
        return task, _render(task), None
    except Exception as exc:  # noqa: BLE001 - one bad score must not stop the corpus
        return task, None, f"{type(exc).__name__}: {exc}"[:300]


def _render(task: dict) -> dict:
    from music21 import corpus, instrument
    from music21 import tempo as m21tempo

    score = corpus.parse(task["piece"])
    if hasattr(score, "scores"):  # an opus: take its first score
        score = score.scores[0]
    if task["max_measures"]:
        score = score.measures(1, task["max_measures"])
    key = score_key(score)
    parts = list(score.parts) or [score]
    for i, part in enumerate(parts):
        for el in list(part.recurse().getElementsByClass((instrument.Instrument, m21tempo.MetronomeMark))):
            el.activeSite.remove(el)
        program = task["per_part"][i % len(task["per_part"])] if task["per_part"] else task["program"]
        inst = instrument.instrumentFromMidiProgram(program)
        inst.midiProgram = program
        part.insert(0, inst)
        part.insert(0, m21tempo.MetronomeMark(number=task["tempo"]))
    with tempfile.TemporaryDirectory(prefix="m21score_") as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        score.write("midi", fp=str(mid))
        programs, _drums = midi_instruments(mid)
        y = fluid_render(mid, wav, SOUNDFONTS[task["soundfont"]])
    rng = random.Random(task["rng_seed"])
    seg = excerpt(y, 0.3, rng, latest_start=len(y) / SR - CLIP_S - 0.5)
    if len(seg) < int(CLIP_S * SR * 0.9):
        raise ValueError(f"render too short ({len(y) / SR:.1f} s)")
    rms = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))
    if rms < 1e-3:
        raise ValueError(f"silent excerpt (rms {rms:.1e})")
    _write(seg, Path(task["out_path"]), task)
    from muser_train.corpus.mood import analyse

    return {"programs": programs, "key": key, "rms": rms, "n_parts": len(parts), "dur": len(seg) / SR,
            "mood": analyse(seg, SR)}


def _write(y: np.ndarray, path: Path, task: dict) -> None:
    write_ogg(y, path, task["title"], task["composer"], "Folk" if task["period"] == "folk" else "Classical")


def _tags(task: dict, res: dict, pace: str, solo: bool) -> list[str]:
    tags = []
    for p in res["programs"]:
        tags += PROGRAM_TAGS.get(p, [])
    if task["period"] != "folk":
        tags.append("classical")
    if solo:
        tags.append("solo")
    if pace in ("fast", "slow"):
        tags.append(pace)
    if not any(p in (52, 53) for p in res["programs"]):
        tags.append("no vocals")
    return list(dict.fromkeys(t for t in tags if t in MTAT_VOCAB))


def make_row(task: dict, res: dict, out: Path) -> dict:
    from muser_train.corpus.mood import mood_texts, mood_words

    rng = random.Random(task["rng_seed"])
    programs = sorted(set(res["programs"])) or [task["program"]]
    instruments = [program_word(p) for p in programs]
    inst = "string quartet" if task["per_part"] else instruments[0]
    solo = task["period"] == "folk" or (res["n_parts"] == 1)
    tempo = task["tempo"]
    pace = task["pace"] or ("slow" if tempo <= 80 else "fast" if tempo >= 140 else "")
    tags = _tags(task, res, pace, solo)
    feats = res["mood"]
    known_tempo = None if task["period"] == "folk" else tempo  # folk: the quarter-note bpm is not the felt pace
    moods = mood_words(feats, known_tempo=known_tempo, known_mode=res["key"] or None)
    period_w = {"renaissance": "Renaissance", "medieval": "medieval", "classical": "Classical-period",
                "folk": "traditional folk"}[task["period"]]
    form = task["form"]
    if task["period"] == "folk":
        texts = [f"A {pace + ' ' if pace else ''}traditional {form} played solo on {with_article(inst)}.",
                 f"{inst.capitalize()} solo: the folk {form} '{task['title']}'.",
                 f"Old-time dance music: {with_article(form)} played on one {inst}, no singing."]
    else:
        who = task["composer"]
        texts = [f"A {period_w} {form} by {who}, performed by {inst}.",
                 f"{period_w.capitalize()} {'choral' if 'choir' in instruments else 'instrumental'} music "
                 f"by {who.split(' ')[-1] if who.startswith(('Giovanni', 'Claudio', 'Ludwig')) else who}"
                 f" played on {inst}{', ' + pace if pace else ''}.",
                 f"{period_w} classical music in {res['key'] or 'an unknown key'} for {inst}."]
    if tags:
        texts.append("the music is characterized by " + ", ".join(tags))
    texts += mood_texts(feats, known_tempo=known_tempo, known_mode=res["key"] or None, subject=f"{inst} music",
                        seed=task["rng_seed"], max_texts=2)
    if moods:
        texts.append(f"{', '.join(moods[:3])} {form} on {inst}")
    rng.shuffle(texts)
    return {
        "path": os.path.relpath(task["out_path"], out), "text": texts[0], "texts": " | ".join(texts[1:]),
        "genre": "other" if task["period"] == "folk" else "classical",
        "style": "folk" if task["period"] == "folk" else form, "groove": Path(task["piece"]).stem,
        "tempo": tempo, "key": res["key"], "progression": "-", "instruments": ";".join(instruments),
        "soundfont": task["soundfont"], "tags": ";".join(tags), "split": task["split"],
        "composer": task["composer"], "period": task["period"], "source": f"music21:{task['source']}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="Multiply the number of pieces per source.")
    ap.add_argument("--sources", nargs="*", default=[s.name for s in SOURCES], choices=[s.name for s in SOURCES],
                    help="Which music21 collections to render (default: all).")
    args = ap.parse_args(argv)
    started, out = time.time(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = plan(out, args.seed, args.scale, args.sources)
    print(f"planned {len(tasks)} clips", flush=True)
    rows, failures = [], []
    with cf.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for n, (task, res, err) in enumerate(pool.map(render, tasks, chunksize=4), 1):
            if err:
                failures.append({"piece": task["piece"], "error": err})
            else:
                rows.append(make_row(task, res, out))
            if n % 50 == 0 or n == len(tasks):
                print(f"{n}/{len(tasks)} rendered, {len(failures)} failed, {time.time() - started:.0f} s", flush=True)
    rows.sort(key=lambda r: r["path"])
    write_csv(out / "captions.csv", SCORES_COLUMNS, rows)
    summary = {"command": command_line("muser_train.corpus.scores", argv),
               "clips": len(rows), "counts": split_counts(rows, "source"), "hours": hours(len(rows)),
               "failures": failures, "soundfonts": SOUNDFONTS, "licence": "music21 corpus scores: public domain "
               "works (music21 is BSD-licensed); renders made here", "elapsed_s": round(time.time() - started, 1)}
    finish(out, summary, ("clips", "counts", "hours", "elapsed_s"))
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
