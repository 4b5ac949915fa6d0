"""Readers for the datasets MUSER is trained and evaluated on, in their published on-disk layouts.

Every reader returns a `LoadReport`: one `Example` per usable clip (path, captions, labels, split)
and the files the metadata lists but the disk lacks (`missing`: counted, never fatal). A folder
that is not the dataset at all (absent, or not one expected file in it) raises `DatasetError`
with a one-line message naming the folder and what was expected.

Captions: `texts[0]` is the paper's template (`DEFAULT_TEMPLATES`), the rest are paraphrases
(and, for FMA, the track's own tags). Whitespace inside captions is collapsed to single spaces.

- FMA (`read_fma`): `fma_small/NNN/NNNNNN.mp3` + `fma_metadata/tracks.csv` (3-line header);
  `data_dir` is the audio folder itself or the folder holding `fma_small/` (or `fma_medium/`,
  `fma_large/`, `fma_full/`) and `fma_metadata/`.
- MagnaTagATune (`read_mtt`): `annotations_final.csv` + `mp3/<0-f>/*.mp3`; the "sota" split
  (`split/mtat/{train,valid,test}.npy` + `binary.npy`, 15,244 / 1,529 / 4,332) or the
  "musicnn" directory split (0-b / c / d-f, 18,706 / 1,825 / 5,329); "auto" (the default) takes
  sota where its files are present, else musicnn. The two give numbers that are not comparable.
- GTZAN (`read_gtzan`): `genres/<genre>/<genre>.000NN.{wav,au}`, fault-filtered split
  (`{train,valid,test}_filtered.txt`, 443 / 197 / 290) or a seeded stratified fallback.
- A plain folder (`read_generic`, `read_folder`): a sidecar `captions.csv`, else the files' tags.
"""
from __future__ import annotations

import ast
import csv
import inspect
import random
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muser_model.core.audio import AUDIO_EXTENSIONS as _AUDIO_EXTENSIONS
from muser_model.core.errors import MuserError
from muser_model.core.files import iter_audio_files
from muser_model.core.vocab import DEFAULT_TEMPLATES, GTZAN_GENRES, MTT_TAGS, genre_text

SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass
class Example:
    """One audio clip with its captions and labels: the record every reader, the trainer and the
    evaluation share."""

    path: Path
    texts: list[str]  # texts[0] = the paper's template
    genre: str = ""  # FMA top-level genre / GTZAN genre, lower case
    tags: list[str] = field(default_factory=list)  # MTT top-50 tags, in MTT_TAGS order
    split: str = "train"  # "train" | "valid" | "test"
    meta: dict = field(default_factory=dict)  # title, artist, track_id, clip_id, ...
    # the teacher ensembles' probabilities, {vocabulary: (50,) float32}, where the clip was scored
    teacher: dict[str, np.ndarray] = field(default_factory=dict)


class DatasetError(MuserError):
    """A dataset folder or metadata file is absent or not in the expected layout."""


class DatasetWarning(UserWarning):
    """Something in a dataset was skipped or a fallback was used; loading went on."""


@dataclass
class LoadReport:
    examples: list[Example]
    missing: list[Path] = field(default_factory=list)  # listed in the metadata, absent on disk
    dropped: list[Path] = field(default_factory=list)  # present but left out: no caption/label
    notes: list[str] = field(default_factory=list)  # what the reader chose (audio folder, split)

    def by_split(self, split: str) -> list[Example]:
        return [e for e in self.examples if e.split == split]

    def counts(self) -> dict[str, int]:
        return {s: sum(e.split == s for e in self.examples) for s in SPLITS}


# ----------------------------------------------------------------------------- helpers


def _clean(value: object) -> str:
    """A metadata value as one line: whitespace runs (newlines included) become one space."""
    return " ".join(str(value or "").split())


def _unique(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t for t in (_clean(t) for t in texts) if t))


