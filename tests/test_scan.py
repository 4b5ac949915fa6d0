"""`muser index`: incremental, crash-safe scans that survive bad files."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from muser_model.library.decode import Decoded, clean_text, decode_for_index, window_hop
from muser_model.library.scan import ScanOptions, index_library
from muser_model.library.store import Library, LibraryBusyError
from tests.conftest import make_tiny_checkpoint, write_clip
from tests.library_fixtures import add_bad_files, make_library


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _scan(lm, root, **kw):
    lib = Library.open("default", create=True)
    try:
        with lib.writer_lock():
            return index_library(lib, [root], lm, ScanOptions(workers=1, **kw))
    finally:
        lib.close()


def _consistent(lib: Library) -> None:
    """Catalogue and ANN index agree: same ids, same vectors."""
    ann, changed = lib.ann()
    assert not changed  # the saved index file is current
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    assert ann.size == len(ids)
    for i, v in zip(ids, vectors):
        ((got, score),) = ann.query(v, 1, allowed={int(i)})
        assert got == i and score > 0.999


def test_first_scan_then_nothing_to_do(home, tiny_model, tmp_path):
    files = make_library(tmp_path / "music")
    first = _scan(tiny_model, tmp_path / "music")
    expected = len(files) - 1  # the hidden folder is skipped
    assert (first.indexed, first.failed, first.unchanged) == (expected, 0, 0)
    again = _scan(tiny_model, tmp_path / "music")
    assert (again.indexed, again.unchanged, again.removed) == (0, expected, 0)
    lib = Library.open()
    rows = {Path(r[0]).name: r for r in lib.catalogue.db.execute("SELECT path, title, artist, year, genre FROM tracks")}
    assert rows["Café Été.flac"][1:] == ("Café Été", "Zoë Quartet", 1999, "Jazz")
    assert rows["sonata.flac"][1:3] == ("Sonata No. 1", "Ann Lee")  # NUL and control bytes stripped
    assert "skip.ogg" not in rows
    _consistent(lib)


def test_only_touched_files_are_embedded_again(home, tiny_model, tmp_path):
    files = make_library(tmp_path / "music")
    _scan(tiny_model, tmp_path / "music")
    os.utime(files["rock"], ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    summary = _scan(tiny_model, tmp_path / "music")
    assert summary.indexed == 1 and summary.unchanged == len(files) - 2
    _consistent(Library.open())


def test_removed_files_leave_the_index(home, tiny_model, tmp_path):
    files = make_library(tmp_path / "music")
    _scan(tiny_model, tmp_path / "music")
    files["jazz"].unlink()
    summary = _scan(tiny_model, tmp_path / "music")
    assert summary.removed == 1
    lib = Library.open()
    assert lib.catalogue.find_path(str(files["jazz"])) is None
    _consistent(lib)


def test_bad_files_fail_once_and_are_not_retried(home, tiny_model, tmp_path):
    make_library(tmp_path / "music")
    bad = add_bad_files(tmp_path / "music")
    first = _scan(tiny_model, tmp_path / "music")
    reasons = {Path(p).name: r for p, r in first.failures}
    assert set(reasons) == {"empty.mp3", "readme.mp3", "truncated.ogg", "truncated.mp3"}
    assert "empty" in reasons["empty.mp3"] and "not an audio file" in reasons["readme.mp3"]
    assert first.indexed >= 6  # the good ones and the WAV with broken tags
    again = _scan(tiny_model, tmp_path / "music")
    assert again.failed == 0 and again.skipped_failed == 4
    retried = _scan(tiny_model, tmp_path / "music", retry_failed=True)
    assert retried.failed == 4
    write_clip(bad["truncated"], 500.0, 3.0)  # the user repairs a file: it changed, so it is tried
    fixed = _scan(tiny_model, tmp_path / "music")
    assert fixed.indexed == 1 and fixed.skipped_failed == 3
    _consistent(Library.open())


def test_checkpoint_change_re_embeds_everything(home, tiny_model, tmp_path):
    from muser_model.runtime import load_model

    files = make_library(tmp_path / "music")
    _scan(tiny_model, tmp_path / "music")
    other = load_model(make_tiny_checkpoint(tmp_path / "other.muser", seed=1), "cpu")
    summary = _scan(other, tmp_path / "music")
    assert summary.model_changed and summary.indexed == len(files) - 1
    lib = Library.open()
    assert lib.model_hash == other.checkpoint.content_hash
    _consistent(lib)


def test_second_writer_is_refused(home, tiny_model, tmp_path):
    make_library(tmp_path / "music")
    lib = Library.open("default", create=True)
    with lib.writer_lock():
        with pytest.raises(LibraryBusyError, match="--wait"):
            _scan(tiny_model, tmp_path / "music")


def test_symlink_loop_and_unicode_paths(home, tiny_model, tmp_path):
    music = tmp_path / "music"
    write_clip(music / "ünï cödé" / "a b.ogg", 220.0, 3.0)
    (music / "ünï cödé" / "loop").symlink_to(music, target_is_directory=True)
    summary = _scan(tiny_model, music)
    assert summary.indexed == 1 and summary.failed == 0


def misbehaving_decoder(path: str, *args) -> Decoded:
    """Stands in for a decoder that segfaults on one file and loops forever on another."""
    name = Path(path).name
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("hang"):
        time.sleep(3600)
    return decode_for_index(path, *args)


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
    assert summary.indexed == 5 and time.time() - started < 60
    assert [(Path(p).name, r) for p, r in summary.failures] == [(bad, reason)]


def test_long_tracks_are_sampled_evenly(tmp_path):
    path = write_clip(tmp_path / "long.flac", 220.0, 60.0)
    item = decode_for_index(str(path), 2.0, 2.0, 16000, 8)
    assert item.windows.shape == (8, 32000) and item.windows.dtype == np.float16
    assert window_hop(60.0, 2.0, 2.0, 8) == pytest.approx(58.0 / 7)
    assert window_hop(10.0, 2.0, 2.0, 8) == 2.0


def test_clean_text():
    assert clean_text("a\x00b\x1f c \x7f") == "ab c"
    assert clean_text(b"bytes".decode()) == "bytes"


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.slow
def test_kill_minus_nine_then_resume(home, tiny_checkpoint, tmp_path):
    music = tmp_path / "music"
    n = 40
    for i in range(n):
        write_clip(music / f"t{i:02d}.ogg", 100.0 + 20 * i, 4.0, seed=i)
    cmd = [sys.executable, "-m", "muser_cli.main", "index", str(music), "-c", str(tiny_checkpoint),
           "--workers", "1", "--batch-size", "2"]
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
    workers = _children(proc.pid)
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
    _consistent(Library.open())


def vanishing_decoder(path: str, *args) -> Decoded:
    """The user deletes a file after the scan listed it and before it is decoded."""
    if "vanish" in Path(path).name:
        Path(path).unlink()
    return decode_for_index(path, *args)


def test_a_file_deleted_during_the_scan(home, tiny_model, tmp_path):
    music = tmp_path / "music"
    write_clip(music / "stays.ogg", 220.0, 2.5)
    write_clip(music / "vanish.ogg", 330.0, 2.5)
    lib = Library.open("default", create=True)
    with lib.writer_lock():
        summary = index_library(lib, [music], tiny_model, ScanOptions(workers=1, decoder=vanishing_decoder))
    assert summary.indexed == 1 and [Path(p).name for p, _ in summary.failures] == ["vanish.ogg"]
    assert "no such file" in summary.failures[0][1]
    again = _scan(tiny_model, music)
    assert again.removed == 1 and again.unchanged == 1
    _consistent(Library.open())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file(home, tiny_model, tmp_path):
    music = tmp_path / "music"
    write_clip(music / "ok.ogg", 220.0, 2.5)
    locked = write_clip(music / "locked.ogg", 330.0, 2.5)
    locked.chmod(0)
    summary = _scan(tiny_model, music)
    assert summary.indexed == 1 and "permission" in summary.failures[0][1]


def test_second_writer_can_wait_for_the_first(home, tiny_model, tmp_path):
    import threading

    write_clip(tmp_path / "music" / "a.ogg", 220.0, 2.5)
    holder = Library.open("default", create=True)
    released = threading.Event()

    def hold_then_release():
        with holder.writer_lock():
            time.sleep(1.5)
            released.set()

    thread = threading.Thread(target=hold_then_release)
    thread.start()
    time.sleep(0.2)
    waiter = Library.open("default")
    with waiter.writer_lock(wait=True):
        assert released.is_set()  # got the lock only after the first writer let go
        summary = index_library(waiter, [tmp_path / "music"], tiny_model, ScanOptions(workers=1))
    thread.join()
    assert summary.indexed == 1


def test_numpy_engine_in_the_decoders_matches_torch(home, tiny_model, tmp_path, monkeypatch):
    make_library(tmp_path / "music")
    results = {}
    for engine in ("torch", "numpy"):
        monkeypatch.setenv("MUSER_HOME", str(tmp_path / engine))
        summary = _scan(tiny_model, tmp_path / "music", engine=engine)
        assert summary.engine == engine and summary.indexed == 6 and summary.failed == 0
        lib = Library.open("default")
        ids, vecs = lib.catalogue.vectors(tiny_model.checkpoint.content_hash)
        paths = [lib.catalogue.db.execute("SELECT path FROM tracks WHERE id=?", (int(i),)).fetchone()[0]
                 for i in ids]
        results[engine] = dict(zip(paths, vecs))
        lib.close()
    assert results["torch"].keys() == results["numpy"].keys()
    worst = max(float(abs(results["torch"][p] - results["numpy"][p]).max()) for p in results["torch"])
    assert worst < 1e-4, worst


def test_auto_engine_follows_device_and_precision(tiny_model):
    from dataclasses import replace

    import torch

    from muser_model.library.scan import ScanRootError, index_engine

    assert index_engine(ScanOptions(), tiny_model) == "numpy"  # fp32 on a CPU
    assert index_engine(ScanOptions(), replace(tiny_model, autocast_dtype=torch.bfloat16)) == "torch"
    assert index_engine(ScanOptions(engine="torch"), tiny_model) == "torch"
    with pytest.raises(ScanRootError, match="unknown engine"):
        index_engine(ScanOptions(engine="gpu"), tiny_model)


def _vectors_by_path(lib: Library, model_hash: str) -> dict[str, np.ndarray]:
    ids, vecs = lib.catalogue.vectors(model_hash)
    paths = [lib.catalogue.db.execute("SELECT path FROM tracks WHERE id=?", (int(i),)).fetchone()[0] for i in ids]
    return dict(zip(paths, vecs))


def test_torch_free_index_model_gives_the_torch_vectors(home, tiny_model, tiny_checkpoint, tmp_path,
                                                        monkeypatch):
    """open_index_model's numpy engine (no torch model at all), embedding in the decoders or, for a
    decoder that only decodes, in this process: the same vectors and search head as torch's."""
    from functools import partial

    from muser_model.library.scan import open_index_model

    make_library(tmp_path / "music")
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "torch"))
    _scan(tiny_model, tmp_path / "music", engine="torch")
    reference = _vectors_by_path(Library.open("default"), tiny_model.checkpoint.content_hash)
    model = open_index_model(tiny_checkpoint, "cpu", "auto", "numpy")
    assert model.engine == "numpy" and model.lm is None
    for name, decoder in (("workers", decode_for_index), ("parent", partial(decode_for_index))):
        monkeypatch.setenv("MUSER_HOME", str(tmp_path / name))
        lib = Library.open("default", create=True)
        with lib.writer_lock():
            summary = index_library(lib, [tmp_path / "music"], model, ScanOptions(workers=1, decoder=decoder))
        assert (summary.engine, summary.indexed, summary.failed) == ("numpy", 6, 0)
        got = _vectors_by_path(lib, model.content_hash)
        assert got.keys() == reference.keys()
        assert max(float(abs(got[p] - reference[p]).max()) for p in got) < 1e-4
        assert not list(lib.root.glob("text-head-*.npz"))  # search embeds with the checkpoint's numpy section
        lib.close()


