import json

import pytest
import torch
from typer.testing import CliRunner

from muser_cli.main import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_tag_json_schema(tiny_checkpoint, clips):
    res = _run("tag", *clips, "--json", "-k", 3, "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    rows = _json_lines(res.stdout)
    assert [r["path"] for r in rows] == [str(p) for p in clips]
    for row in rows:
        assert len(row["tags"]) == 3
        assert {"label", "score", "kind", "method"} <= set(row["tags"][0])
        assert row["genre"]["label"] in {"blues", "classical", "country", "disco", "hiphop", "jazz",
                                         "metal", "pop", "reggae", "rock"}
        assert row["genre"] == row["genres"][0] and row["windows"] >= 1
        scores = [t["score"] for t in row["tags"]]
        assert scores == sorted(scores, reverse=True)


def test_folder_is_walked(tiny_checkpoint, clips):
    res = _run("tag", clips[0].parent, "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0
    assert sorted(r["path"] for r in _json_lines(res.stdout)) == sorted(str(p) for p in clips)


def test_bad_files_are_reported_and_the_rest_tagged(tiny_checkpoint, clips, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp3"
    text.write_text("these are my notes")
    res = _run("tag", clips[0], empty, text, tmp_path / "missing.ogg", clips[1], "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 1
    assert [r["path"] for r in _json_lines(res.stdout)] == [str(clips[0]), str(clips[1])]
    errors = [l for l in res.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 3
    assert "empty.wav" in errors[0] and "empty" in errors[0]
    assert "notes.mp3" in errors[1] and "not an audio file" in errors[1]
    assert "missing.ogg" in errors[2] and "no such file" in errors[2]
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_human_output(tiny_checkpoint, clips):
    res = _run("tag", clips[0], "-c", tiny_checkpoint)
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0] == str(clips[0])
    assert lines[1].strip().startswith("genre") and lines[2].strip().startswith("tags")


@pytest.mark.slow
def test_open_vocabulary_labels(tiny_checkpoint, clips):
    res = _run("tag", clips[0], "--json", "--labels", "calm, angry ,piano,", "-c", tiny_checkpoint)
    (row,) = _json_lines(res.stdout)
    assert sorted(l["label"] for l in row["labels"]) == ["angry", "calm", "piano"]
    assert sum(l["score"] for l in row["labels"]) == pytest.approx(1.0, abs=1e-3)


def test_timeline_has_one_row_per_window(tiny_checkpoint, clips):
    res = _run("tag", clips[2], "--json", "--timeline", "-k", 2, "-c", tiny_checkpoint)
    (row,) = _json_lines(res.stdout)
    assert len(row["timeline"]) == row["windows"] == 4
    assert [w["start_s"] for w in row["timeline"]] == [0.0, 2.0, 4.0, 6.0]
    assert all(len(w["tags"]) == 2 for w in row["timeline"])


@pytest.mark.slow
def test_batch_size_does_not_change_output(tiny_checkpoint, clips):
    a = _json_lines(_run("tag", *clips, "--json", "--batch-size", 1, "-c", tiny_checkpoint).stdout)
    b = _json_lines(_run("tag", *clips, "--json", "--batch-size", 64, "-c", tiny_checkpoint).stdout)
    for x, y in zip(a, b):
        assert [t["label"] for t in x["tags"]] == [t["label"] for t in y["tags"]]
        assert x["genre"]["score"] == pytest.approx(y["genre"]["score"], abs=1e-3)


def test_no_audio_found(tiny_checkpoint, tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    res = _run("tag", tmp_path, "-c", tiny_checkpoint)
    assert res.exit_code == 2 and "no audio files" in res.stderr


def test_bad_checkpoint_is_a_clear_error(clips, tmp_path):
    bad = tmp_path / "broken.muser"
    bad.write_bytes(b"MUSERCK\x00" + b"\x01" * 10)
    res = _run("tag", clips[0], "-c", bad)
    assert res.exit_code == 3
    assert "broken.muser" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_without_cuda(tiny_checkpoint, clips):
    res = _run("tag", clips[0], "--device", "cuda", "-c", tiny_checkpoint)
    assert res.exit_code == 3 and "CUDA is not available" in res.stderr


def test_info_json(tiny_checkpoint):
    res = _run("info", "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0
    (report,) = _json_lines(res.stdout)
    assert report["checkpoint"] == str(tiny_checkpoint)
    assert len(report["content_hash"]) == 64
    assert report["config"]["name"] == "tiny"
    assert set(report["parameters"]) >= {"waveform", "spectrogram", "text"}
    assert report["training"]["corpus"] == "random weights (tests)"


def test_info_human(tiny_checkpoint):
    res = _run("info", "-c", tiny_checkpoint)
    assert res.exit_code == 0 and "content hash" in res.stdout and "waveform" in res.stdout
