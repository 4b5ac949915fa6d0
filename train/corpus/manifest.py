"""The manifest schema of every sub-corpus (the columns of OUT/captions.csv, in order) and the one
reader of a builder's resume cache (OUT/features.jsonl: one JSON result per finished job).

Every manifest starts from the MMA columns, except renders' (its own order, with `id` first),
so `corpus.build` can merge them into one table.
"""
from __future__ import annotations

import json
from pathlib import Path

MMA_COLUMNS = ["path", "text", "genre", "style", "groove", "tempo", "key", "progression",
               "instruments", "soundfont", "tags", "split", "texts"]
SCORES_COLUMNS = MMA_COLUMNS + ["composer", "period", "source"]
GAMES_COLUMNS = MMA_COLUMNS + ["source", "package", "game", "track", "title", "artist", "album",
                               "tag_genre", "offset_s", "licence", "copyright", "mood_tags",
                               "tempo_est", "key_est", "rms_db", "centroid_hz"]
REALMUSIC_COLUMNS = ["id"] + GAMES_COLUMNS + ["source_file", "duration_s", "loop_s"]
RENDERS_COLUMNS = ["id", "path", "text", "texts", "genre", "style", "split", "source", "package", "engine",
                   "track", "group", "title", "artist", "kit", "project_file", "offset_s", "duration_s",
                   "licence", "tempo", "mood_tags", "tempo_est", "key_est", "rms_db", "centroid_hz",
                   "loop_s"]

CACHE_NAME = "features.jsonl"


def read_cache(out: Path, key: str = "key", retry_errors: bool = False) -> dict[str, dict]:
    """key value -> result of every finished job in OUT/features.jsonl whose excerpts are all on
    disk; a job that failed counts as finished (its error is reported again, not retried) unless
    `retry_errors`. Unreadable lines (a write cut short) are skipped: their jobs run again."""
    cache = Path(out) / CACHE_NAME
    done: dict[str, dict] = {}
    if not cache.is_file():
        return done
    for line in cache.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("error"):
            if not retry_errors:
                done[r[key]] = r
        elif all((Path(out) / e["path"]).is_file() for e in r["excerpts"]):
            done[r[key]] = r
    return done