def test_open_index_model_picks_the_engine(tiny_checkpoint, monkeypatch):
    from muser_model import hardware, tagging
    from muser_model.library.scan import ScanRootError, open_index_model

    monkeypatch.setattr(tagging, "cuda_may_be_present", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert open_index_model(tiny_checkpoint).engine == "numpy"
    assert open_index_model(tiny_checkpoint, "cpu", "bf16").engine == "torch"
    assert open_index_model(tiny_checkpoint, engine="torch").engine == "torch"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)  # torch bf16 is faster there
    assert open_index_model(tiny_checkpoint).engine == "torch"
    assert open_index_model(tiny_checkpoint, precision="fp32").engine == "numpy"
    with pytest.raises(ScanRootError, match="--device cuda"):
        open_index_model(tiny_checkpoint, "cuda", "auto", "numpy")
    with pytest.raises(ScanRootError, match="unknown engine"):
        open_index_model(tiny_checkpoint, engine="gpu")


def test_numpy_index_never_imports_torch(home, tiny_checkpoint, tmp_path):
    make_library(tmp_path / "music")
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from muser_cli.main import app\n"
        f"res = CliRunner().invoke(app, ['index', {str(tmp_path / 'music')!r}, '--json', '--workers', '1',"
        f" '--device', 'cpu', '-c', {str(tiny_checkpoint)!r}])\n"
        "print(json.dumps({'code': res.exit_code, 'out': res.stdout, 'torch': 'torch' in sys.modules}))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("MUSER_ENGINE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["code"] == 0 and not report["torch"], (report, out.stderr)
    summary = json.loads(report["out"])
    assert summary["engine"] == "numpy" and summary["indexed"] == 6


