"""config.toml: defaults for the options, below the command line and the environment; `muser
config`; one error line for a bad file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from muser_cli.config import ConfigError, default_map, read_config
from muser_cli.main import app


def _muser(*args, env=None):
    """The real entry point (main() reads the config file) in a fresh process."""
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "muser_cli.main", *args], capture_output=True, text=True,
                          env=full, timeout=120)


def test_the_file_sets_defaults_the_environment_and_command_line_beat_it(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('library = "from-file"\nworkers = 2\n')
    env = {"MUSER_CONFIG": str(cfg), "MUSER_HOME": str(tmp_path / "home")}
    res = _muser("status", env=env)
    assert res.returncode == 2 and "library 'from-file' does not exist" in res.stderr
    res = _muser("status", env={**env, "MUSER_LIBRARY": "from-env"})
    assert "library 'from-env' does not exist" in res.stderr
    res = _muser("status", "--library", "from-cli", env={**env, "MUSER_LIBRARY": "from-env"})
    assert "library 'from-cli' does not exist" in res.stderr


def test_muser_config_says_where_each_value_comes_from(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('library = "work"\nplaylist_base = "/music"\n')
    res = _muser("config", "--json", env={"MUSER_CONFIG": str(cfg), "MUSER_DEVICE": "cpu"})
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["path"] == str(cfg) and shown["exists"]
    assert shown["values"]["library"] == {"value": "work", "from": "file"}
    assert shown["values"]["device"] == {"value": "cpu", "from": "$MUSER_DEVICE"}
    assert shown["values"]["engine"] == {"value": "auto", "from": "built in"}


@pytest.mark.parametrize("text, message", [
    ('libary = "x"\n', "unknown key 'libary'"),
    ('workers = "two"\n', "workers = 'two' is not a whole number"),
    ('workers = 0\n', "workers = 0: give 1 or more"),
    ('device = "tpu"\n', "device: unknown device 'tpu'"),
    ('engine = "fast"\n', "engine = 'fast': use one of auto, numpy, torch"),
    ("workers = \n", "not valid TOML"),
    ("tag_min_probability = { xyz = 0.5 }\n", "tag_min_probability.xyz = 0.5: give a probability"),
    ("tag_min_probability = { mtt = 2 }\n", "tag_min_probability.mtt = 2"),
])
def test_a_bad_file_is_one_line_naming_the_key_and_the_file(tmp_path, text, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(cfg)
    res = _muser("list", env={"MUSER_CONFIG": str(cfg)})
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [res.stderr.strip()] and str(cfg) in res.stderr


def test_defaults_reach_every_command_with_the_option():
    dm = default_map(typer.main.get_command(app), {"library": "work", "playlist_base": "/music", "engine": "numpy"})
    assert {"search", "similar", "list", "status", "index", "path", "radio", "serve"} <= {
        c for c, d in dm.items() if d.get("library") == "work"}
    # serve: the m3u lists the page saves
    assert {c for c, d in dm.items() if "relative_to" in d} == {"search", "similar", "path", "radio", "serve"}
    assert {c for c, d in dm.items() if "engine" in d} == {"tag", "index"}


def test_the_tag_floors_of_the_file_set_what_tag_filters_need(tmp_path, monkeypatch):
    from muser_cli.config import apply_process_settings
    from muser_model.library import predict

    monkeypatch.setattr(predict, "TAG_MIN_PROBABILITY", dict(predict.TAG_MIN_PROBABILITY))
    cfg = tmp_path / "config.toml"
    cfg.write_text("tag_min_probability = { mtt = 0.5 }\n")
    apply_process_settings(read_config(cfg))
    assert predict.tag_min_probability("mtt") == 0.5 and predict.tag_min_probability("msd") == 0.2
