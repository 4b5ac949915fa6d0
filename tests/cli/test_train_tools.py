"""`muser-train`: every training tool under one typer app, with muser's error handler and exit codes;
`python -m muser_train.corpus` is the same command."""
import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muser_cli.train_tools import SUMMARY, TOOLS, app, command_of
from muser_model.core.errors import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
MODULES = [m for commands in TOOLS.values() for m in commands.values()]
runner = CliRunner()


def test_every_module_with_a_main_is_a_muser_train_command():
    with_main = {".".join(["muser_train", *p.relative_to(ROOT / "train").with_suffix("").parts])
                 for p in (ROOT / "train").rglob("*.py") if re.search(r"^def main\(", p.read_text(), re.M)}
    assert with_main == set(MODULES) and set(SUMMARY) == set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_each_command_runs_its_module(module):
    group, name = command_of(module)
    assert TOOLS[group][name] == module and callable(import_module(module).main)


def test_no_library_code_raises_system_exit():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "train").rglob("*.py") if "SystemExit" in p.read_text()]
    assert offenders == []


def test_a_corpus_option_error_is_one_line_and_exit_2(tmp_path):
    res = runner.invoke(app, ["corpus", "mma", "--out", str(tmp_path / "x"), "--subsample", "6",
                              "--complement-of", "6"])
    assert res.exit_code == EXIT_USAGE
    assert res.stderr.strip() == "error: --complement-of and --subsample exclude each other"


def test_a_tool_s_help_names_the_command_as_typed():
    res = runner.invoke(app, ["corpus", "mma", "-h"], prog_name="muser-train")
    assert res.exit_code == 0 and res.stdout.startswith("usage: muser-train corpus mma")


def test_python_m_muser_train_corpus_is_the_build_command():
    res = subprocess.run([sys.executable, "-m", "muser_train.corpus", "-h"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("usage: ")
    assert "--sources" in res.stdout and "Build the whole offline training corpus" in res.stdout
