"""`muser train`'s options come from TrainConfig's field table, and TrainConfig checks its own
values: a config built in code is refused exactly as the command line refuses it."""
from dataclasses import fields

import pytest
import typer.main
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.core.errors import EXIT_USAGE, OptionError
from muser_train.errors import ConfigValueError
from muser_train.training.config import TrainConfig, option_flag

TRAIN = typer.main.get_command(app).commands["train"]


def test_every_field_has_an_option_and_every_option_a_field():
    options = {p.name: p for p in TRAIN.params}
    assert set(options) == {f.name for f in fields(TrainConfig)}
    for f in fields(TrainConfig):
        assert f.metadata["flag"].split("/")[0] in options[f.name].opts


def test_option_defaults_are_the_field_defaults():
    options = {p.name: p for p in TRAIN.params}
    for f in fields(TrainConfig):
        if not (f.metadata["required"] or f.metadata["path"]):
            assert options[f.name].default == f.default, f.name


def test_the_documented_flags_are_still_there():
    opts = {o for p in TRAIN.params for o in p.opts + p.secondary_opts}
    assert {"--data", "--data-dir", "--out", "-o", "--clip-seconds", "--soft-labels", "--no-soft-labels",
            "--device", "--heads", "--amp", "--init", "--resume"} <= opts


@pytest.mark.parametrize("key, value", [("heads", "all"), ("amp", "fp8"), ("data", "fma_large"),
                                        ("device", "gpu"), ("device", "cuda:x"), ("optimizer", "adam"),
                                        ("select", "loss"), ("mtt_split", "mine")])
def test_a_bad_value_is_a_typed_error_naming_the_key(key, value):
    with pytest.raises(ConfigValueError) as caught:
        TrainConfig(**{key: value})
    assert isinstance(caught.value, OptionError) and caught.value.exit_code == EXIT_USAGE
    assert caught.value.key == key and str(caught.value).startswith(f"{key} {value!r}: choose one of ")


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_the_devices_torch_knows_are_accepted(device):
    assert TrainConfig(device=device).device == device


def test_the_command_line_names_the_option_not_the_field(tmp_path):
    res = CliRunner().invoke(app, ["train", "--data", "folder", "--data-dir", str(tmp_path), "--out",
                                   str(tmp_path / "m.muser"), "--device", "gpu"])
    assert res.exit_code == EXIT_USAGE
    assert res.stderr.strip().startswith("error: --device 'gpu': choose one of auto, cpu")


def test_option_flag_maps_a_renamed_field():
    assert option_flag("clip_s") == "--clip-seconds" and option_flag("soft_labels") == "--soft-labels"
