"""Render a genre-labelled audio+caption corpus with MMA + FluidSynth (and music21 for classical).

Usage (from the repository root):
    python -m muser_train.corpus.mma --out corpus/mma --clips-per-style 40 --seed 0 --jobs 2

Sources
  * MMA (Musical MIDI Accompaniment) groove files from /usr/share/mma/lib/stdlib, grouped into
    GTZAN genres (blues, country, disco, jazz, pop, reggae, rock) plus extra styles labelled
    genre "other" (bossa nova, samba, tango, waltz, ...).
  * classical: Bach chorales and Mozart/Haydn string-quartet movements from the music21 corpus,
    re-voiced to one General-MIDI program.
  * hiphop and metal have no honest source here and are not produced.

Split (no leakage): test clips use held-out groove files (or held-out groove variants for genres
with fewer than 3 groove files, held-out pieces for classical) AND test-only chord progressions;
train clips use the remaining grooves and progressions.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
import os
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from muser_train.corpus.common import (CLIP_S, SOUNDFONTS, SR, command_line, excerpt, finish, fluid_render,
                                       join_words, score_key, split_counts, with_article, write_csv,
                                       write_ogg)
from muser_train.corpus.manifest import MMA_COLUMNS
from muser_train.corpus.midi import GM_NAMES, MTAT_VOCAB, midi_instruments
from muser_train.errors import CorpusOptionError

MMA_LIB = Path("/usr/share/mma/lib/stdlib")
MMA_ROOT = MMA_LIB.parent  # stdlib and MMA's other groove libraries (casio, yamaha, kara, ...)
MMA_START_S = 0.5

# ----------------------------------------------------------------------------------------------
# groove -> genre map (checked against the Doc text of each groove file)
# ----------------------------------------------------------------------------------------------
GENRE_GROOVES = {
    "blues": ["blues", "blues128", "blues68", "fastblues", "slowblues", "boggiewoggie",
              "shuffleboggie", "countryblues"],
    "country": ["countryswing", "countrywaltz", "slowcountry", "bluegrass", "westernswing",
                "hillcountry"],
    # boneym: "started as a generic Disco pattern"; dsoul: "Disco Soul -- back to the 80s".
    # bvfunk is "Bob's Funk" (Watermelon Man), not disco -> kept as style "funk" under other.
    "disco": ["boneym", "dsoul"],
    "jazz": ["swing", "bebop", "jazzcombo", "jazzguitar", "jazzwaltz", "modernjazz", "slowjazz",
             "nitejazz", "mellowjazz", "bigband", "dixie", "easyswing", "fastswing"],
    # popballad's Doc calls itself a rock ballad, 8beat/bubblerock/twist are 60s pop-rock; kept as pop.
    "pop": ["popballad", "8beat", "bubblerock", "twist", "pianoballad"],
    # MMA has no reggae groove; ska (written for "Ob-La-Di, Ob-La-Da") is the only relative.
    "reggae": ["ska"],
    # ballad's Doc: "A rock ballad in 4." -> rock rather than pop.
    "rock": ["50srock", "60srock", "basicrock", "rock-128", "folkrock", "rockballad", "softrock",
             "ballad"],
    "other": ["bossanova", "samba", "salsa", "mambo", "tango", "lighttango", "rhumba", "bolero",
              "slowbolero", "trance", "polka", "march", "68march", "waltz", "fastwaltz",
              "vienesewaltz", "folk", "folkballad", "spiritual", "slowspiritual", "popspiritual",
              "ragtime", "bvfunk"],
}

# Groove files of MMA's other libraries: keyboard styles converted from Casio (WK-3000), Yamaha
# and karaoke .sty files, pflib's rock and metal styles, alexis' hip-hop; sorted into GTZAN
# genres by their names and Doc text ("Heavy Metal (045). Turn up the volume.", "A western balad
# style ... all about cowboys"). They are other authors' grooves than stdlib's, so they hold no
# stdlib groove held out above. Left out: zoom's drum-machine patterns (drums only, no chords or
# bass), styles of no GTZAN genre (dance, techno, latin, polka, march, ...), and those whose
# genre is unclear (R&B, soul, fusion, ballads that name no genre).
MORE_GENRE_GROOVES = {
    "blues": ["casio/blues", "casio/shuffleboogie"],
    "country": ["yamaha/western", "yamaha/jazzcountry", "kara/kwestballad"],
    "disco": ["casio/discosoul"],
    "hiphop": ["casio/hip-hop", "alexis/hiphop"],
    "jazz": ["casio/jazzcombo", "casio/jazzwaltz", "casio/modernjazz", "casio/swing",
             "casio/slowswing", "casio/fastbigband", "casio/middlebigband", "casio/slowbigband",
             "yamaha/jazzGrtrio", "yamaha/jazzbasie", "yamaha/jazzbouncy", "yamaha/jazzswing",
             "yamaha/jazztrio", "yamaha/jazzwaltz"],
    "metal": ["casio/heavymetal", "pflib/metal1", "pflib/metal2"],
    "pop": ["casio/60spop", "casio/80spop", "casio/8beat1", "casio/8beat2", "casio/8beat3",
            "casio/8beatpop1", "casio/8beatpop2", "casio/8beatpop3", "casio/pop", "casio/popballad",
            "casio/popshuffle1", "casio/popshuffle2", "casio/soulpop", "casio/popwaltz",
            "casio/twist", "kara/8beatmotown", "kara/fasttwist", "kara/twi"],
    "rock": ["casio/60srock", "casio/rock1", "casio/rock2", "casio/slowrock", "casio/shufflerock",
             "casio/digitalrock", "pflib/8beat1", "pflib/8beat2", "pflib/rock1", "pflib/slowrock",
             "pflib/highfive", "kara/K50s_rock", "yamaha/w-rock"],
}
# In those libraries a genre holds out whole groove files only when it has this many (a quarter
# of them); genres with fewer (country, blues, disco, hip-hop, metal) train on all of theirs.
MORE_MIN_HELDOUT_FILES = 5
LIBRARIES = {"stdlib": GENRE_GROOVES, "more": MORE_GENRE_GROOVES}
MIN_HELDOUT_FILES = {"stdlib": 3, "more": MORE_MIN_HELDOUT_FILES}  # fewer: see plan()

STYLE_WORD = {
    "blues": "blues", "blues128": "12/8 blues", "blues68": "6/8 blues", "fastblues": "fast blues",
    "slowblues": "slow blues", "boggiewoggie": "boogie-woogie", "shuffleboggie": "boogie shuffle",
    "countryblues": "country blues", "countryswing": "country swing",
    "countrywaltz": "country waltz", "slowcountry": "slow country", "bluegrass": "bluegrass",
    "westernswing": "western swing", "hillcountry": "hillbilly country", "boneym": "disco",
    "dsoul": "disco soul", "swing": "swing", "bebop": "bebop", "jazzcombo": "jazz combo",
    "jazzguitar": "jazz guitar ballad", "jazzwaltz": "jazz waltz", "modernjazz": "modern jazz",
    "slowjazz": "slow jazz", "nitejazz": "late-night jazz", "mellowjazz": "mellow jazz",
    "bigband": "big band", "dixie": "dixieland", "easyswing": "easy swing",
    "fastswing": "fast swing", "popballad": "pop ballad", "8beat": "eight-beat pop",
    "bubblerock": "bubblegum pop", "twist": "twist", "pianoballad": "piano ballad", "ska": "ska",
    "50srock": "50s rock", "60srock": "60s rock", "basicrock": "rock", "rock-128": "doo-wop rock",
    "folkrock": "folk rock", "rockballad": "rock ballad", "softrock": "soft rock",
    "ballad": "rock ballad", "bossanova": "bossa nova", "samba": "samba", "salsa": "salsa",
    "mambo": "mambo", "tango": "tango", "lighttango": "tango", "rhumba": "rhumba",
    "bolero": "bolero", "slowbolero": "slow bolero", "trance": "trance", "polka": "polka",
    "march": "march", "68march": "6/8 march", "waltz": "waltz", "fastwaltz": "fast waltz",
    "vienesewaltz": "viennese waltz", "folk": "folk", "folkballad": "folk ballad",
    "spiritual": "gospel spiritual", "slowspiritual": "slow gospel spiritual",
    "popspiritual": "pop gospel", "ragtime": "ragtime", "bvfunk": "funk",
    "chorale": "Bach chorale", "quartet": "string quartet",
    "casio/blues": "raucous blues", "casio/shuffleboogie": "shuffle boogie",
    "yamaha/western": "western bluegrass", "yamaha/jazzcountry": "old-time 12/8 country",
    "kara/kwestballad": "western ballad", "casio/discosoul": "disco soul",
    "casio/hip-hop": "hip-hop beat", "alexis/hiphop": "hip-hop beat",
    "casio/jazzcombo": "jazz combo", "casio/jazzwaltz": "jazz waltz", "casio/modernjazz": "modern jazz",
    "casio/swing": "swing", "casio/slowswing": "slow swing", "casio/fastbigband": "fast big band",
    "casio/middlebigband": "big band", "casio/slowbigband": "slow big band",
    "yamaha/jazzGrtrio": "jazz guitar trio", "yamaha/jazzbasie": "Basie-style big band",
    "yamaha/jazzbouncy": "bouncy jazz", "yamaha/jazzswing": "jazz swing",
    "yamaha/jazztrio": "jazz piano trio", "yamaha/jazzwaltz": "jazz waltz",
    "casio/heavymetal": "heavy metal", "pflib/metal1": "heavy metal", "pflib/metal2": "triplet metal",
    "casio/60spop": "60s pop", "casio/80spop": "80s pop", "casio/8beat1": "eight-beat pop",
    "casio/8beat2": "eight-beat pop", "casio/8beat3": "eight-beat pop", "casio/8beatpop1": "pop",
    "casio/8beatpop2": "latin-tinged pop", "casio/8beatpop3": "driving pop", "casio/pop": "pop",
    "casio/popballad": "pop ballad", "casio/popshuffle1": "bubblegum pop shuffle",
    "casio/popshuffle2": "pop shuffle", "casio/soulpop": "soul pop", "casio/popwaltz": "pop waltz",
    "casio/twist": "twist", "kara/8beatmotown": "Motown pop", "kara/fasttwist": "fast twist",
    "kara/twi": "twist", "casio/60srock": "60s rock", "casio/rock1": "hard rock",
    "casio/rock2": "driving rock", "casio/slowrock": "slow rock", "casio/shufflerock": "60s shuffle rock",
    "casio/digitalrock": "heavy digital rock", "pflib/8beat1": "classic rock",
    "pflib/8beat2": "classic rock", "pflib/rock1": "classic rock", "pflib/slowrock": "50s slow rock",
    "pflib/highfive": "rock", "kara/K50s_rock": "50s rock", "yamaha/w-rock": "rock",
}

# tempo ranges (quarter-note bpm) per style; default below
TEMPO_RANGE = {
    "slow": (55, 85), "fast": (150, 200), "ballad": (60, 88), "bebop": (170, 230),
    "ska": (140, 190), "trance": (125, 145), "boneym": (110, 130), "dsoul": (105, 125),
    "bvfunk": (90, 115), "march": (100, 126), "68march": (100, 126), "polka": (100, 140),
    "tango": (110, 130), "lighttango": (110, 130), "bossanova": (110, 150),
    "samba": (140, 190), "salsa": (150, 200), "mambo": (150, 200), "rhumba": (90, 120),
    "bolero": (80, 110), "ragtime": (90, 130), "spiritual": (70, 110), "folk": (90, 130),
    "countryswing": (140, 190), "bluegrass": (150, 200), "westernswing": (130, 180),
    "vienesewaltz": (160, 190), "swing": (110, 180), "bigband": (120, 190), "dixie": (150, 200),
    "twist": (140, 170), "boggiewoggie": (120, 170), "rock-128": (60, 90),
    "popspiritual": (80, 110), "folkballad": (70, 95), "jazzguitar": (60, 90),
    "pianoballad": (60, 90),
    # the other libraries, where a Doc names a tempo
    "kara/kwestballad": (65, 100), "kara/fasttwist": (130, 150), "casio/jazzwaltz": (130, 170),
    "casio/middlebigband": (70, 95), "yamaha/western": (100, 160),
}
DEFAULT_TEMPO = (80, 160)


def tempo_range(style: str):
    if style in TEMPO_RANGE:
        return TEMPO_RANGE[style]
    style = style.rsplit("/", 1)[-1]  # another library's groove: by its file name, as stdlib's
    if style in TEMPO_RANGE:
        return TEMPO_RANGE[style]
    if style.startswith("slow"):
        return TEMPO_RANGE["slow"]
    if style.startswith("fast"):
        return TEMPO_RANGE["fast"]
    if "ballad" in style:
        return TEMPO_RANGE["ballad"]
    return DEFAULT_TEMPO


# ----------------------------------------------------------------------------------------------
# progressions: written in C major / A minor, one chord per bar; MMA chord names
# ----------------------------------------------------------------------------------------------
PROGRESSIONS = {
    "blues_I-IV-V": ("C", "C7 C7 C7 C7 F7 F7 C7 C7 G7 F7 C7 G7"),
    "quickchange_blues": ("C", "C7 F7 C7 C7 F7 F7 C7 C7 G7 F7 C7 C7"),
    "ii-V-I": ("C", "Dm7 G7 Cmaj7 Cmaj7 Dm7 G7 Cmaj7 A7"),
    "I-vi-IV-V": ("C", "C Am F G C Am F G"),
    "I-V-vi-IV": ("C", "C G Am F C G Am F"),
    "minor_i-iv-v": ("Am", "Am Dm Em Am Am Dm E7 Am"),
    "I-IV-I-V": ("C", "C F C G C F G C"),
    "andalusian": ("Am", "Am G F E Am G F E"),
    "minor_ii-V-i": ("Am", "Bm7b5 E7 Am Am Bm7b5 E7 Am A7"),
    "I-IV-V-IV": ("C", "C F G F C F G F"),
    "I-iii-IV-V": ("C", "C Em F G C Em F G7"),
    "circle_of_fifths": ("C", "C Am7 Dm7 G7 Em7 A7 Dm7 G7"),
}
PITCHES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]

# ----------------------------------------------------------------------------------------------
# voice pools (MMA voice names = GM programs)
# ----------------------------------------------------------------------------------------------
CHORD_POOL = {
    "blues": ["Piano1", "Honky-TonkPiano", "CleanGuitar", "OverDriveGuitar", "Organ3", "RhodesPiano"],
    "country": ["SteelGuitar", "NylonGuitar", "Piano1", "Honky-TonkPiano", "Banjo", "Accordion"],
    "disco": ["EPiano", "Strings", "CleanGuitar", "SynthStrings1", "BrassSection", "Clavinet"],
    "jazz": ["Piano1", "JazzGuitar", "Vibraphone", "RhodesPiano", "EPiano", "Organ1"],
    "pop": ["Piano1", "EPiano", "CleanGuitar", "SteelGuitar", "Strings", "WarmPad"],
    "reggae": ["Organ2", "CleanGuitar", "MutedGuitar", "Piano1", "EPiano"],
    "rock": ["OverDriveGuitar", "DistortionGuitar", "CleanGuitar", "Piano1", "Organ3", "SteelGuitar"],
    "metal": ["DistortionGuitar", "OverDriveGuitar", "DistortionGuitar", "Organ3"],
    "hiphop": ["EPiano", "RhodesPiano", "Strings", "WarmPad", "SynthStrings1", "Piano1"],
    "other": ["Piano1", "NylonGuitar", "Accordion", "Strings", "Vibraphone", "Marimba", "Organ1",
              "PolySynth"],
}
BASS_POOL = ["AcousticBass", "FingeredBass", "PickedBass", "FretlessBass", "SlapBass1", "SynthBass1"]
LEAD_POOL = ["Flute", "Violin", "Cello", "Clarinet", "Trumpet", "AltoSax", "Vibraphone",
             "OrchestralHarp", "Piano2", "SteelGuitar"]
# classical programs: acoustic grand, string ensemble, church organ, harpsichord, violin, cello,
# flute, choir aahs
CLASSICAL_PROGRAMS = [0, 48, 19, 6, 40, 42, 73, 52]


def program_tags(p: int):
    t = []
    if p in (0, 1, 2, 3, 4, 5):
        t.append("piano")
    if p == 6:
        t.append("harpsichord")
    if 24 <= p <= 31:
        t.append("guitar")
    if 40 <= p <= 51 and p not in (46, 47):
        t.append("strings")
    if p in (40, 110):
        t += ["violin", "strings"]
    if p == 42:
        t.append("cello")
    if p == 46:
        t.append("harp")
    if p == 73:
        t.append("flute")
    if p == 52:
        t += ["choir", "choral"]
    if p in (38, 39, 50, 51, 62, 63) or 80 <= p <= 103:
        t.append("synth")
    if p == 104:
        t.append("sitar")
    return t


GENRE_TAGS = {
    "rock": ["rock"], "pop": ["pop"], "country": ["country"], "classical": ["classical", "classic"],
    "disco": ["dance"], "metal": ["metal", "rock"],
}
STYLE_TAGS = {"trance": ["electronic", "techno", "dance"], "countryblues": ["country"],
              "countrywaltz": ["country"]}


# ----------------------------------------------------------------------------------------------
# groove-file parsing
# ----------------------------------------------------------------------------------------------
def groove_file(stem: str, root: Path | None = None) -> Path:
    """The groove file of a stdlib name ("swing") or of LIBRARY/NAME ("casio/swing") under ROOT
    (default MMA_ROOT, the installed `mma`'s library, which is also the one it renders with)."""
    if root is None:
        return (MMA_ROOT if "/" in stem else MMA_LIB) / f"{stem}.mma"
    return (Path(root) if "/" in stem else Path(root) / "stdlib") / f"{stem}.mma"


def groove_variants(stem: str, root: Path | None = None) -> list[str]:
    txt = groove_file(stem, root).read_text(errors="ignore")
    names = re.findall(r"^\s*DefGroove\s+(\S+)", txt, flags=re.M | re.I)
    out = []
    for n in names:
        if re.search(r"intro|end|fill", n, re.I) or n in out:
            continue
        out.append(n)
    return out


def groove_doc(stem: str, root: Path | None = None) -> str:
    txt = groove_file(stem, root).read_text(errors="ignore")
    m = re.search(r"Begin Doc(.*?)\n\s*End", txt, flags=re.S | re.I)
    return " ".join(m.group(1).split()) if m else ""


def groove_beats_per_bar(stem: str, root: Path | None = None) -> int:
    txt = groove_file(stem, root).read_text(errors="ignore")
    m = re.search(r"^\s*Time\s+(\d+)", txt, flags=re.M | re.I)
    return int(m.group(1)) if m else 4


# ----------------------------------------------------------------------------------------------
# audio helpers
# ----------------------------------------------------------------------------------------------
def write_clip(y, out_path, title, genre):
    write_ogg(y, out_path, title, "MMA + FluidSynth render", genre)


# ----------------------------------------------------------------------------------------------
# workers
# ----------------------------------------------------------------------------------------------
def mma_song(task: dict) -> str:
    """The MMA song file of a planned groove clip: tempo, groove, voices, one chord a bar."""
    chords = PROGRESSIONS[task["progression"]][1].split()
    lines = [f"Tempo {task['tempo']}", f"Groove {task['variant']}"]
    if "/" in task["groove"]:  # another library's file: load it first, since stdlib may
        lines.insert(0, f"Use {task['groove']}")  # define a groove of the same name
    if task["transpose"]:
        lines.insert(0, f"Transpose {task['transpose']}")
    if task.get("chord_voice"):
        lines.append(f"AllTracks Chord Voice {task['chord_voice']}")
    if task.get("bass_voice"):
        lines.append(f"AllTracks Bass Walk Voice {task['bass_voice']}")
    if task.get("lead_voice"):
        lines.append(f"AllTracks Arpeggio Scale Voice {task['lead_voice']}")
    for k in range(task["bars"]):
        lines.append(f"{k + 1} {chords[k % len(chords)]}")
    return "\n".join(lines) + "\n"


def render_mma(task):
    """task: dict planned in the parent. returns (task, result-dict or None, error-str or None)."""
    try:
        with tempfile.TemporaryDirectory(prefix="mmaclip_") as td:
            td = Path(td)
            song, mid, wav = td / "song.mma", td / "out.mid", td / "out.wav"
            song.write_text(mma_song(task))
            r = subprocess.run(["mma", "-f", str(mid), str(song)], capture_output=True,
                               timeout=60, cwd=td)
            if r.returncode != 0 or not mid.exists():
                err = (r.stdout + r.stderr).decode(errors="ignore")
                err = " ".join(l for l in err.splitlines() if "PLUGIN" not in l)
                return task, None, "mma: " + err[-300:]
            progs, drums = midi_instruments(mid)
            y = fluid_render(mid, wav, soundfont_path(task))
            return finish_clip(task, y, excerpt(y, MMA_START_S), progs, drums)
    except Exception as e:  # noqa: BLE001
        return task, None, f"{type(e).__name__}: {e}"[:300]


def finish_clip(task, y, seg, progs, drums, **extra):
    """Reject short or silent renders, else write the clip; the worker's (task, info, error)."""
    if len(seg) < int((CLIP_S - 1.0) * SR):
        return task, None, f"short render {len(y) / SR:.1f}s"
    rms = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))
    if rms < 1e-3:
        return task, None, f"silent rms={rms:.2e}"
    write_clip(seg, Path(task["out_path"]), task["title"], task["genre"])
    return task, {"programs": progs, "drums": drums, "rms": rms, "dur": len(seg) / SR, **extra}, None


