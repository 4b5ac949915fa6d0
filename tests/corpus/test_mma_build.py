"""The MMA/fluidsynth/music21 corpus builder (skipped where those tools are not installed)."""
import csv
import json
import shutil
from argparse import Namespace
from collections import defaultdict

import pytest
import soundfile as sf

from muser_model.core.vocab import MTT_TAGS

corpus_mma = pytest.importorskip("muser_train.corpus.mma")
pytest.importorskip("music21")
needs_mma = pytest.mark.skipif(not corpus_mma.MMA_LIB.is_dir(), reason="Debian mma not installed")


@needs_mma
def test_held_out_material_never_reaches_training(tmp_path):
    tasks, _, heldout, test_progs, train_progs = corpus_mma.plan(
        Namespace(out=str(tmp_path), seed=0, clips_per_style=8, classical_clips=24))
    assert not set(test_progs) & set(train_progs)
    assert not any("blues" in p for p in test_progs)
    splits = defaultdict(set)
    for t in tasks:
        splits[(t["groove"], t["variant"])].add(t["split"])
        if t["genre"] != "classical":
            assert t["progression"] in (test_progs if t["split"] == "test" else train_progs)
    assert all(len(s) == 1 for s in splits.values()), "a groove variant or piece is in both splits"
    assert {t["genre"] for t in tasks if t["split"] == "test"} >= {"blues", "classical", "jazz", "rock"}


@needs_mma
@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("fluidsynth"), reason="fluidsynth not installed")
def test_renders_a_small_corpus(tmp_path):
    out = tmp_path / "corpus"
    corpus_mma.main(["--out", str(out), "--clips-per-style", "1", "--classical-clips", "4", "--jobs", "2"])
    with open(out / "captions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 60
    for row in rows[:: max(1, len(rows) // 15)]:
        info = sf.info(out / row["path"])
        assert info.samplerate == 16000 and info.channels == 1 and abs(info.duration - 12.0) < 0.1
        assert set(row["tags"].split(";")) <= set(MTT_TAGS)
        assert row["text"] and row["split"] in ("train", "test")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == len(rows)
