"""`muser serve`: where it listens, what it says, how it stops."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.helpers.library_fixtures import run_cli
from tests.helpers.web_fixtures import build_web_library


def _start(args: list[str], env: dict) -> tuple[subprocess.Popen, str, str]:
    """`muser serve ARGS`, the URL it announces on stderr, and what it said before."""
    proc = subprocess.Popen([sys.executable, "-m", "muser_cli.main", "serve", "--no-browser", "--port", "0", *args],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    said, deadline = [], time.time() + 60
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        said.append(line)
        found = re.search(r"http://[\d.]+:\d+/", line)
        if found:
            return proc, found.group(0), "".join(said)
    proc.kill()
    raise AssertionError("muser serve did not announce its address: " + "".join(said))


@pytest.fixture
def served_home(tmp_path, monkeypatch):
    """The environment of a `muser serve` over the library "web" (MUSER_HOME set here too)."""
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    build_web_library(tmp_path)
    return {**os.environ, "NO_COLOR": "1"}


@pytest.mark.slow
def test_serve_answers_on_127_0_0_1_and_ctrl_c_stops_it(served_home):
    proc, url, _ = _start(["--library", "web"], served_home)
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/search?q=calm%20piano&limit=3", timeout=30) as r:
            assert len(json.load(r)["hits"]) == 3
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "stopped" in err and "Traceback" not in err


@pytest.mark.slow
def test_listening_on_every_interface_warns(served_home):
    proc, url, said = _start(["--library", "web", "--host", "0.0.0.0"], served_home)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert "warning: listening on 0.0.0.0" in said and url.startswith("http://127.0.0.1:")


def test_serve_without_a_library_is_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    result = run_cli("serve", "--no-browser", "--library", "nothing")
    assert result.exit_code == 2 and "does not exist yet" in result.output


def test_serve_without_the_web_extra_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_uvicorn(name, *args, **kwargs):
        if name == "uvicorn":
            raise ImportError("No module named 'uvicorn'", name="uvicorn")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    result = run_cli("serve", "--no-browser")
    assert result.exit_code == 2 and 'pip install "muser[web]"' in result.output and "uvicorn" in result.output


def test_a_port_in_use_is_one_line_naming_it(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    build_web_library(tmp_path)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        result = run_cli("serve", "--no-browser", "--library", "web", "--port", port)
    finally:
        taken.close()
    assert result.exit_code == 2 and f"--port {port}" in result.output


@pytest.mark.slow
def test_ctrl_c_during_a_reindex_stops_both_and_keeps_what_was_indexed(served_home, tmp_path):
    from muser_model.library.store import Library
    from tests.conftest import write_clip

    for i in range(16):
        write_clip(tmp_path / "music" / "more" / f"m{i:02d}.ogg", 150.0 + 25 * i, 8.0, seed=40 + i)
    proc, url, _ = _start(["--library", "web", "--workers", "1"], served_home)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            token = re.search(r'name="csrf-token" content="([^"]+)"', r.read().decode()).group(1)
        start = urllib.request.Request(url + "api/reindex", method="POST", headers={"X-CSRF-Token": token})
        with urllib.request.urlopen(start, timeout=30) as r:
            assert r.status == 202
        deadline = time.time() + 120
        while time.time() < deadline:
            with urllib.request.urlopen(url + "api/status", timeout=30) as r:
                progress = json.load(r)["reindex"]
            if progress["indexed"] >= 2 or progress["state"] != "running":
                break
            time.sleep(0.2)
        assert progress["state"] == "running", progress  # still going: 16 new files, one decoder
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    lib = Library.open("web", readonly=True)
    more = [p for p, s in lib.catalogue.states().items() if "/more/" in p and s.status == "ok"]
    lib.close()
    assert 2 <= len(more) < 16  # what was embedded is committed; the rest waits for the next scan


def test_the_listening_socket_sends_small_writes_at_once():
    """Without TCP_NODELAY a keep-alive response's body waits for the browser's delayed ACK
    (measured: 40 ms added to every search after the first on a connection)."""
    import socket

    from muser_cli.serve_cmd import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()