def render_classical(task):
    try:
        from music21 import corpus, instrument, tempo as m21tempo
        s = corpus.parse(task["piece"])
        if task["max_measures"]:
            s = s.measures(1, task["max_measures"])
        key = score_key(s, unknown="unknown")
        prog = task["program"]
        first_bar_ql = 4.0
        for p in s.parts:
            for el in list(p.recurse().getElementsByClass(instrument.Instrument)):
                el.activeSite.remove(el)
            for el in list(p.recurse().getElementsByClass(m21tempo.MetronomeMark)):
                el.activeSite.remove(el)
            inst = instrument.instrumentFromMidiProgram(prog)
            inst.midiProgram = prog
            p.insert(0, inst)
            p.insert(0, m21tempo.MetronomeMark(number=task["tempo"]))
        ms = s.parts[0].getElementsByClass("Measure")
        if len(ms):
            first_bar_ql = float(ms[0].duration.quarterLength) or 4.0
        with tempfile.TemporaryDirectory(prefix="m21clip_") as td:
            td = Path(td)
            mid, wav = td / "out.mid", td / "out.wav"
            s.write("midi", fp=str(mid))
            progs, drums = midi_instruments(mid)
            y = fluid_render(mid, wav, soundfont_path(task))
            rng = random.Random(task["rng_seed"])
            start = first_bar_ql * 60.0 / task["tempo"] + 0.25
            seg = excerpt(y, start, rng, latest_start=len(y) / SR - CLIP_S - 1.0)
            return finish_clip(task, y, seg, progs, drums, key=key)
    except Exception as e:  # noqa: BLE001
        return task, None, f"{type(e).__name__}: {e}"[:300]


