"""`muser status` counts silent files, and `--failures` lists them with their reason (issue 15.10)."""
import json

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from muser_cli.main import app
from tests.conftest import write_clip

runner = CliRunner()


def test_status_counts_silent_files_and_lists_them(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    music = tmp_path / "music"
    write_clip(music / "tone.wav", 220.0, 5.0, seed=1)
    sf.write(music / "silence.wav", np.zeros(16000 * 5, np.float32), 16000)
    res = runner.invoke(app, ["index", str(music), "-c", str(tiny_checkpoint), "--workers", "1"])
    assert res.exit_code == 0, res.stderr

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.stderr
    record = json.loads(status.stdout)
    assert (record["tracks"], record["failed"], record["silent"]) == (1, 0, 1)

    listed = runner.invoke(app, ["status", "--failures"])
    assert listed.exit_code == 0
    assert "silence.wav" in listed.stdout + listed.stderr
    assert "silent" in listed.stdout + listed.stderr
    assert "tone.wav" not in listed.stdout + listed.stderr
