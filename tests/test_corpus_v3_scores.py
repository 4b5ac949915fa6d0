"""Corpus v3: committed teacher scores are installed into a rebuilt corpus, coverage counted;
the manifest is exported atomically."""
import numpy as np

from muser_train.corpus import realmusic
from muser_train.corpus.common import read_csv, write_csv


def corpus_with(tmp_path, ids):
    out = tmp_path / "v3"
    out.mkdir()
    write_csv(out / "captions.csv", ["id", "path"], [{"id": i, "path": i} for i in ids])
    return out


def scores_file(data, ids):
    data.mkdir(exist_ok=True)
    np.savez(data / realmusic.SCORES_NAME, ids=np.array(ids),
             mtt=np.zeros((len(ids), 50), np.float16))


def test_install_counts_covered_and_missing(tmp_path):
    out = corpus_with(tmp_path, ["a.flac", "b.flac", "c.flac"])
    scores_file(tmp_path / "data", ["a.flac", "c.flac", "gone.flac"])
    got = realmusic.install_scores(out, tmp_path / "data")
    assert got == {"installed": True, "clips": 3, "covered": 2, "missing": 1}
    with np.load(out / realmusic.INSTALLED_SCORES) as z:
        assert z["ids"].tolist() == ["a.flac", "c.flac", "gone.flac"]


def test_install_without_committed_scores_says_why(tmp_path):
    out = corpus_with(tmp_path, ["a.flac"])
    got = realmusic.install_scores(out, tmp_path / "nothing")
    assert got["installed"] is False and realmusic.SCORES_NAME in got["reason"]
    assert not (out / realmusic.INSTALLED_SCORES).exists()


def test_export_copies_manifest(tmp_path):
    out = corpus_with(tmp_path, ["a.flac"])
    dst = realmusic.export_manifest(out, tmp_path / "data")
    assert dst.name == realmusic.MANIFEST_NAME
    assert read_csv(dst)[1] == [{"id": "a.flac", "path": "a.flac"}]
    assert [p.name for p in (tmp_path / "data").iterdir()] == [realmusic.MANIFEST_NAME]
