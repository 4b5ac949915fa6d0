"""Training data from a folder of audio files: captions from a sidecar CSV or from the files' tags.

Sidecar `captions.csv` columns: `path` (relative to the folder) and `text`; optional `texts`
(alternative captions joined by " | "), `genre`, `tags` (";"-joined), `teacher_tags` (";"-joined pseudo-tags from muser_train.corpus.pseudo_tags,
merged into `tags`), `split` (train/valid/test).
Without a CSV, every audio file under the folder is used and its text comes from its tags
(title, artist, genre) through the FMA template.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from muser_model.files import iter_audio_files
from muser_model.vocab import DEFAULT_TEMPLATES


@dataclass
class Clip:
    path: Path
    texts: list[str]
    genre: str = ""
    tags: list[str] = field(default_factory=list)
    split: str = "train"


def read_folder(folder: str | Path) -> list[Clip]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: training data folder not found")
    sidecar = folder / "captions.csv"
    clips = _read_sidecar(folder, sidecar) if sidecar.is_file() else _read_tagged(folder)
    if not clips:
        raise ValueError(f"{folder}: no audio clips with text found")
    return clips


def _read_sidecar(folder: Path, sidecar: Path) -> list[Clip]:
    with open(sidecar, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"path", "text"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{sidecar}: missing column(s) {sorted(missing)}")
        clips = []
        for row in reader:
            texts = [row["text"]] + [t.strip() for t in (row.get("texts") or "").split(" | ")]
            clips.append(Clip(
                path=folder / row["path"],
                texts=list(dict.fromkeys(t for t in texts if t)),
                genre=(row.get("genre") or "").strip(),
                tags=list(dict.fromkeys(t for t in ((row.get("tags") or "") + ";"
                                                    + (row.get("teacher_tags") or "")).split(";") if t)),
                split=(row.get("split") or "train").strip(),
            ))
    return clips


def _read_tagged(folder: Path) -> list[Clip]:
    import mutagen

    clips = []
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
        clips.append(Clip(path, [text], genre=first["genre"].lower()))
    return clips
