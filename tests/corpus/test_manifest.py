"""corpus.manifest: one schema table (the same columns, in the same order, as each builder wrote
before) and one resume-cache reader for games, realmusic and renders."""
import csv
import json

from muser_train.corpus import manifest
from muser_train.corpus.common import DATA_DIR


def _header(name: str) -> list[str]:
    with open(DATA_DIR / name, newline="") as fh:
        return next(csv.reader(fh))


def test_the_committed_manifests_have_the_schema_columns():
    assert _header("v3_manifest.csv") == manifest.REALMUSIC_COLUMNS
    assert _header("renders_manifest.csv") == manifest.RENDERS_COLUMNS


def test_every_excerpt_schema_extends_mma_s_columns():
    mma = manifest.MMA_COLUMNS
    assert mma == ["path", "text", "genre", "style", "groove", "tempo", "key", "progression",
                   "instruments", "soundfont", "tags", "split", "texts"]
    assert manifest.GAMES_COLUMNS[: len(mma)] == mma and manifest.SCORES_COLUMNS[: len(mma)] == mma
    assert manifest.REALMUSIC_COLUMNS == ["id", *manifest.GAMES_COLUMNS, "source_file", "duration_s", "loop_s"]
    assert manifest.SCORES_COLUMNS[len(mma):] == ["composer", "period", "source"]


def _cache(tmp_path, results):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a_00.flac").write_bytes(b"x")
    lines = [json.dumps(r) for r in results] + ['{"key": "cut sh']
    (tmp_path / manifest.CACHE_NAME).write_text("\n".join(lines) + "\n")


RESULTS = [{"key": "ok", "excerpts": [{"path": "audio/a_00.flac"}], "error": ""},
           {"key": "gone", "excerpts": [{"path": "audio/b_00.flac"}], "error": ""},
           {"key": "bad", "excerpts": [], "error": "cannot decode"}]


def test_finished_jobs_are_read_and_a_missing_excerpt_runs_again(tmp_path):
    _cache(tmp_path, RESULTS)
    assert sorted(manifest.read_cache(tmp_path)) == ["bad", "ok"]


def test_a_failed_job_is_retried_when_asked(tmp_path):
    _cache(tmp_path, [{**r, "track": r["key"]} for r in RESULTS])
    assert sorted(manifest.read_cache(tmp_path, key="track", retry_errors=True)) == ["ok"]


def test_no_cache_is_nothing_done(tmp_path):
    assert manifest.read_cache(tmp_path) == {}
