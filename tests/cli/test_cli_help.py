"""Help and conventions: every option explains itself, `-h` works like `--help` everywhere,
`muser --version` answers, usage lines name arguments plainly."""
import re

import pytest
import typer.main
from typer.testing import CliRunner

from muser_cli.main import app

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_version_is_the_package_version():
    from importlib.metadata import version

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"muser {version('muser')}"


@pytest.mark.parametrize("command", COMMANDS)
def test_dash_h_is_help_on_every_command(command):
    res = runner.invoke(app, [command, "-h"])
    assert res.exit_code == 0 and "Usage:" in res.stdout
    assert res.stdout == runner.invoke(app, [command, "--help"]).stdout


def test_dash_h_on_muser_itself():
    res = runner.invoke(app, ["-h"])
    assert res.exit_code == 0 and "--version" in res.stdout and "tag" in res.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_and_argument_has_help(command):
    params = typer.main.get_command(app).commands[command].params
    assert [p.name for p in params if not getattr(p, "help", None)] == []


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lines_do_not_trail_off_and_arguments_read_plainly(command):
    """Square brackets in help text were eaten as Rich markup ("numpy engine ."), and typer showed
    the argument as `{inputs}...`."""
    text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"}).stdout
    assert not re.search(r"\w \.", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and not re.search(r"\b[a-z_]+\.\.\.", usage), usage


def test_usage_names_the_arguments():
    text = runner.invoke(app, ["tag", "--help"]).stdout
    assert "tag [OPTIONS] PATH..." in text
    assert "index [OPTIONS] FOLDER..." in runner.invoke(app, ["index", "--help"]).stdout
