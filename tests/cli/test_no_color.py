"""Colour on stderr only where it is wanted: never with NO_COLOR or without a terminal, and
never on stdout (data)."""
import os
import subprocess
import sys

import pytest


def _tag_missing_file(**env):
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run([sys.executable, "-m", "muser_cli.main", "tag", "/nonexistent/x.mp3"],
                          capture_output=True, text=True, env={**environ, **env}, timeout=120)


@pytest.mark.parametrize("env, coloured", [pytest.param({}, False, marks=pytest.mark.slow),
                                           ({"FORCE_COLOR": "1"}, True),
                                           ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)])
def test_error_colour_follows_the_conventions(env, coloured):
    res = _tag_missing_file(**env)
    assert res.returncode == 1 and res.stdout == ""
    assert ("\x1b[1;31m" in res.stderr) is coloured  # bold red "error:"
    assert res.stderr.replace("\x1b[1;31m", "").replace("\x1b[1m", "").replace("\x1b[0m", "").splitlines()[0] \
        == "error: /nonexistent/x.mp3: no such file"