def soundfont_path(task: dict) -> str:
    """The planned soundfont, or the one --render-soundfont puts in its place."""
    return task.get("soundfont_path") or SOUNDFONTS[task["soundfont"]]


def run_task(task):
    return render_classical(task) if task["genre"] == "classical" else render_mma(task)


# ----------------------------------------------------------------------------------------------
# planning
# ----------------------------------------------------------------------------------------------
def transpose_key(base_key, k):
    minor = base_key.endswith("m")
    root = PITCHES.index(base_key.rstrip("m"))
    return f"{PITCHES[(root + k) % 12]} {'minor' if minor else 'major'}"


def classical_pieces():
    from music21 import corpus
    bach = sorted(str(p) for p in corpus.getComposer("bach")
                  if re.search(r"bwv[^/]*\.(mxl|xml|krn)$", str(p).lower()))
    quartets = []
    for comp in ("mozart", "haydn"):
        for p in corpus.getComposer(comp):
            sp = str(p)
            if sp.endswith(".mxl") and "movement" in sp.split("/")[-1]:
                quartets.append(sp)
    return bach, sorted(quartets)


def piece_id(path):
    parts = Path(path).parts
    i = parts.index("corpus") if "corpus" in parts else len(parts) - 3
    return "/".join(parts[i + 1:]).rsplit(".", 1)[0]


