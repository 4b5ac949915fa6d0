"""The decoder pool: crashes and hangs fail one file; kills are quick and leave nothing behind."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from muser_model.core.process_settings import pool_processes
from muser_model.library.pool import kill_pool
from muser_model.library.scan import ScanOptions, index_library
from muser_model.library.store import Library
from tests.conftest import write_clip
from tests.helpers.library_fixtures import assert_consistent, children_of, home, make_library  # noqa: F401
from tests.helpers.pool_helpers import HANG_S, misbehaving_decoder


@pytest.mark.slow
@pytest.mark.parametrize("bad,reason", [("crash.ogg", "decoder crashed on this file"),
                                        ("hang.ogg", "decoding took longer than 4 s")])
def test_a_misbehaving_decoder_fails_only_its_file(home, tiny_model, tmp_path, bad, reason):
    music = tmp_path / "music"
    for i in range(5):
        write_clip(music / f"ok{i}.ogg", 200.0 + 50 * i, 2.5, seed=i)
    write_clip(music / bad, 300.0, 2.5)
    lib = Library.open("default", create=True)
    started = time.time()
    with lib.writer_lock():
        summary = index_library(lib, [music], tiny_model,
                                ScanOptions(workers=2, decoder=misbehaving_decoder, decode_timeout_s=4))
    # The hung decoder sleeps HANG_S (an hour): a scan that ends in a fraction of that killed it,
    # however loaded the machine (a 60 s bound failed at 62-74 s under load). The 4 s decode
    # timeout itself is checked by the reason.
    assert summary.indexed == 5 and time.time() - started < HANG_S / 4
    assert [(Path(p).name, r) for p, r in summary.failures] == [(bad, reason)]


@pytest.mark.slow
def test_kill_minus_nine_then_resume(home, tiny_checkpoint, tmp_path):
    music = tmp_path / "music"
    n = 40
    for i in range(n):
        write_clip(music / f"t{i:02d}.ogg", 100.0 + 20 * i, 4.0, seed=i)
    # --engine numpy: rows arrive a file at a time. With `auto` on a CPU with native bf16 the torch
    # engine gets all 40 short clips decoded while it loads, and commits them within milliseconds.
    cmd = [sys.executable, "-m", "muser_cli.main", "index", str(music), "-c", str(tiny_checkpoint),
           "--workers", "1", "--engine", "numpy"]
    env = {**os.environ, "MUSER_HOME": str(home)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = home / "libraries" / "default" / "catalogue.sqlite"
    deadline = time.time() + 120
    committed = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                committed = sqlite3.connect(db).execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
            except sqlite3.Error:
                committed = 0
            if committed >= 16:
                break
        time.sleep(0.05)
    workers = children_of(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    assert workers and not any(Path(f"/proc/{w}").exists() for w in workers), "orphaned decoder processes"
    assert 0 < committed < n, "the kill should land mid-scan"
    done = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads(done.stdout)
    assert summary["unchanged"] >= committed and summary["indexed"] + summary["unchanged"] == n
    assert_consistent(Library.open())


def test_decoders_start_without_the_programs_main(tmp_path, monkeypatch):
    """Spawned decoders import their own module only, not the program's __main__ (for users the
    `muser` script: typer, rich and the CLI), which spawn would otherwise run again in each."""
    import types

    from muser_model.library import scan

    marker = tmp_path / "main-ran"
    script = tmp_path / "fake_main.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    pool, warming = scan._start_pool(ScanOptions(workers=2))
    try:
        assert [f.result(timeout=60) > 0 for f in warming] == [True, True]
        assert pool.submit(eval, "'muser_model.library.decode' in __import__('sys').modules").result(timeout=60)
    finally:
        kill_pool(pool)
    assert not marker.exists()
    assert sys.modules["__main__"] is fake_main  # put back


def test_killing_a_pool_leaves_no_thread_behind(tmp_path):
    """A pool's manager thread left running raced the interpreter's exit ("Exception ignored
    ... Bad file descriptor" on stderr after about one `muser index` in five)."""
    from muser_model.library import scan

    pool, warming = scan._start_pool(ScanOptions(workers=2))
    [f.result(timeout=60) for f in warming]
    manager = pool._executor_manager_thread
    kill_pool(pool)
    assert manager is not None and not manager.is_alive()


def test_default_decoders_follow_the_cpus(monkeypatch):
    from muser_model.core import hardware
    for cpus, numpy_engine, torch_engine in ((16, 16, 15), (64, 16, 16), (2, 2, 2), (1, 2, 2)):
        monkeypatch.setattr(hardware, "usable_cpus", lambda cpus=cpus: cpus)
        assert (hardware.default_decoders("numpy"), hardware.default_decoders("torch")) == (numpy_engine, torch_engine)
    assert 1 <= hardware.usable_cpus() <= (os.cpu_count() or 1)


def test_a_scan_without_workers_uses_the_default(home, tiny_model, tmp_path, monkeypatch):
    from muser_model.core import hardware
    from muser_model.library import scan

    make_library(tmp_path / "music")
    monkeypatch.setattr(hardware, "usable_cpus", lambda: 3)
    seen = []
    real_start = scan._start_pool
    monkeypatch.setattr(scan, "_start_pool", lambda opts, *a: (seen.append(opts.workers), real_start(opts, *a))[1])
    lib = Library.open("default", create=True)
    with lib.writer_lock():
        summary = index_library(lib, [tmp_path / "music"], tiny_model, ScanOptions(engine="torch"))
    assert summary.indexed == 6 and seen == [2]  # 3 CPUs, one kept for the torch engine here


@pytest.mark.slow
def test_a_rescan_with_nothing_to_do_starts_no_decoders(home, tiny_model, tmp_path, monkeypatch):
    from muser_model.library import scan

    make_library(tmp_path / "music")
    starts = []
    real_start = scan._start_pool
    monkeypatch.setattr(scan, "_start_pool", lambda *a: (starts.append(1), real_start(*a))[1])
    lib = Library.open("default", create=True)
    with lib.writer_lock():
        first = index_library(lib, [tmp_path / "music"], tiny_model, ScanOptions(workers=1))
        again = index_library(lib, [tmp_path / "music"], tiny_model, ScanOptions(workers=1))
    assert (first.indexed, again.indexed, again.unchanged) == (6, 0, 6)
    assert starts == [1]  # the second scan found nothing to decode


_DIE_MID_RESULT = """
import sys, time
from muser_model.library.pool import kill_pool, start_pool
from tests.helpers.pool_helpers import die_mid_result
pool, warming = start_pool(1, "tests.helpers.pool_helpers")
[f.result(60) for f in warming]
(worker,) = pool._processes.values()
pool.submit(die_mid_result)
deadline = time.monotonic() + 60
while worker.is_alive() and time.monotonic() < deadline:
    time.sleep(0.02)  # polling a condition, with a deadline
started = time.monotonic()
kill_pool(pool)
print(f"{time.monotonic() - started:.2f}", not worker.is_alive())
"""


def test_a_decoder_dying_mid_result_does_not_hang_the_kill():
    """A decoder killed while its result was in the pipe can leave the pool's manager thread
    waiting for the rest of the message, so that shutdown, then the interpreter's exit, hang for
    good (a SIGINTed `muser index` would never return). kill_pool returns and the program exits."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", _DIE_MID_RESULT], capture_output=True, text=True, env=env,
                          cwd=root, timeout=90)
    assert done.returncode == 0, done.stderr
    seconds, worker_gone = done.stdout.split()
    assert float(seconds) < 6 and worker_gone == "True"
    assert "leaked semaphore" not in done.stderr


def test_decoders_leave_the_parents_process_group_and_ignore_ctrl_c():
    """A Ctrl-C at the terminal goes to the whole process group: the decoders must not see it
    (the parent commits, then kills them with their ffmpeg children)."""
    from muser_model.library import scan

    pool, warming = scan._start_pool(ScanOptions(workers=2))
    try:
        for f in warming:  # one worker may run both warm-ups: the pids come from the pool itself
            f.result(timeout=60)
        pids = [p.pid for p in pool_processes(pool)]
        assert len(pids) == 2
        # the worker that ran no warm-up may still be in its initializer (where it leaves the group)
        deadline = time.monotonic() + 60
        while any(os.getpgid(pid) != pid for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(os.getpgid(pid) == pid != os.getpgid(0) for pid in pids)
        os.kill(pids[0], signal.SIGINT)
        assert pool.submit(os.getpid).result(timeout=60) in pids  # the pool still works
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)
    finally:
        kill_pool(pool)