def _require_dir(path: str | Path, expected: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DatasetError(f"{folder}: folder not found (expected {expected})")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (expected {expected})")
    return folder


def _warn(message: str) -> None:
    warnings.warn(message, DatasetWarning, stacklevel=3)


def _open_text(path: Path):
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from exc


# ----------------------------------------------------------------------------- FMA

FMA_SUBSETS: dict[str, int] = {"small": 0, "medium": 1, "large": 2, "full": 2}  # nested subsets
FMA_SPLITS: dict[str, str] = {"training": "train", "validation": "valid", "test": "test"}
FMA_REQUIRED: tuple[tuple[str, str], ...] = (
    ("set", "split"), ("set", "subset"), ("track", "title"), ("artist", "name"), ("track", "genre_top"),
)
FMA_TAGS = ("track", "tags")  # optional
FMA_AUDIO_FOLDERS: tuple[str, ...] = ("fma_small", "fma_medium", "fma_large", "fma_full")


def read_fma(data_dir: str | Path, metadata_dir: str | Path | None = None,
             subset: str = "small") -> LoadReport:
    """FMA audio `NNN/NNNNNN.mp3` with captions from `fma_metadata/tracks.csv`.

    `data_dir` is the audio folder itself (`fma_small/`) or the folder that holds it: then the
    smallest of `fma_small/`, `fma_medium/`, `fma_large/`, `fma_full/` present there that holds
    `subset` is read, and `LoadReport.notes` says which.
    `metadata_dir` defaults to a sibling `fma_metadata` of `data_dir`, else `<data_dir>/fma_metadata`.
    `subset` "small" | "medium" | "large" ("full" = "large"): the subsets are nested, so "medium"
    keeps the rows whose `set.subset` is small or medium and "large" keeps every row.
    Splits come from `set.split` (training/validation/test -> train/valid/test).
    Caption: "The song titled {title}, belongs to {genre_top}, written by {artist.name}" (an empty
    title/genre/artist reads "untitled"/"music"/"unknown"), then "{genre} music by {artist}",
    "{title} by {artist}" and the track's own tags ("indie, lo-fi") when it has any. The track
    tags go to `meta["tags"]`; `Example.tags` stays empty (it holds MTT tags only).
    If `genres.csv` is present, genre_top is normalised to its top-level genre title.
    Rows with an unparseable track id, an unknown subset or split are skipped with a warning.
    """
    if subset not in FMA_SUBSETS:
        raise DatasetError(f"FMA subset {subset!r} unknown; choose one of {', '.join(FMA_SUBSETS)}")
    data_dir = _require_dir(data_dir, "the FMA folder: fma_small/ with NNN/NNNNNN.mp3, or the folder "
                                      "holding fma_small/ and fma_metadata/")
    data_dir, notes = _fma_audio_dir(data_dir, subset)
    meta_dir = _fma_metadata_dir(data_dir, metadata_dir)
    tracks_csv = meta_dir / "tracks.csv"
    genres_csv = meta_dir / "genres.csv"
    top_genre = _read_fma_genres(genres_csv) if genres_csv.is_file() else None

    wanted = FMA_SUBSETS[subset]
    examples: list[Example] = []
    missing: list[Path] = []
    skipped: dict[str, int] = {}
    unknown_genres: set[str] = set()
    listed = 0
    for track_id, get in _read_fma_tracks(tracks_csv):
        if track_id is None:
            skipped["unparseable track id"] = skipped.get("unparseable track id", 0) + 1
            continue
        row_subset = get(("set", "subset")).strip().lower()
        if row_subset not in FMA_SUBSETS:
            skipped["unknown set.subset"] = skipped.get("unknown set.subset", 0) + 1
            continue
        if FMA_SUBSETS[row_subset] > wanted:
            continue
        split = FMA_SPLITS.get(get(("set", "split")).strip().lower())
        if split is None:
            skipped["unknown set.split"] = skipped.get("unknown set.split", 0) + 1
            continue
        listed += 1
        title = _clean(get(("track", "title")))
        artist = _clean(get(("artist", "name")))
        genre = _clean(get(("track", "genre_top")))
        if genre and top_genre is not None:
            normal = top_genre.get(genre.lower())
            if normal is None:
                unknown_genres.add(genre)
            else:
                genre = normal
        track_tags = _parse_tag_list(get(FMA_TAGS))

        name = f"{track_id:06d}"
        path = data_dir / name[:3] / f"{name}.mp3"
        if not path.is_file():
            missing.append(path)
            continue
        texts = [DEFAULT_TEMPLATES["fma"].format(title=title or "untitled", genre=genre or "music",
                                                 artist=artist or "unknown")]
        if genre:
            texts.append(f"{genre} music by {artist}" if artist else f"{genre} music")
        if title and artist:
            texts.append(f"{title} by {artist}")
        if track_tags:
            texts.append(", ".join(track_tags))
        examples.append(Example(
            path=path, texts=_unique(texts), genre=genre.lower(), split=split,
            meta={"track_id": track_id, "title": title, "artist": artist, "genre_top": genre,
                  "tags": track_tags, "subset": row_subset},
        ))

    if skipped:
        _warn(f"{tracks_csv}: skipped " + ", ".join(f"{n} row(s) with {why}" for why, n in skipped.items()))
    if unknown_genres:
        _warn(f"{tracks_csv}: genre_top value(s) not in {genres_csv.name}, kept as they are: "
              + ", ".join(sorted(unknown_genres)))
    if listed == 0:
        raise DatasetError(f"{tracks_csv}: no tracks of subset {subset!r} listed")
    if not examples:
        raise DatasetError(f"{data_dir}: none of the {listed} FMA tracks found "
                           f"(expected audio as NNN/NNNNNN.mp3, e.g. {missing[0].relative_to(data_dir)}, "
                           "or the folder holding fma_small/ and fma_metadata/)")
    return LoadReport(examples, missing, notes=notes)


def _fma_audio_dir(data_dir: Path, subset: str) -> tuple[Path, list[str]]:
    """(the audio folder to read, notes): `data_dir` itself unless it holds fma_<subset>/ folders."""
    present = [name for name in FMA_AUDIO_FOLDERS if (data_dir / name).is_dir()]
    if not present:
        return data_dir, []
    holding = [name for name in present if FMA_SUBSETS[name.removeprefix("fma_")] >= FMA_SUBSETS[subset]]
    if not holding:
        raise DatasetError(f"{data_dir}: FMA subset {subset!r} needs one of "
                           + ", ".join(f"fma_{s}/" for s, rank in FMA_SUBSETS.items()
                                       if rank >= FMA_SUBSETS[subset])
                           + f"; found only {', '.join(name + '/' for name in present)}")
    chosen = data_dir / holding[0]
    note = f"FMA audio: {chosen}"
    if len(present) > 1:
        note += f" (of {', '.join(present)})"
    return chosen, [note]


def _fma_metadata_dir(data_dir: Path, metadata_dir: str | Path | None) -> Path:
    if metadata_dir is not None:
        folder = _require_dir(metadata_dir, "fma_metadata/ with tracks.csv")
        if not (folder / "tracks.csv").is_file():
            raise DatasetError(f"{folder}: no tracks.csv (expected the fma_metadata folder)")
        return folder
    candidates = [data_dir.parent / "fma_metadata", data_dir / "fma_metadata"]
    for folder in candidates:
        if (folder / "tracks.csv").is_file():
            return folder
    raise DatasetError(f"{data_dir}: FMA metadata not found (expected tracks.csv in "
                       f"{candidates[0]} or {candidates[1]}, or pass metadata_dir)")


def _read_fma_tracks(path: Path):
    """Yield (track_id or None, get) per data row; get((group, field)) -> the cell text."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 1 << 26))  # artist bios can exceed the 128 KiB default
    try:
        yield from _fma_rows(path)
    finally:
        csv.field_size_limit(limit)


def _fma_rows(path: Path):
    with _open_text(path) as f:
        reader = csv.reader(f)
        try:
            groups, fields = next(reader), next(reader)
        except StopIteration:
            raise DatasetError(f"{path}: empty or truncated file (expected the 3-line FMA header)") from None
        except csv.Error as exc:
            raise DatasetError(f"{path}: not a CSV file ({exc})") from None
        columns: dict[tuple[str, str], int] = {}
        for i, (group, fld) in enumerate(zip(groups, fields)):
            if i > 0 and fld.strip():
                columns.setdefault((group.strip().lower(), fld.strip().lower()), i)
        absent = [f"{g}.{fld}" for g, fld in FMA_REQUIRED if (g, fld) not in columns]
        if absent:
            raise DatasetError(f"{path}: missing column(s) {', '.join(absent)} (a CSV with a changed "
                               "header? expected FMA's 3-line header: group, field, track_id)")

        def getter(row: list[str]) -> Callable[[tuple[str, str]], str]:
            def get(key: tuple[str, str]) -> str:
                i = columns.get(key)
                return row[i] if i is not None and i < len(row) else ""
            return get

        first = True
        try:
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if first and row[0].strip().lower() == "track_id":  # the third header line
                    first = False
                    continue
                first = False
                try:
                    track_id = int(row[0].strip())
                except ValueError:
                    track_id = None
                yield track_id, getter(row)
        except csv.Error as exc:
            raise DatasetError(f"{path}: malformed CSV near line {reader.line_num} ({exc})") from None


def _read_fma_genres(path: Path) -> dict[str, str]:
    """genres.csv -> {lower-case genre title: its top-level genre's title}."""
    with _open_text(path) as f:
        reader = csv.DictReader(f)
        names = {n.strip() for n in reader.fieldnames or []}
        absent = {"genre_id", "parent", "title", "top_level"} - names
        if absent:
            raise DatasetError(f"{path}: missing column(s) {', '.join(sorted(absent))} "
                               "(expected genre_id,#tracks,parent,title,top_level)")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    titles = {row["genre_id"]: _clean(row["title"]) for row in rows}
    mapping: dict[str, str] = {}
    for row in rows:
        top = titles.get(row["top_level"])
        if top and titles.get(row["genre_id"]):
            mapping[titles[row["genre_id"]].lower()] = top
    return mapping


def _parse_tag_list(text: str) -> list[str]:
    """FMA's Python-literal tag lists ("['indie', 'rock']"); anything unparseable -> []."""
    text = (text or "").strip()
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    return _unique(v for v in value if isinstance(v, str))


# ----------------------------------------------------------------------------- MagnaTagATune

MTT_SPLIT_SCHEMES = ("auto", "sota", "musicnn")
_MUSICNN_DIRS = {**{c: "train" for c in "0123456789ab"}, "c": "valid", **{c: "test" for c in "def"}}


@dataclass
class _MttRow:
    clip_id: str
    labels: tuple[bool, ...]  # MTT_TAGS order


def read_mtt(data_dir: str | Path, split: str = "auto", drop_unlabelled: bool = True) -> LoadReport:
    """MagnaTagATune: `annotations_final.csv` + `mp3/<0-f>/*.mp3` (or `<data_dir>/<0-f>/*.mp3`).

    Labels are the top-50 tags (`MTT_TAGS`, in that order); the other 138 columns are ignored.
    split="sota": `split/mtat/{train,valid,test}.npy` (or in `<data_dir>`), strings "ix\\tpath",
    labels from row `ix` of `binary.npy` beside them when present, else from the CSV.
    split="musicnn": from the clip's folder: 0-b train, c valid, d-f test.
    split="auto" (the default): "sota" where its split files are present, else "musicnn"; the
    official download has no split files. `LoadReport.notes` names the scheme used and why.
    Clips with none of the top-50 tags have no caption and are dropped (into `dropped`), as the
    sota protocol does. Note: the musicnn/jukemir counts (18,706 / 1,825 / 5,329) include such
    clips as all-negative examples; pass `drop_unlabelled=False` to keep them (with `texts == []`)
    when reproducing that evaluation — never train on them.
    Caption: "the music is characterized by {tag, tag, ...}", then "music tagged {tags}".
    """
    if split not in MTT_SPLIT_SCHEMES:
        raise DatasetError(f"MTT split {split!r} unknown; choose one of {', '.join(MTT_SPLIT_SCHEMES)}")
    data_dir = _require_dir(data_dir, "the MagnaTagATune folder with annotations_final.csv and mp3/<0-f>/")
    csv_path = data_dir / "annotations_final.csv"
    annotations = _read_mtt_annotations(csv_path) if csv_path.is_file() else None
    audio_root = data_dir / "mp3" if (data_dir / "mp3").is_dir() else data_dir
    split, notes = _mtt_scheme(data_dir, split)

    # (relative mp3 path, split, labels or None, meta)
    entries: list[tuple[str, str, tuple[bool, ...] | None, dict]] = []
    if split == "musicnn":
        if annotations is None:
            raise DatasetError(f"{data_dir}: no annotations_final.csv (expected MagnaTagATune's "
                               "tab-separated annotations_final.csv and mp3/<0-f>/*.mp3)")
        unplaced = 0
        for rel, row in annotations.items():
            which = _MUSICNN_DIRS.get(rel[:1].lower()) if "/" in rel else None
            if which is None:
                unplaced += 1
                continue
            entries.append((rel, which, row.labels, {"clip_id": row.clip_id, "mp3_path": rel}))
        if unplaced:
            _warn(f"{csv_path}: {unplaced} clip(s) not in a 0-f folder, left out of the musicnn split")
    else:
        split_dir = _find_mtt_split_dir(data_dir)
        binary = _load_binary(split_dir / "binary.npy") if (split_dir / "binary.npy").is_file() else None
        if binary is None and annotations is None:
            raise DatasetError(f"{data_dir}: no labels (expected annotations_final.csv here or "
                               f"binary.npy in {split_dir})")
        unknown = 0
        for which in SPLITS:
            npy = split_dir / f"{which}.npy"
            for ix, rel in _load_split_list(npy):
                row = annotations.get(rel) if annotations is not None else None
                meta = {"mp3_path": rel, "ix": ix}
                if row is not None:
                    meta["clip_id"] = row.clip_id
                if binary is not None:
                    if ix >= len(binary):
                        raise DatasetError(f"{npy}: index {ix} out of range for {split_dir / 'binary.npy'} "
                                           f"({len(binary)} rows)")
                    labels = tuple(bool(v) for v in binary[ix] > 0)
                elif row is not None:
                    labels = row.labels
                else:
                    unknown += 1
                    labels = None
                entries.append((rel, which, labels, meta))
        if unknown:
            _warn(f"{split_dir}: {unknown} clip(s) in the split lists are not in {csv_path.name} "
                  "and there is no binary.npy: they have no labels and are dropped")

    if not entries:
        raise DatasetError(f"{data_dir}: no MagnaTagATune clips listed for split={split!r}")
    template = DEFAULT_TEMPLATES["mtt"]
    examples: list[Example] = []
    missing: list[Path] = []
    dropped: list[Path] = []
    for rel, which, labels, meta in entries:
        path = audio_root / rel
        tags = [t for t, on in zip(MTT_TAGS, labels or ()) if on]
        if not tags and drop_unlabelled:
            dropped.append(path)
            continue
        if not path.is_file():
            missing.append(path)
            continue
        joined = ", ".join(tags)
        texts = [template.format(tags=joined), f"music tagged {joined}"] if tags else []
        examples.append(Example(path=path, texts=texts, tags=tags, split=which,
                                meta={**meta, "split_scheme": split}))
    if not examples and missing:
        raise DatasetError(f"{audio_root}: none of the {len(missing)} MagnaTagATune clips found "
                           f"(expected e.g. {missing[0]})")
    return LoadReport(examples, missing, dropped, notes)


def _mtt_scheme(data_dir: Path, split: str) -> tuple[str, list[str]]:
    """("sota" | "musicnn", notes): an explicit choice as it is; "auto" by the split files."""
    if split != "auto":
        return split, []
    split_dir = _mtt_split_dir_or_none(data_dir)
    if split_dir is not None:
        return "sota", [f"MTT split: sota (split files in {split_dir})"]
    return "musicnn", [f"MTT split: musicnn directory split (0-b train, c valid, d-f test): no "
                       f"train/valid/test.npy in {data_dir / 'split' / 'mtat'} or {data_dir}; "
                       "numbers are not comparable with sota ones"]


def _read_mtt_annotations(path: Path) -> dict[str, _MttRow]:
    """annotations_final.csv (tab-separated, quoted) -> {mp3_path: top-50 labels}."""
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter="\t")
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DatasetError(f"{path}: empty file (expected a header clip_id ... mp3_path)") from None
        absent = [c for c in ("clip_id", "mp3_path") if c not in header]
        if absent:
            raise DatasetError(f"{path}: missing column(s) {', '.join(absent)} (expected a tab-separated "
                               "header \"clip_id\" <188 tags> \"mp3_path\")")
        id_col, path_col = header.index("clip_id"), header.index("mp3_path")
        tag_cols = [header.index(t) if t in header else None for t in MTT_TAGS]
        absent_tags = [t for t, c in zip(MTT_TAGS, tag_cols) if c is None]
        if len(absent_tags) == len(MTT_TAGS):
            raise DatasetError(f"{path}: none of the top-50 MagnaTagATune tag columns found")
        if absent_tags:
            _warn(f"{path}: {len(absent_tags)} of the top-50 tag column(s) absent, read as 0: "
                  + ", ".join(absent_tags))
        rows: dict[str, _MttRow] = {}
        try:
            for row in reader:
                if len(row) <= max(id_col, path_col):
                    continue
                rel = row[path_col].strip().replace("\\", "/")
                if not rel:
                    continue
                labels = tuple(c is not None and c < len(row) and _is_on(row[c]) for c in tag_cols)
                rows[rel] = _MttRow(row[id_col].strip(), labels)
        except csv.Error as exc:
            raise DatasetError(f"{path}: malformed CSV near line {reader.line_num} ({exc})") from None
    return rows


def _is_on(value: str) -> bool:
    try:
        return float(value.strip()) > 0
    except ValueError:
        return False


def _mtt_split_dir_or_none(data_dir: Path) -> Path | None:
    for folder in (data_dir / "split" / "mtat", data_dir):
        if all((folder / f"{s}.npy").is_file() for s in SPLITS):
            return folder
    return None


def _find_mtt_split_dir(data_dir: Path) -> Path:
    candidates = [data_dir / "split" / "mtat", data_dir]
    found = _mtt_split_dir_or_none(data_dir)
    if found is not None:
        return found
    raise DatasetError(f"{data_dir}: split='sota' needs train.npy, valid.npy and test.npy (+ binary.npy) "
                       f"in {candidates[0]} or {candidates[1]}; use split=\"musicnn\" for the "
                       "directory-based split from annotations_final.csv")


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable numpy array ({exc})") from None


def _load_binary(path: Path) -> np.ndarray:
    binary = _load_npy(path)
    if binary.ndim != 2 or binary.shape[1] != len(MTT_TAGS):
        raise DatasetError(f"{path}: shape {binary.shape}, expected (N, {len(MTT_TAGS)}) "
                           "top-50 label vectors")
    return binary


def _load_split_list(path: Path) -> list[tuple[int, str]]:
    items = _load_npy(path).reshape(-1)
    out = []
    for item in items:
        text = item.decode() if isinstance(item, bytes) else str(item)
        ix, sep, rel = text.partition("\t")
        try:
            index = int(ix)
        except ValueError:
            index = -1
        if not sep or index < 0 or not rel.strip():
            raise DatasetError(f"{path}: entry {text!r} is not \"ix<TAB>path\"")
        out.append((index, rel.strip().replace("\\", "/")))
    return out


# ----------------------------------------------------------------------------- GTZAN

GTZAN_SPLIT_FILES = {s: f"{s}_filtered.txt" for s in SPLITS}
GTZAN_FALLBACK = {"train": 0.5, "valid": 0.2}  # the rest is test
_GTZAN_NAME = re.compile(r"([a-z]+)\.(\d{5})(?:\.[a-z0-9]+)?")
_EXT_PREFERENCE = (".wav", ".au")
_GTZAN_EXTENSIONS = _AUDIO_EXTENSIONS | {".au", ".snd"}  # the original GTZAN release is .au


def read_gtzan(data_dir: str | Path, split_dir: str | Path | None = None, seed: int = 0) -> LoadReport:
    """GTZAN: `<data_dir>/genres/<genre>/<genre>.000NN.{wav,au}` (or `genres_original/`, or the
    genre folders directly in `data_dir`).

    Split: the fault-filtered lists `train_filtered.txt`, `valid_filtered.txt`, `test_filtered.txt`
    in `split_dir` (default `data_dir`), matched on genre + stem whatever the extension; tracks in
    none of the lists (the faulty ones) are left out. Without the lists (and no explicit
    `split_dir`), a seeded stratified split — per genre 50% train / 20% valid / 30% test — with a
    `DatasetWarning`, since such numbers are not comparable with published ones.
    Caption: "The song belongs to {genre}" ("hip hop" for hiphop), then "a {genre} song",
    "{genre} music". Folders that are not GTZAN genres are ignored with a warning.
    """
    data_dir = _require_dir(data_dir, "the GTZAN folder with genres/<genre>/<genre>.000NN.wav")
    root = _gtzan_root(data_dir)
    files = _gtzan_files(root)
    if not files:
        raise DatasetError(f"{root}: no GTZAN clips (expected <genre>/<genre>.000NN.wav or .au)")

    assignment, missing = _gtzan_split(data_dir, root, files, split_dir, seed)
    examples = []
    for (genre, stem), which in sorted(assignment.items()):
        spoken = genre_text(genre)
        texts = [DEFAULT_TEMPLATES["gtzan"].format(genre=spoken), f"a {spoken} song", f"{spoken} music"]
        examples.append(Example(path=files[genre, stem], texts=_unique(texts), genre=genre, split=which,
                                meta={"track_id": stem, "genre": genre}))
    return LoadReport(examples, missing)


def _gtzan_root(data_dir: Path) -> Path:
    for folder in (data_dir / "genres", data_dir / "genres_original", data_dir):
        if any((folder / g).is_dir() for g in GTZAN_GENRES):
            return folder
    raise DatasetError(f"{data_dir}: no GTZAN genre folders (expected genres/<genre>/, "
                       f"genres_original/<genre>/ or <genre>/ for {', '.join(GTZAN_GENRES)})")


def _gtzan_files(root: Path) -> dict[tuple[str, str], Path]:
    unknown = sorted(p.name for p in root.iterdir()
                     if p.is_dir() and not p.name.startswith(".") and p.name not in GTZAN_GENRES
                     and p.name not in ("genres", "genres_original"))
    if unknown:
        _warn(f"{root}: ignoring folder(s) that are not GTZAN genres: {', '.join(unknown)}")
    files: dict[tuple[str, str], Path] = {}
    for genre in GTZAN_GENRES:
        folder = root / genre
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            suffix = path.suffix.lower()
            m = _GTZAN_NAME.fullmatch(path.name.lower())
            if not m or m[1] != genre or suffix not in _GTZAN_EXTENSIONS or not path.is_file():
                continue
            key = (genre, f"{genre}.{m[2]}")
            if key in files and _rank(files[key].suffix) <= _rank(suffix):
                continue
            files[key] = path
    return files


def _rank(suffix: str) -> int:
    suffix = suffix.lower()
    return _EXT_PREFERENCE.index(suffix) if suffix in _EXT_PREFERENCE else len(_EXT_PREFERENCE)


def _gtzan_split(data_dir: Path, root: Path, files: dict[tuple[str, str], Path],
                 split_dir: str | Path | None, seed: int) -> tuple[dict[tuple[str, str], str], list[Path]]:
    folder = data_dir if split_dir is None else _require_dir(split_dir, "the GTZAN *_filtered.txt files")
    lists = {s: folder / name for s, name in GTZAN_SPLIT_FILES.items()}
    present = [p for p in lists.values() if p.is_file()]
    if len(present) == len(lists):
        return _gtzan_filtered(lists, root, files)
    if present or split_dir is not None:
        absent = [p.name for p in lists.values() if not p.is_file()]
        raise DatasetError(f"{folder}: GTZAN split file(s) {', '.join(absent)} not found "
                           f"(expected all of {', '.join(GTZAN_SPLIT_FILES.values())})")
    _warn(f"{folder}: fault-filtered split files ({', '.join(GTZAN_SPLIT_FILES.values())}) not found; "
          f"using a seeded stratified 50/20/30 split (seed={seed}): numbers are not comparable "
          "with published GTZAN results")
    return _gtzan_stratified(files, seed), []


def _gtzan_filtered(lists: dict[str, Path], root: Path, files: dict[tuple[str, str], Path]):
    assignment: dict[tuple[str, str], str] = {}
    missing: list[Path] = []
    for which, path in lists.items():
        with _open_text(path) as f:
            lines = f.read().splitlines()
        for n, line in enumerate(lines, 1):
            entry = line.strip().replace("\\", "/")
            if not entry:
                continue
            name = entry.rsplit("/", 1)[-1]
            m = _GTZAN_NAME.fullmatch(name.lower())
            if not m or m[1] not in GTZAN_GENRES:
                if n == 1 and "/" not in entry:  # a header line such as "music_name"
                    continue
                raise DatasetError(f"{path}: line {n} {line.strip()!r} is not <genre>/<genre>.000NN.wav")
            key = (m[1], f"{m[1]}.{m[2]}")
            if key in assignment:
                raise DatasetError(f"{path}: {key[1]} is also listed for split {assignment[key]!r}")
            if key in files:
                assignment[key] = which
            else:
                missing.append(root / m[1] / name)
    return assignment, missing


def _gtzan_stratified(files: dict[tuple[str, str], Path], seed: int) -> dict[tuple[str, str], str]:
    assignment: dict[tuple[str, str], str] = {}
    for genre in GTZAN_GENRES:
        keys = sorted(k for k in files if k[0] == genre)
        random.Random(f"gtzan-split:{seed}:{genre}").shuffle(keys)
        n_train = round(len(keys) * GTZAN_FALLBACK["train"])
        n_valid = round(len(keys) * GTZAN_FALLBACK["valid"])
        for i, key in enumerate(keys):
            assignment[key] = "train" if i < n_train else "valid" if i < n_train + n_valid else "test"
    return assignment


# ----------------------------------------------------------------------------- generic folder

_SPLIT_NAMES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid",
                "val": "valid", "dev": "valid", "test": "test", "testing": "test"}