# Held-out progressions, chosen by hand: one major, one minor, neither a blues (a seeded draw
# once picked both blues progressions, which made every held-out clip a 12-bar blues).
TEST_PROGRESSIONS = ("I-iii-IV-V", "minor_ii-V-i")


def plan(args):
    rng = random.Random(args.seed)
    out = Path(args.out)
    prog_names = sorted(PROGRESSIONS)
    test_progs = sorted(TEST_PROGRESSIONS)
    train_progs = [p for p in prog_names if p not in test_progs]

    library = getattr(args, "library", "stdlib")
    stdlib = library == "stdlib"
    min_clips = getattr(args, "min_clips_per_genre", 0)
    root = getattr(args, "mma_root", None)  # tests plan from a fake library
    groove_info, heldout = {}, {"files": {}, "variants": {}}
    tasks = []
    for genre, grooves in sorted(LIBRARIES[library].items()):
        files = [f for f in grooves if groove_file(f, root).exists()]
        for f in files:
            groove_info[f] = {"genre": genre, "variants": groove_variants(f, root),
                              "doc": groove_doc(f, root)[:200], "beats_per_bar": groove_beats_per_bar(f, root)}
        clips_per_file = max(args.clips_per_style, math.ceil(min_clips / max(1, len(files))))
        file_split = {}
        if len(files) >= MIN_HELDOUT_FILES[library]:
            n_test = max(1, round(0.25 * len(files)))
            test_files = set(rng.sample(files, n_test))
            heldout["files"][genre] = sorted(test_files)
            for f in files:
                file_split[f] = "test" if f in test_files else "train"
        for f in files:
            vars_ = groove_info[f]["variants"]
            if not vars_:
                continue
            if f in file_split:
                var_split = {v: file_split[f] for v in vars_}
            elif not stdlib:  # another library's genre with few files: all of them train
                var_split = {v: "train" for v in vars_}
            else:  # few files: hold out groove variants instead
                n_test = max(1, round(0.25 * len(vars_))) if len(vars_) >= 2 else 0
                tv = set(rng.sample(vars_, n_test))
                heldout["variants"][f] = sorted(tv)
                var_split = {v: ("test" if v in tv else "train") for v in vars_}
            lo, hi = tempo_range(f)
            bpb = groove_info[f]["beats_per_bar"]
            for idx in range(clips_per_file):
                if f in file_split:
                    split = file_split[f]
                else:
                    has_test = any(s == "test" for s in var_split.values())
                    split = "test" if (has_test and idx % 4 == 3) else "train"
                variant = rng.choice(sorted(v for v, s in var_split.items() if s == split))
                progression = rng.choice(test_progs if split == "test" else train_progs)
                tempo = rng.randint(lo, hi)
                transpose = rng.randint(-5, 6)
                bar_s = bpb * 60.0 / tempo
                plen = len(PROGRESSIONS[progression][1].split())
                bars = max(plen, math.ceil((CLIP_S + MMA_START_S + 1.5) / bar_s))
                pool = CHORD_POOL[genre]
                if f == "trance":
                    pool = ["PolySynth", "WarmPad", "SawWave", "SynthStrings1", "SquareWave"]
                sfname = rng.choice(sorted(SOUNDFONTS))
                tasks.append({
                    "genre": genre, "style": f, "groove": f, "variant": variant, "split": split,
                    "progression": progression, "tempo": tempo, "transpose": transpose,
                    "key": transpose_key(PROGRESSIONS[progression][0], transpose), "bars": bars,
                    "chord_voice": rng.choice(pool) if rng.random() < 0.5 else None,
                    "bass_voice": (rng.choice(["SynthBass1", "SynthBass2"]) if f == "trance"
                                   else rng.choice(BASS_POOL)) if rng.random() < 0.5 else None,
                    "lead_voice": rng.choice(LEAD_POOL) if rng.random() < 0.4 else None,
                    "soundfont": sfname,
                    "out_path": str(out / "audio" / genre / f"{f.replace('/', '-')}_{idx:04d}.ogg"),
                    "title": f"{STYLE_WORD.get(f, f).title()} groove #{idx}",
                })

    if not stdlib:  # the other libraries have no scores: classical is stdlib's plan alone
        return tasks, groove_info, heldout, test_progs, train_progs
    # classical from music21
    n_classical = args.classical_clips or max(4, round(args.clips_per_style * 7.5))
    bach, quartets = classical_pieces()
    n_q = min(len(quartets), max(2, n_classical // 15))
    q_sel = rng.sample(quartets, n_q)
    n_b = min(len(bach), max(2, (n_classical - 3 * n_q) // 2))
    b_sel = rng.sample(bach, n_b)
    pieces = [(p, "chorale") for p in sorted(b_sel)] + [(p, "quartet") for p in sorted(q_sel)]
    piece_split = {}
    for kind in ("chorale", "quartet"):
        ps = [p for p, k in pieces if k == kind]
        if len(ps) >= 3:
            tp = set(rng.sample(ps, max(1, round(0.25 * len(ps)))))
        else:
            tp = set(ps[:1]) if len(ps) >= 2 else set()
        for p in ps:
            piece_split[p] = "test" if p in tp else "train"
    heldout["files"]["classical"] = sorted(piece_id(p) for p, s in piece_split.items()
                                           if s == "test")
    per_piece = {"chorale": 2, "quartet": 3}
    counters = {"chorale": 0, "quartet": 0}
    for p, kind in pieces:
        for j in range(per_piece[kind]):
            if counters["chorale"] + counters["quartet"] >= n_classical:
                break
            idx = counters[kind]
            counters[kind] += 1
            tempo = rng.randint(56, 96) if kind == "chorale" else rng.randint(72, 140)
            progs = CLASSICAL_PROGRAMS if kind == "chorale" else [48, 0, 40, 42, 6, 73, 19]
            tasks.append({
                "genre": "classical", "style": kind, "groove": piece_id(p), "piece": p,
                "variant": "", "split": piece_split[p], "progression": "-", "tempo": tempo,
                "transpose": 0, "key": "", "program": rng.choice(progs),
                "max_measures": 0 if kind == "chorale" else 48,
                "soundfont": rng.choice(sorted(SOUNDFONTS)), "rng_seed": rng.randrange(1 << 30),
                "out_path": str(out / "audio" / "classical" / f"{kind}_{idx:04d}.ogg"),
                "title": f"{STYLE_WORD[kind].title()} #{idx}",
            })
    return tasks, groove_info, heldout, test_progs, train_progs


# ----------------------------------------------------------------------------------------------
# captions
# ----------------------------------------------------------------------------------------------
def make_row(task, res, out, rng):
    progs = res["programs"]
    instruments = []
    for p in progs:
        n = GM_NAMES[p]
        if n not in instruments:
            instruments.append(n)
    if res["drums"]:
        instruments.append("drums")
    tempo = task["tempo"]
    tags = []
    if tempo >= 140:
        tags.append("fast")
    elif tempo <= 80:
        tags.append("slow")
    if res["drums"]:
        tags += ["drums", "beat"]
    for p in progs:
        tags += program_tags(p)
    tags += GENRE_TAGS.get(task["genre"], []) + STYLE_TAGS.get(task["style"], [])
    tags.append("no vocals")
    seen = []
    for t in tags:
        if t in MTAT_VOCAB and t not in seen:
            seen.append(t)
    tags = seen
    key = res.get("key") or task["key"]
    genre = task["genre"]
    style_w = STYLE_WORD.get(task["style"], task["style"])
    genre_w = style_w if genre == "other" else genre
    tempo_w = "fast" if tempo >= 140 else "slow" if tempo <= 80 else "mid-tempo"
    if style_w.startswith(("slow", "fast")):
        tempo_w = ""
    inst_w = join_words(instruments) if instruments else "various instruments"
    is_cl = genre == "classical"
    unit = "piece" if is_cl else "groove"
    cands = [
        f"The song belongs to {genre_w}.",
        with_article(f"{tempo_w} {style_w} {unit} with {inst_w}.", cap=True),
        f"The music is characterized by {join_words(tags)}.",
        f"An instrumental {genre_w} track in {key} at {tempo} bpm featuring {inst_w}.",
        f"{style_w[0].upper() + style_w[1:]} music played on {inst_w}, "
        f"{tempo_w or 'instrumental'}, no singing.",
        "This is " + with_article(f"{tempo_w} {genre_w} recording; you can hear {inst_w}."),
    ]
    if is_cl:
        cands.append(f"A classical {style_w} excerpt in {key} performed by {inst_w}.")
    elif task["progression"] != "-":
        prog_w = task["progression"].replace("_", " ")
        cands.append(with_article(f"{style_w} accompaniment over " + with_article(f"{prog_w} chord progression")
                        + f" in {key}.", cap=True))
    order = cands[:]
    rng.shuffle(order)
    text = order[0]
    texts = order[1:1 + rng.choice([3, 4])]
    return {
        "path": os.path.relpath(task["out_path"], out),
        "text": text,
        "texts": " | ".join(texts),
        "genre": genre,
        "style": task["style"],
        "groove": task["variant"] or task["groove"],
        "tempo": tempo,
        "key": key,
        "progression": task["progression"],
        "instruments": ";".join(instruments),
        "soundfont": task["soundfont"],
        "tags": ";".join(tags),
        "split": task["split"],
    }


def thin(tasks: list[dict], subsample: int = 1, complement_of: int = 0) -> list[dict]:
    """Every `subsample`-th task of the plan, or, with `complement_of` N, exactly the tasks that
    `--subsample N` leaves out: a corpus rendered with --subsample N grows to the whole plan
    without re-rendering or duplicating a clip (the plan, so its held-out grooves, is the same)."""
    if complement_of > 1:
        return [t for i, t in enumerate(tasks) if i % complement_of]
    return tasks[:: max(1, subsample)]


def retempo(tasks: list[dict], tempo_range: Sequence[int] | None, genres: Sequence[str] = (),
            seed: int = 0, root: Path | None = None) -> list[dict]:
    """The groove tasks of `genres` (all genres when empty; classical pieces, which have no
    groove, are dropped when a range is given), each at a tempo drawn from `tempo_range`
    (LO, HI bpm) instead of its groove's own range, with enough bars for the clip. The draw is
    seeded per task, so a rebuild renders the same clips. Genre grooves are otherwise played in
    narrow ranges (every training country groove but one at 130-200 bpm, the held-out
    slowcountry at 55-84): other tempos keep genre from being learnt as tempo."""
    kept = [t for t in tasks if not genres or t["genre"] in genres]
    if tempo_range is None:
        return kept
    lo, hi = tempo_range
    out, beats_per_bar = [], {}  # groove -> beats per bar, read once per groove file
    for t in kept:
        if "piece" in t:  # a music21 score: its tempo is its own
            continue
        rng = random.Random(f"tempo-{seed}-{t['out_path']}")
        tempo = rng.randint(lo, hi)
        if t["groove"] not in beats_per_bar:
            lib = MMA_LIB if root is None else Path(root) / "stdlib"
            beats_per_bar[t["groove"]] = groove_beats_per_bar(t["groove"], root) if lib.is_dir() else 4
        bpb = beats_per_bar[t["groove"]]
        bars = max(len(PROGRESSIONS[t["progression"]][1].split()),
                   math.ceil((CLIP_S + MMA_START_S + 1.5) / (bpb * 60.0 / tempo)))
        out.append({**t, "tempo": tempo, "bars": bars})
    return out


def restrict(tasks: list[dict], split: str | None, soundfont: str | None) -> list[dict]:
    """The planned tasks of one split (all for None), each rendered through `soundfont`
    ("NAME=PATH") when given; CorpusOptionError for a malformed or missing soundfont."""
    tasks = [t for t in tasks if split in (None, t["split"])]
    if soundfont:
        name, sep, path = soundfont.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise CorpusOptionError(f"--render-soundfont {soundfont!r}: expected NAME=PATH of an "
                                    "existing .sf2/.sf3 file")
        tasks = [{**t, "soundfont": name, "soundfont_path": path} for t in tasks]
    return tasks


# what each library cannot render, and how its plan is split (in every summary)
NOT_PRODUCED = {
    "stdlib": {
        "hiphop": "no honest hip-hop source (no rap vocals / sampled breaks) in MMA or music21",
        "metal": "no metal groove in stdlib; distorted GM guitar over MMA rock beats would be fake",
    },
    "more": {
        "classical": "no scores: classical comes from stdlib's plan (music21)",
        "reggae": "no reggae or ska groove in the other libraries but zoom's drums-only pattern",
    },
}
LIBRARY_NOTES = {
    "stdlib": [
        "reggae is represented only by MMA's ska groove (no reggae groove exists in MMA)",
        "disco has 2 groove files (boneym, dsoul): held out by groove variant",
        "bvfunk (Bob's Funk) is labelled other/funk, not disco",
        "classical = music21 Bach chorales + Mozart/Haydn quartet movements, one GM program "
        "for all parts; held out by piece",
    ],
    "more": [
        "keyboard styles converted from Casio, Yamaha and karaoke .sty files, pflib and alexis; "
        "genre from each file's name and Doc; hip-hop and metal are keyboard imitations "
        "(no rap, GM distortion guitar)",
        f"a genre with at least {MORE_MIN_HELDOUT_FILES} files holds out a quarter of them; "
        "country, blues, disco, hip-hop and metal have fewer and train on all",
        "zoom's drum-machine patterns are left out (drums only)",
    ],
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--clips-per-style", type=int, default=40,
                    help="clips rendered per MMA groove file")
    ap.add_argument("--classical-clips", type=int, default=0,
                    help="music21 classical clips (default 7.5 x clips-per-style)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--subsample", type=int, default=1, metavar="N",
                    help="render every Nth clip of the plan (the plan, and so its held-out grooves "
                         "and pieces, stays that of --clips-per-style and --classical-clips)")
    ap.add_argument("--complement-of", type=int, default=0, metavar="N",
                    help="render the clips of the plan that --subsample N leaves out (grow a "
                         "corpus built with --subsample N to the whole plan, in another folder)")
    ap.add_argument("--only-split", choices=("train", "test"),
                    help="render only the clips of one split of the same plan")
    ap.add_argument("--render-soundfont", metavar="NAME=PATH",
                    help="render every clip through this soundfont instead of the planned one "
                         "(same plan, grooves and splits): a held-out soundfont test set")
    ap.add_argument("--tempo-range", nargs=2, type=int, metavar=("LO", "HI"),
                    help="render every groove clip at a tempo drawn from LO..HI bpm instead of its "
                         "groove's range (classical pieces are left out)")
    ap.add_argument("--library", choices=sorted(LIBRARIES), default="stdlib",
                    help="stdlib: MMA's standard grooves and the music21 scores (the plan of every "
                         "checkpoint so far); more: the GTZAN-genre grooves of MMA's other "
                         "libraries (casio, yamaha, kara, pflib, alexis), no scores")
    ap.add_argument("--min-clips-per-genre", type=int, default=0, metavar="N",
                    help="plan more clips per groove file where a genre has few files, so that "
                         "each genre has at least N")
    ap.add_argument("--genres", nargs="+", default=[], metavar="GENRE",
                    help="render only the clips of these genres (e.g. blues country jazz)")
    args = ap.parse_args(argv)
    if args.tempo_range and not 20 <= args.tempo_range[0] <= args.tempo_range[1] <= 400:
        raise CorpusOptionError(f"--tempo-range {args.tempo_range[0]} {args.tempo_range[1]}: "
                                "expected 20 <= LO <= HI <= 400 bpm")
    if args.complement_of and args.subsample > 1:
        raise CorpusOptionError("--complement-of and --subsample exclude each other")
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks, groove_info, heldout, test_progs, train_progs = plan(args)
    tasks = restrict(thin(tasks, args.subsample, args.complement_of), args.only_split, args.render_soundfont)
    tasks = retempo(tasks, args.tempo_range, args.genres, args.seed)
    print(f"planned {len(tasks)} clips", flush=True)

    results, failures = {}, []
    # classical jobs are slower: submit them first so they do not straggle at the end
    order = sorted(range(len(tasks)), key=lambda i: tasks[i]["genre"] != "classical")
    with cf.ProcessPoolExecutor(max_workers=args.jobs) as ex:
        futs = {ex.submit(run_task, tasks[i]): i for i in order}
        for n, fu in enumerate(cf.as_completed(futs), 1):
            i = futs[fu]
            _, res, err = fu.result()
            if err:
                failures.append({"path": os.path.relpath(tasks[i]["out_path"], out),
                                 "groove": tasks[i]["variant"] or tasks[i]["groove"],
                                 "error": err})
            else:
                results[i] = res
            if n % 100 == 0 or n == len(tasks):
                el = time.time() - t0
                print(f"{n}/{len(tasks)} done, {len(failures)} failed, {el:.0f}s elapsed, "
                      f"eta {el / n * (len(tasks) - n):.0f}s", flush=True)

    rows = []
    for i in sorted(results):
        rows.append(make_row(tasks[i], results[i], out, random.Random(f"{args.seed}-{i}")))
    rows.sort(key=lambda r: r["path"])
    write_csv(out / "captions.csv", MMA_COLUMNS, rows)

    counts = split_counts(rows, "genre")
    total_s = sum(res["dur"] for res in results.values())
    summary = {
        "command": command_line("muser_train.corpus.mma", argv),
        "seed": args.seed,
        "clips": len(rows),
        "counts": counts,
        "split_totals": {s: sum(c[s] for c in counts.values()) for s in ("train", "test")},
        "total_hours": round(total_s / 3600, 3),
        "clip_seconds": CLIP_S,
        "sample_rate": SR,
        "failures": len(failures),
        "failure_list": failures,
        "soundfonts": ({args.render_soundfont.partition("=")[0]: args.render_soundfont.partition("=")[2]}
                       if args.render_soundfont else SOUNDFONTS),
        "only_split": args.only_split,
        "subsample": args.subsample,
        "complement_of": args.complement_of,
        "tempo_range": args.tempo_range,
        "genres": args.genres,
        "groove_to_genre": {f: gi["genre"] for f, gi in groove_info.items()},
        "groove_variants": {f: gi["variants"] for f, gi in groove_info.items()},
        "groove_docs": {f: gi["doc"] for f, gi in groove_info.items()},
        "heldout_groove_files": heldout["files"],
        "heldout_groove_variants": heldout["variants"],
        "test_progressions": test_progs,
        "train_progressions": train_progs,
        "progressions": {k: {"key": v[0], "chords": v[1]} for k, v in PROGRESSIONS.items()},
        "library": args.library,
        "not_produced": NOT_PRODUCED[args.library],
        "notes": [*LIBRARY_NOTES[args.library],
                  "instruments/tags derived from programs actually sounding in the rendered MIDI"],
        "elapsed_s": round(time.time() - t0, 1),
    }
    finish(out, summary, ("clips", "counts", "split_totals", "total_hours", "failures", "elapsed_s"))
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