def test_torch_engine_loads_in_a_thread_and_gives_the_same_vectors(home, tiny_model, tiny_checkpoint, tmp_path,
                                                                    monkeypatch):
    """open_index_model's torch engine takes its identity and text head from the numpy section and
    loads torch in a thread; the decoders start meanwhile and embed with numpy until it is there:
    the same vectors as an already loaded model's."""
    from muser_model.library import scan
    from muser_model.library.scan import open_index_model

    make_library(tmp_path / "music")
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "loaded"))
    _scan(tiny_model, tmp_path / "music", engine="torch")
    reference = _vectors_by_path(Library.open("default"), tiny_model.checkpoint.content_hash)
    real_load = scan._load_torch_model
    monkeypatch.setattr(scan, "_load_torch_model", lambda *a: (time.sleep(4), real_load(*a))[1])
    real_early, early = scan._decode_while_loading, []
    monkeypatch.setattr(scan, "_decode_while_loading", lambda *a: early.extend(real_early(*a)) or early)
    model = open_index_model(tiny_checkpoint, "cpu", "fp32", "torch")
    assert model.engine == "torch" and model.lm is None and model.loading is not None
    assert model.content_hash == tiny_model.checkpoint.content_hash
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "threaded"))
    lib = Library.open("default", create=True)
    with lib.writer_lock():
        summary = index_library(lib, [tmp_path / "music"], model, ScanOptions(workers=2))
    assert (summary.engine, summary.indexed, summary.failed) == ("torch", 6, 0)
    # files finished while torch loaded were embedded by the decoders (numpy), not held as windows
    assert early and all(item.embeddings is not None and item.windows is None for _, item in early)
    got = _vectors_by_path(lib, model.content_hash)
    assert got.keys() == reference.keys()
    assert max(float(abs(got[p] - reference[p]).max()) for p in got) < 1e-4
    assert not list(lib.root.glob("text-head-*.npz"))


