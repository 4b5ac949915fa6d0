"""`muser index` stopped by SIGINT or SIGTERM at varied moments, sent to the main process alone
or to its whole process group: it exits within seconds, keeps what it committed, leaves no
process behind, and the next run resumes (a run that hangs instead can hang for good)."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_clip

# Enough files that, when the first 16 are committed, many are still to decode even when the
# parent lags behind its decoders on a loaded machine (with 40, all of them could be embedded by
# the time the signal was handled, and the scan was no longer "mid").
N_CLIPS = 96
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # as shells report them (128 + the signal)


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music")
    for i in range(N_CLIPS):
        write_clip(root / f"t{i:02d}.wav", 100.0 + 20 * i, 4.0, seed=i)
    return root


def _command(music: Path, checkpoint: Path) -> list[str]:
    # --engine numpy: the decoders embed and the rows arrive one file at a time, so a signal lands
    # mid-scan. `auto` picks torch on a CPU with native bf16; there the decoders finish all the
    # short clips while torch loads, and the rest of the scan takes milliseconds after the first
    # commit, too little for the signal to land between.
    return [sys.executable, "-m", "muser_cli.main", "index", str(music), "-c", str(checkpoint), "--workers", "2",
            "--engine", "numpy"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "MUSER_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def _committed(home: Path) -> int:
    db = home / "libraries" / "default" / "catalogue.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=0.1) as con:
            return con.execute("SELECT COUNT(*) FROM tracks WHERE status='ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _in_session(sid: int) -> list[int]:
    """Processes of session `sid` (the scan was started as a session leader: it and all its descendants)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # polling a condition, with a deadline
    return True


def _moment_reached(moment: str | float, proc: subprocess.Popen, home: Path, started: float) -> bool:
    if moment == "decoding":  # the decoder processes run
        return len(_in_session(proc.pid)) > 1
    if moment == "committed":  # the first rows are in the catalogue
        return _committed(home) > 0
    return time.monotonic() - started >= moment  # seconds after the start


def _interrupt(music: Path, checkpoint: Path, home: Path, sig: int, to_group: bool, moment: str | float) -> int:
    """Run `muser index`, send `sig` at `moment`; check the exit; return the tracks it committed."""
    started = time.monotonic()
    proc = subprocess.Popen(_command(music, checkpoint), env=_env(home), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: proc.poll() is not None or _moment_reached(moment, proc, home, started), 120)
        try:
            (os.killpg if to_group else os.kill)(proc.pid, sig)
        except ProcessLookupError:  # the scan had finished and been reaped by poll()
            pass
        signalled = time.monotonic()
        stderr = proc.communicate(timeout=20)[1]
        exit_s = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    what = f"{signal.Signals(sig).name} to {'group' if to_group else 'main'} at {moment}"
    expected = {EXIT_CODES[sig], 0}  # 0: the scan had finished
    if not isinstance(moment, str):  # perhaps before the CLI's handlers were in place (start-up, imports)
        expected.add(-sig)
    assert proc.returncode in expected, (what, proc.returncode, stderr)
    assert exit_s < 10, (what, exit_s)
    assert _wait_for(lambda: not _in_session(proc.pid), 5), (what, "left behind", _in_session(proc.pid))
    assert "leaked semaphore" not in stderr and "Exception ignored" not in stderr, (what, stderr)
    return _committed(home)


def _resume(music: Path, checkpoint: Path, home: Path, committed: int) -> None:
    done = subprocess.run(_command(music, checkpoint) + ["--json"], env=_env(home), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["unchanged"] == committed and summary["indexed"] + summary["unchanged"] == N_CLIPS


def test_sigterm_to_the_group_mid_scan_commits_and_resumes(music, tiny_checkpoint, tmp_path):
    """SIGTERM (`kill`, systemd, docker stop) is handled like Ctrl-C: commit, kill the decoders, 143."""
    committed = _interrupt(music, tiny_checkpoint, tmp_path, signal.SIGTERM, True, "committed")
    assert 0 < committed < N_CLIPS, "the signal should land mid-scan"
    _resume(music, tiny_checkpoint, tmp_path, committed)


@pytest.mark.slow
def test_many_interrupts_at_random_moments(music, tiny_checkpoint, tmp_path):
    rng = random.Random(15)
    for i in range(12):
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        moment = rng.choice(["decoding", "committed", round(rng.uniform(0.2, 3.0), 2)])
        home = tmp_path / f"home{i}"
        committed = _interrupt(music, tiny_checkpoint, home, sig, rng.random() < 0.5, moment)
        if i % 3 == 0 and committed < N_CLIPS:
            _resume(music, tiny_checkpoint, home, committed)
