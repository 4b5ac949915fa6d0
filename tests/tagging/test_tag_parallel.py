"""`muser tag` with the numpy engine in several processes: same results, same order, same errors."""
import json
import pickle
from dataclasses import asdict

from typer.testing import CliRunner

from muser_cli.common import EXIT_FILE_FAILED
from muser_cli.main import app
from muser_model.core import hardware
from muser_model import tagging
from muser_model.core.errors import AudioError, AudioFileNotFoundError, EmptyAudioFileError
from muser_model.numpy_engine.audio import NumpyMuser
from muser_model.tagging import tag_files_numpy, tag_workers
from tests.conftest import write_clip


def _files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    return [write_clip(tmp_path / "long first.flac", 330.0, 21.0, seed=4),  # finishes last
            write_clip(tmp_path / "a.wav", 110.0, 5.0, seed=1), empty, tmp_path / "missing.ogg",
            write_clip(tmp_path / "b.ogg", 440.0, 3.5, seed=2), write_clip(tmp_path / "c.mp3", 880.0, 7.0, seed=3)]


def _comparable(result):
    if isinstance(result, AudioError):
        return type(result).__name__, str(result)
    return json.dumps(asdict(result), default=str, sort_keys=True)


def test_processes_give_the_same_results_in_input_order(tiny_checkpoint, tmp_path):
    files = _files(tmp_path)
    model = NumpyMuser.load(tiny_checkpoint)
    alone = list(tag_files_numpy(model, files, k=3, timeline=True, workers=1))
    pooled = list(tag_files_numpy(model, files, k=3, timeline=True, workers=2))
    assert [type(r).__name__ for r in pooled] == ["TagResult", "TagResult", "EmptyAudioFileError",
                                                  "AudioFileNotFoundError", "TagResult", "TagResult"]
    assert [_comparable(r) for r in pooled] == [_comparable(r) for r in alone]
    assert pooled[0].windows > pooled[1].windows  # the long file really was longer


def test_file_errors_cross_processes_intact(tmp_path):
    for error in (AudioFileNotFoundError(tmp_path / "x.mp3"), EmptyAudioFileError(tmp_path / "y.ogg"),
                  AudioError(tmp_path / "z.flac", "unknown format")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error) and again.path == error.path


def test_how_many_processes(tiny_checkpoint, tmp_path, monkeypatch):
    model = NumpyMuser.load(tiny_checkpoint)
    monkeypatch.setattr(hardware, "usable_cpus", lambda: 4)
    monkeypatch.setattr(tagging, "PARALLEL_MIN_WINDOWS", 10)  # the tiny model's windows are 2 s
    short = [write_clip(tmp_path / f"s{i}.wav", 220.0, 2.0, seed=i) for i in range(3)]  # 1 window each
    longer = [write_clip(tmp_path / f"l{i}.wav", 220.0, 30.0, seed=i) for i in range(3)]  # 15 windows each
    assert tag_workers(longer[:1], model, None) == 1  # one file: no pool
    assert tag_workers(short, model, None) == 1  # too little audio to pay for starting processes
    assert tag_workers(longer, model, None) == 3  # at most one per file
    assert tag_workers(longer * 2, model, None) == 4  # at most one per CPU
    assert tag_workers(longer, model, 8) == 3 and tag_workers(longer, model, 1) == 1
    many = [tmp_path / f"not probed {i}.mp3" for i in range(10)]  # as many files as the threshold
    assert tag_workers(many, model, None) == 4
    monkeypatch.setattr(hardware, "usable_cpus", lambda: 1)
    assert tag_workers(longer, model, None) == 1


def test_cli_workers(tiny_checkpoint, tmp_path):
    files = _files(tmp_path)
    res = CliRunner().invoke(app, ["tag", *map(str, files), "--json", "--workers", "2", "-c", str(tiny_checkpoint),
                                   "--engine", "numpy"])
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(files[i]) for i in (0, 1, 4, 5)]  # the readable ones, in order
    assert res.exit_code == EXIT_FILE_FAILED
    assert "missing.ogg: no such file" in res.stderr and "empty.wav: file is empty" in res.stderr
