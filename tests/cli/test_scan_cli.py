"""`muser index` at the command line: errors before any work, messages, exit codes."""
import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from tests.helpers.library_fixtures import home, make_library  # noqa: F401


def test_cuda_on_a_machine_without_it_fails_before_any_library_exists(home, tiny_checkpoint, tmp_path,
                                                                       monkeypatch):
    from typer.testing import CliRunner

    from muser_cli.main import app
    from muser_model import engine_choice
    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: False)
    make_library(tmp_path / "music")
    res = CliRunner().invoke(app, ["index", str(tmp_path / "music"), "--device", "cuda", "-c", str(tiny_checkpoint)])
    assert res.exit_code != 0 and "CUDA is not available" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (home / "libraries").exists()


def test_a_missing_folder_is_reported_before_any_model_loads(home, tiny_checkpoint, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from muser_cli.main import app
    from muser_model.library import scan

    calls = []
    monkeypatch.setattr(scan, "_load_torch_model", lambda *a: calls.append(a))
    res = CliRunner().invoke(app, ["index", str(tmp_path / "Muisc"), "--engine", "torch", "-c", str(tiny_checkpoint)])
    assert res.exit_code == 2 and res.stderr.strip() == f"error: {tmp_path / 'Muisc'}: not a folder"
    assert calls == [] and not (home / "libraries").exists()


def test_cli_says_how_to_resume_after_ctrl_c(home, tiny_checkpoint, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from muser_cli.main import app
    from muser_model.library import scan

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    make_library(tmp_path / "music")
    monkeypatch.setattr(scan, "index_library", interrupted)
    res = CliRunner().invoke(app, ["index", str(tmp_path / "music"), "-c", str(tiny_checkpoint)])
    assert res.exit_code == 130
    assert "interrupted: the files indexed so far are kept; run the same command again to resume" in res.stderr


def test_cli_says_terminated_and_exits_143_on_sigterm(home, tiny_checkpoint, tmp_path, monkeypatch):
    from muser_model.library import scan
    from muser_model.library.pool import Terminated

    def terminated(*args, **kwargs):
        raise Terminated()

    make_library(tmp_path / "music")
    monkeypatch.setattr(scan, "index_library", terminated)
    res = CliRunner().invoke(app, ["index", str(tmp_path / "music"), "-c", str(tiny_checkpoint)])
    assert res.exit_code == 143
    assert "terminated: the files indexed so far are kept; run the same command again to resume" in res.stderr


def test_sigterm_raises_terminated_only_inside_the_block():
    import os
    import signal

    import pytest

    from muser_model.library.pool import Terminated, sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs in this thread before kill returns to us
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_folder_without_audio_is_an_error_and_creates_no_library(home, tiny_checkpoint, tmp_path):
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    (tmp_path / "empty" / "notes" / "readme.txt").write_text("no music here\n")
    res = CliRunner().invoke(app, ["index", str(tmp_path / "empty"), "-c", str(tiny_checkpoint)])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: no audio files found in {tmp_path / 'empty'}"
    assert not (home / "libraries").exists()


@pytest.mark.slow
def test_a_folder_emptied_since_the_last_scan_drops_its_tracks(home, tiny_checkpoint, tmp_path):
    """An existing library: the empty folder is a scan that removes what was there (exit 0); a
    folder that never held audio is the same error (exit 2) and changes nothing."""
    import json
    import shutil

    make_library(tmp_path / "music")
    first = CliRunner().invoke(app, ["index", str(tmp_path / "music"), "-c", str(tiny_checkpoint), "--workers", "1"])
    assert first.exit_code == 0, first.stderr
    (tmp_path / "other").mkdir()
    res = CliRunner().invoke(app, ["index", str(tmp_path / "other"), "-c", str(tiny_checkpoint)])
    assert res.exit_code == 2 and "no audio files found" in res.stderr
    for child in (tmp_path / "music").iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    again = CliRunner().invoke(app, ["index", str(tmp_path / "music"), "-c", str(tiny_checkpoint), "--json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["removed"] > 0


def test_ctrl_c_while_the_model_loads_exits_130(home, tiny_checkpoint, tmp_path, monkeypatch):
    from muser_model.library import scan

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    make_library(tmp_path / "music")
    monkeypatch.setattr(scan, "open_index_model", interrupted)
    res = CliRunner().invoke(app, ["index", str(tmp_path / "music"), "-c", str(tiny_checkpoint)])
    assert res.exit_code == 130 and res.stderr.strip() == "error: interrupted"
    assert not (home / "libraries").exists()