def test_a_model_that_fails_to_load_changes_nothing(home, tiny_model, tmp_path, monkeypatch):
    """The load error surfaces before the library adopts the new checkpoint: the old vectors,
    index and text head stay."""
    from muser_model.errors import DeviceError
    from muser_model.library import scan
    from muser_model.library.scan import open_index_model

    make_library(tmp_path / "music")
    _scan(tiny_model, tmp_path / "music")
    before = _vectors_by_path(Library.open("default"), tiny_model.checkpoint.content_hash)
    other = make_tiny_checkpoint(tmp_path / "other.muser", seed=1)

    def fail(*_):
        time.sleep(0.5)  # the decoders have started on the files by then
        raise DeviceError("CUDA was asked for but torch sees no GPU")

    monkeypatch.setattr(scan, "_load_torch_model", fail)
    model = open_index_model(other, "cpu", "fp32", "torch")
    assert model.content_hash != tiny_model.checkpoint.content_hash
    lib = Library.open("default")
    with lib.writer_lock(), pytest.raises(DeviceError, match="no GPU"):
        index_library(lib, [tmp_path / "music"], model, ScanOptions(workers=1))
    lib.close()
    lib = Library.open("default")
    assert lib.model_hash == tiny_model.checkpoint.content_hash
    after = _vectors_by_path(lib, tiny_model.checkpoint.content_hash)
    assert after.keys() == before.keys()
    _consistent(lib)


