"""Tiny FMA, MagnaTagATune and GTZAN datasets written in their real on-disk layouts (no network)."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np

from muser_model.core.vocab import MTT_TAGS
from tests.conftest import write_clip


def write_audio(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    """A short seeded tone; the format follows the suffix (.mp3, .wav, .au)."""
    return write_clip(path, 180.0 + 40 * seed, seconds, seed=seed)


# ----------------------------------------------------------------------------- FMA

FMA_COLUMNS: list[tuple[str, str]] = (
    [("album", f) for f in ("comments", "date_created", "date_released", "engineer", "favorites", "id",
                            "information", "listens", "producer", "tags", "title", "tracks", "type")]
    + [("artist", f) for f in ("active_year_begin", "active_year_end", "associated_labels", "bio",
                               "comments", "date_created", "favorites", "id", "latitude", "location",
                               "longitude", "members", "name", "related_projects", "tags", "website",
                               "wikipedia_page")]
    + [("set", "split"), ("set", "subset")]
    + [("track", f) for f in ("bit_rate", "comments", "composer", "date_created", "date_recorded",
                              "duration", "favorites", "genre_top", "genres", "genres_all",
                              "information", "interest", "language_code", "license", "listens",
                              "lyricist", "number", "publisher", "tags", "title")]
)

# track_id, set.subset, set.split, track.title, artist.name, track.genre_top, track.tags
FMA_TRACKS: list[tuple[int, str, str, str, str, str, str]] = [
    (2, "small", "training", "Food, Glorious Food", "AWOL", "Hip-Hop", "['indie', 'lo-fi']"),
    (5, "small", "validation", "This World\nRevisited", "AWOL", "Hip-Hop", "[]"),
    (10, "small", "test", 'Freeway "Live", Part 2', "Kurt Vile", "pop", "['unterminated"),
    (140, "small", "training", "Queen Of The Wires", "Alec K. Redfearn", "Folk", "['folk', 42]"),
]
FMA_MEDIUM = (1482, "medium", "training", "Medium Track", "Mid Artist", "Rock", "[]")
FMA_LARGE = (123456, "large", "test", "Large Track", "Big Artist", "", "[]")

# genre_id, #tracks, parent, title, top_level
FMA_GENRES = [
    (10, 13845, 0, "Pop", 10), (12, 32923, 0, "Rock", 12), (17, 12706, 0, "Folk", 17),
    (21, 8389, 0, "Hip-Hop", 21), (25, 9261, 12, "Punk", 12), (76, 1435, 10, "Experimental Pop", 10),
]


def fma_tracks(n: int) -> list[tuple[int, str, str, str, str, str, str]]:
    """The four special small-subset rows, then generic ones up to `n` small tracks."""
    rows = list(FMA_TRACKS[:n])
    splits = ("training", "training", "validation", "test")
    for i in range(len(rows), n):
        rows.append((200 + i, "small", splits[i % 4], f"Song {i}", f"Artist {i}", "Rock", "['rock']"))
    return rows


def make_fma(root: Path, n: int = 4, missing: tuple[int, ...] = (),
             omit_columns: tuple[tuple[str, str], ...] = (), metadata_inside: bool = False,
             with_genres: bool = True, with_medium_large: bool = True,
             audio_folder: str = "fma_small") -> dict:
    """`root/fma_small/NNN/NNNNNN.mp3` + `root/fma_metadata/{tracks,genres}.csv` (3-line header).

    `missing`: track ids listed in tracks.csv without an audio file. `omit_columns`: (group, field)
    columns left out of tracks.csv. `metadata_inside`: put fma_metadata/ inside fma_small/.
    `audio_folder`: the audio folder's name (fma_medium, ...; every listed track is written to it).
    """
    data_dir = root / audio_folder
    meta_dir = data_dir / "fma_metadata" if metadata_inside else root / "fma_metadata"
    meta_dir.mkdir(parents=True, exist_ok=True)
    rows = fma_tracks(n) + ([FMA_MEDIUM, FMA_LARGE] if with_medium_large else [])
    columns = [c for c in FMA_COLUMNS if c not in omit_columns]
    paths = {}
    with open(meta_dir / "tracks.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([""] + [g for g, _ in columns])
        w.writerow([""] + [fld for _, fld in columns])
        w.writerow(["track_id"] + [""] * len(columns))
        for tid, subset, split, title, artist, genre, tags in rows:
            values = {("set", "subset"): subset, ("set", "split"): split, ("track", "title"): title,
                      ("artist", "name"): artist, ("track", "genre_top"): genre, ("track", "tags"): tags,
                      ("album", "title"): f"Album of {artist}", ("album", "tags"): "['album-tag']",
                      ("artist", "tags"): "['artist-tag']", ("track", "duration"): "30",
                      ("artist", "bio"): "<p>Line one,\nline two</p>", ("track", "genres"): "[21]"}
            w.writerow([tid] + [values.get(c, "") for c in columns])
            name = f"{tid:06d}"
            paths[tid] = data_dir / name[:3] / f"{name}.mp3"
            if tid not in missing:
                write_audio(paths[tid], seed=tid % 7)
    if with_genres:
        with open(meta_dir / "genres.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["genre_id", "#tracks", "parent", "title", "top_level"])
            w.writerows(FMA_GENRES)
    return {"data_dir": data_dir, "metadata_dir": meta_dir, "tracks_csv": meta_dir / "tracks.csv",
            "paths": paths}


# ----------------------------------------------------------------------------- MagnaTagATune

# clip_id, mp3_path, tags (top-50 and others)
MTT_CLIPS: list[tuple[int, str, set[str]]] = [
    (2, "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3",
     {"classical", "violin", "singer", "baroque"}),
    (6, "0/jacob_heringman-josquin_des_prez_lute_arrangements-08-faulte_dargent-88-117.mp3",
     {"guitar", "slow", "plucking"}),
    (10, "1/tilopa-turkishauch-05-tilopa_remix-146-175.mp3", {"techno", "beat", "electronic"}),
    (12, "a/janine_johnson-chopin_recital-01-waltz_kk_iva_no_12_in_e_major-0-29.mp3",
     {"piano", "solo", "clasical"}),
    (15, "b/processor-insomnia-04-shine-117-146.mp3", {"bongos", "duet"}),  # no top-50 tag
    (20, "c/magnatune_compilation-electronica-03-drop_the_beat-59-88.mp3", {"ambient", "synth"}),
    (25, "c/ensemble_sreteniye-ancient_church_singing-02-psalm-30-59.mp3", {"male vocal", "choir"}),
    (30, "d/lisa_debenedictis-fruitless-01-brand_new_day-88-117.mp3", {"female", "pop", "vocals"}),
    (33, "e/dj_markitos-evolution_of_the_mind-03-sunset_endless_night_journey_remix-59-88.mp3",
     {"no vocals", "drums", "dance"}),
    (40, "9/american_baroque-dances_and_suites_of_rameau_and_couperin-01-le_petit_rien-0-29.mp3",
     {"harpsichord", "harpsicord"}),
]
MTT_OTHER_TAGS = ("no voice", "singer", "duet", "plucking", "baroque", "harpsicord", "bongos", "clasical")
# the sota split lists (deliberately unlike the musicnn directory rule); 15 and 25 are in none
MTT_SOTA: dict[str, list[int]] = {"train": [2, 6, 10, 40], "valid": [12], "test": [20, 30, 33]}
MTT_BINARY_EXTRA: dict[int, str] = {6: "loud"}  # binary.npy differs from the CSV here


def mtt_header(tag_columns: tuple[str, ...] | None = None) -> list[str]:
    if tag_columns is None:
        tag_columns = tuple(MTT_OTHER_TAGS) + MTT_TAGS
        tag_columns = tuple(random.Random(0).sample(tag_columns, len(tag_columns)))
    return ["clip_id", *tag_columns, "mp3_path"]


def make_mtt(root: Path, under_mp3: bool = True, split_location: str | None = "split/mtat",
             with_binary: bool = True, with_csv: bool = True, missing: tuple[int, ...] = (),
             tag_columns: tuple[str, ...] | None = None) -> dict:
    """`root/annotations_final.csv` (tab-separated, all quoted), `root/mp3/<c>/<name>.mp3`,
    and the sota split (`<split_location>/{train,valid,test,binary}.npy`; "." = root, None = none).

    binary.npy rows are indexed by the "ix" of the split entries (reverse clip order), and clip 6
    carries an extra tag there ("loud") that the CSV does not have.
    """
    audio_root = root / "mp3" if under_mp3 else root
    root.mkdir(parents=True, exist_ok=True)
    header = mtt_header(tag_columns)
    paths = {}
    if with_csv:
        with open(root / "annotations_final.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow(header)
            for clip_id, rel, tags in MTT_CLIPS:
                w.writerow([clip_id] + ["1" if t in tags else "0" for t in header[1:-1]] + [rel])
    for clip_id, rel, _ in MTT_CLIPS:
        paths[clip_id] = audio_root / rel
        if clip_id not in missing:
            write_audio(paths[clip_id], seed=clip_id % 5)
    ix = {clip_id: len(MTT_CLIPS) - 1 - i for i, (clip_id, _, _) in enumerate(MTT_CLIPS)}
    if split_location is not None:
        split_dir = root / split_location
        split_dir.mkdir(parents=True, exist_ok=True)
        rel_of = {c: r for c, r, _ in MTT_CLIPS}
        for which, ids in MTT_SOTA.items():
            np.save(split_dir / f"{which}.npy", np.array([f"{ix[c]}\t{rel_of[c]}" for c in ids]))
        if with_binary:
            binary = np.zeros((len(MTT_CLIPS), len(MTT_TAGS)), dtype=np.int64)
            for clip_id, _, tags in MTT_CLIPS:
                for t in tags | ({MTT_BINARY_EXTRA[clip_id]} if clip_id in MTT_BINARY_EXTRA else set()):
                    if t in MTT_TAGS:
                        binary[ix[clip_id], MTT_TAGS.index(t)] = 1
            np.save(split_dir / "binary.npy", binary)
    return {"data_dir": root, "audio_root": audio_root, "paths": paths, "ix": ix}


# ----------------------------------------------------------------------------- GTZAN

GTZAN_FIXTURE_GENRES = ("blues", "classical", "hiphop", "rock")


def make_gtzan(root: Path, genres: tuple[str, ...] = GTZAN_FIXTURE_GENRES, per_genre: int = 5,
               with_splits: bool = True, layout: str = "genres", ext: str = ".wav",
               extra_folders: tuple[str, ...] = ()) -> dict:
    """`root/<layout>/<genre>/<genre>.000NN<ext>` (layout "genres", "genres_original" or "" for
    genre folders directly in root) and, with `with_splits`, `root/{train,valid,test}_filtered.txt`:
    per genre 00000-00001 train, 00002 valid, 00003 test, 00004.. in no list (faulty); hiphop's
    entries are written with ".au" whatever `ext` is; "rock/rock.00042.wav" is listed but absent.
    """
    base = root / layout if layout else root
    paths = {}
    for gi, genre in enumerate(genres):
        for k in range(per_genre):
            stem = f"{genre}.{k:05d}"
            paths[genre, stem] = write_audio(base / genre / f"{stem}{ext}", seed=gi + k)
    for name in extra_folders:
        write_audio(base / name / f"{name}.00000.wav", seed=9)
    if with_splits:
        lists: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
        for genre in genres:
            listed_ext = ".au" if genre == "hiphop" else ".wav"
            for k, which in ((0, "train"), (1, "train"), (2, "valid"), (3, "test")):
                lists[which].append(f"{genre}/{genre}.{k:05d}{listed_ext}")
        lists["test"].append("rock/rock.00042.wav")
        for which, lines in lists.items():
            (root / f"{which}_filtered.txt").write_text("\n".join(lines) + "\n")
    return {"data_dir": root, "audio_root": base, "paths": paths}