def read_folder(folder: str | Path) -> list[Example]:
    """Every clip of a folder, as listed: sidecar `captions.csv` rows, else the tagged audio files.

    Sidecar columns: `path` (relative to the folder) and `text`; optional `id` (default: the
    path), `texts` (alternative captions joined by " | "), `genre`, `tags` (";"-joined),
    `teacher_tags` (";"-joined teacher tags from `muser_train.corpus.pseudo_tags`, merged into
    `tags`), `split` (train/valid/test). An `ensemble_scores.npz` beside it (the format of
    `muser_train.teachers.score_manifest`) gives each clip it scores, by id, its teacher
    probabilities (`Example.teacher`).
    Without a CSV, every audio file with a title, artist or genre tag is used, captioned through
    the FMA template. Splits are as written and files are not checked (see `read_generic`).
    """
    folder = _require_dir(folder, "a folder of audio files, optionally with captions.csv")
    sidecar = folder / "captions.csv"
    examples = _read_sidecar(folder, sidecar) if sidecar.is_file() else _read_tagged(folder)
    if not examples:
        raise DatasetError(f"{folder}: no audio clips with text found")
    return examples


def _read_sidecar(folder: Path, sidecar: Path) -> list[Example]:
    with _open_text(sidecar) as f:
        reader = csv.DictReader(f)
        missing = {"path", "text"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{sidecar}: missing column(s) {sorted(missing)}")
        examples = [_sidecar_example(folder, row) for row in reader]
    attach_teacher_scores(examples, folder / TEACHER_SCORES)
    return examples


TEACHER_SCORES = "ensemble_scores.npz"


def attach_teacher_scores(examples: list[Example], scores: Path) -> int:
    """Fill `Example.teacher` from a score_manifest file (ids as in the sidecar's `id` column,
    else its `path`); returns how many clips got scores. No file: nothing attached."""
    if not scores.is_file():
        return 0
    from muser_train.teachers.score_manifest import ManifestError, load_table

    try:
        table = load_table(scores)
    except ManifestError as e:
        raise DatasetError(str(e)) from None
    n = 0
    for ex in examples:
        probs = table.scores.get(ex.meta.get("id", ""))
        if probs is not None:
            ex.teacher = {v: np.asarray(p, dtype=np.float32) for v, p in probs.items()}
            n += 1
    return n


def _sidecar_example(folder: Path, row: dict) -> Example:
    texts = [row["text"]] + [t.strip() for t in (row.get("texts") or "").split(" | ")]
    tags = ((row.get("tags") or "") + ";" + (row.get("teacher_tags") or "")).split(";")
    return Example(path=folder / row["path"], texts=list(dict.fromkeys(t for t in texts if t)),
                   genre=(row.get("genre") or "").strip(), tags=list(dict.fromkeys(t for t in tags if t)),
                   split=(row.get("split") or "train").strip(),
                   meta={"id": (row.get("id") or row["path"]).strip()})


def _read_tagged(folder: Path) -> list[Example]:
    import mutagen

    examples = []
    for path in iter_audio_files([folder]):
        try:
            tags = mutagen.File(path, easy=True) or {}
        except Exception:  # noqa: BLE001 - broken tags only lose the caption, never the run
            tags = {}
        first = {k: (tags.get(k) or [""])[0] for k in ("title", "artist", "genre")}
        if not any(first.values()):
            continue
        text = DEFAULT_TEMPLATES["fma"].format(title=first["title"] or path.stem,
                                               genre=first["genre"] or "music",
                                               artist=first["artist"] or "unknown")
        examples.append(Example(path, [text], genre=first["genre"].lower()))
    return examples


def read_generic(data_dir: str | Path) -> LoadReport:
    """A folder read by `read_folder`, checked: absent files go to `missing`, clips without any
    text to `dropped`, and split names are normalised (training/validation/val -> train/valid).
    """
    folder = _require_dir(data_dir, "a folder of audio files, optionally with captions.csv")
    listed = read_folder(folder)
    examples, missing, dropped = [], [], []
    for ex in listed:
        split = _SPLIT_NAMES.get(ex.split.strip().lower())
        if split is None:
            raise DatasetError(f"{folder / 'captions.csv'}: split {ex.split!r} for {ex.path.name} "
                               "unknown (expected train, valid or test)")
        if not ex.texts:
            dropped.append(ex.path)
        elif not ex.path.is_file():
            missing.append(ex.path)
        else:
            ex.split = split
            examples.append(ex)
    if not examples:
        raise DatasetError(f"{folder}: none of the {len(listed)} listed clips found")
    return LoadReport(examples, missing, dropped)


# ----------------------------------------------------------------------------- dispatch

READERS: dict[str, Callable[..., LoadReport]] = {
    "fma_small": read_fma,
    "mtt": read_mtt,
    "gtzan": read_gtzan,
    "folder": read_generic,
}


def load_dataset(name: str, data_dir: str | Path, **options) -> LoadReport:
    """READERS[name](data_dir, **options); an unknown name or option raises DatasetError."""
    reader = READERS.get(str(name).strip().lower())
    if reader is None:
        raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(READERS)}")
    params = list(inspect.signature(reader).parameters)[1:]
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise DatasetError(f"dataset {name!r}: unknown option(s) {', '.join(unknown)} "
                           f"(accepted: {', '.join(params) or 'none'})")
    return reader(data_dir, **options)