def test_decoding_goes_on_while_the_model_loads_up_to_a_memory_limit(monkeypatch):
    from concurrent.futures import Future

    from muser_model.files import FileEntry
    from muser_model.library import scan
    from muser_model.library.scan import IndexModel, _decode_while_loading

    def stream(n):
        for i in range(n):
            yield FileEntry(f"/m/{i}.mp3", 1, 1), Decoded(f"/m/{i}.mp3", windows=np.zeros((2, 1000), np.float16))

    loading = Future()
    model = IndexModel("h", None, {}, "torch", loading=loading)
    monkeypatch.setattr(scan, "_EARLY_BYTES", 10 * 4000)  # ten files of 2 x 1000 float16 samples
    loading.set_running_or_notify_cancel()

    def finish_later():
        time.sleep(0.2)
        loading.set_result("the model")

    import threading

    threading.Thread(target=finish_later).start()
    rest = stream(25)
    early = _decode_while_loading(model, rest)
    assert len(early) == 10 and model.lm == "the model" and model.loading is None
    assert len(list(rest)) == 15  # the rest is left for the scan, in order
    loaded = IndexModel("h", None, {}, "torch", loading=None)
    assert _decode_while_loading(loaded, stream(3)) == []  # nothing is held once the model is there


def test_default_decoders_follow_the_cpus(monkeypatch):
    from muser_model import hardware

    for cpus, numpy_engine, torch_engine in ((16, 16, 15), (64, 16, 16), (2, 2, 2), (1, 2, 2)):
        monkeypatch.setattr(hardware, "usable_cpus", lambda cpus=cpus: cpus)
        assert (hardware.default_decoders("numpy"), hardware.default_decoders("torch")) == (numpy_engine, torch_engine)
    assert 1 <= hardware.usable_cpus() <= (os.cpu_count() or 1)


def test_a_scan_without_workers_uses_the_default(home, tiny_model, tmp_path, monkeypatch):
    from muser_model import hardware
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


def test_cuda_on_a_machine_without_it_fails_before_any_library_exists(home, tiny_checkpoint, tmp_path,
                                                                       monkeypatch):
    from typer.testing import CliRunner

    from muser_cli.main import app
    from muser_model import tagging

    monkeypatch.setattr(tagging, "cuda_may_be_present", lambda: False)
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
        scan._kill(pool)
    assert not marker.exists()
    assert sys.modules["__main__"] is fake_main  # put back


def test_killing_a_pool_leaves_no_thread_behind(tmp_path):
    """A pool's manager thread left running raced the interpreter's exit ("Exception ignored
    ... Bad file descriptor" on stderr after about one `muser index` in five)."""
    from muser_model.library import scan

    pool, warming = scan._start_pool(ScanOptions(workers=2))
    [f.result(timeout=60) for f in warming]
    manager = pool._executor_manager_thread
    scan._kill(pool)
    assert manager is not None and not manager.is_alive()


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


def test_ctrl_c_keeps_what_was_indexed(home, tiny_model, tmp_path):
    """Ctrl-C between commits: the files already embedded are committed, the next run resumes."""
    make_library(tmp_path / "music")
    lib = Library.open("default", create=True)
    seen = []

    def interrupt_after_three(entry, status, duration):
        seen.append(entry.path)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with lib.writer_lock():
        with pytest.raises(KeyboardInterrupt):
            index_library(lib, [tmp_path / "music"], tiny_model, ScanOptions(workers=1, commit_every=16),
                          on_file=interrupt_after_three)
        again = index_library(lib, [tmp_path / "music"], tiny_model, ScanOptions(workers=1))
    assert (again.unchanged, again.indexed) == (3, 3)


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
