"""`muser index` engines: numpy in the decoders, torch here (loaded in a thread), the same vectors."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from muser_model.library.decode import Decoded, IndexJob
from muser_model.library.scan import ScanOptions, index_library
from muser_model.library.store import Library
from tests.conftest import make_tiny_checkpoint
from tests.helpers.pool_helpers import DecodeOnlyJob
from tests.helpers.library_fixtures import assert_consistent, home, make_library, scan_folder, vectors_by_path  # noqa: F401


@pytest.mark.slow  # loads torch beside numpy (3-6 s); engine parity is also pinned in test_numpy_audio
def test_numpy_engine_in_the_decoders_matches_torch(home, tiny_model, tmp_path, monkeypatch):
    make_library(tmp_path / "music")
    results = {}
    for engine in ("torch", "numpy"):
        monkeypatch.setenv("MUSER_HOME", str(tmp_path / engine))
        summary = scan_folder(tiny_model, tmp_path / "music", engine=engine)
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

    from muser_model.core.errors import EngineError
    from muser_model.library.scan import index_engine

    assert index_engine(ScanOptions(), tiny_model) == "numpy"  # fp32 on a CPU
    assert index_engine(ScanOptions(), replace(tiny_model, autocast_dtype=torch.bfloat16)) == "torch"
    assert index_engine(ScanOptions(engine="torch"), tiny_model) == "torch"
    with pytest.raises(EngineError, match="unknown engine"):
        index_engine(ScanOptions(engine="gpu"), tiny_model)


@pytest.mark.slow  # loads torch beside numpy (3-6 s); engine parity is also pinned in test_numpy_audio
def test_torch_free_index_model_gives_the_torch_vectors(home, tiny_model, tiny_checkpoint, tmp_path,
                                                        monkeypatch):
    """open_index_model's numpy engine (no torch model at all), embedding in the decoders or, for a
    decoder that only decodes, in this process: the same vectors and search head as torch's."""
    from muser_model.library.scan import open_index_model

    make_library(tmp_path / "music")
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "torch"))
    scan_folder(tiny_model, tmp_path / "music", engine="torch")
    reference = vectors_by_path(Library.open("default"), tiny_model.checkpoint.content_hash)
    model = open_index_model(tiny_checkpoint, "cpu", "auto", "numpy")
    assert model.engine == "numpy" and model.lm is None
    for name, job in (("workers", IndexJob), ("parent", DecodeOnlyJob)):
        monkeypatch.setenv("MUSER_HOME", str(tmp_path / name))
        lib = Library.open("default", create=True)
        with lib.writer_lock():
            summary = index_library(lib, [tmp_path / "music"], model, ScanOptions(workers=1, job=job))
        assert (summary.engine, summary.indexed, summary.failed) == ("numpy", 6, 0)
        got = vectors_by_path(lib, model.content_hash)
        assert got.keys() == reference.keys()
        assert max(float(abs(got[p] - reference[p]).max()) for p in got) < 1e-4
        assert not list(lib.root.glob("text-head-*.npz"))  # search embeds with the checkpoint's numpy section
        lib.close()


def test_open_index_model_picks_the_engine(tiny_checkpoint, monkeypatch):
    from muser_model import engine_choice
    from muser_model.core import hardware
    from muser_model.core.errors import EngineError
    from muser_model.library.scan import open_index_model

    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert open_index_model(tiny_checkpoint).engine == "numpy"
    assert open_index_model(tiny_checkpoint, "cpu", "bf16").engine == "torch"
    assert open_index_model(tiny_checkpoint, engine="torch").engine == "torch"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)  # torch bf16 is faster there
    assert open_index_model(tiny_checkpoint).engine == "torch"
    assert open_index_model(tiny_checkpoint, precision="fp32").engine == "numpy"
    with pytest.raises(EngineError, match="--device cuda"):
        open_index_model(tiny_checkpoint, "cuda", "auto", "numpy")
    with pytest.raises(EngineError, match="unknown engine"):
        open_index_model(tiny_checkpoint, engine="gpu")


def test_numpy_index_never_imports_torch(home, tiny_checkpoint, tmp_path):
    # --engine numpy: `auto` rightly picks torch on a CPU with native bf16 (AVX512-BF16, AMX);
    # which engine auto picks is test_open_index_model_picks_the_engine's concern
    make_library(tmp_path / "music")
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from muser_cli.main import app\n"
        f"res = CliRunner().invoke(app, ['index', {str(tmp_path / 'music')!r}, '--json', '--workers', '1',"
        f" '--device', 'cpu', '--engine', 'numpy', '-c', {str(tiny_checkpoint)!r}])\n"
        "print(json.dumps({'code': res.exit_code, 'out': res.stdout, 'torch': 'torch' in sys.modules}))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("MUSER_ENGINE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["code"] == 0 and not report["torch"], (report, out.stderr)
    summary = json.loads(report["out"])
    assert summary["engine"] == "numpy" and summary["indexed"] == 6


def _signal_first_decoded(monkeypatch) -> threading.Event:
    """An event set when the scan's decoders hand over their first file."""
    from muser_model.library import scan

    first, real_stream = threading.Event(), scan.decoded_stream

    def stream(*args, **kwargs):
        for pair in real_stream(*args, **kwargs):
            first.set()
            yield pair

    monkeypatch.setattr(scan, "decoded_stream", stream)
    return first


@pytest.mark.slow  # loads torch beside numpy (3-6 s); engine parity is also pinned in test_numpy_audio
def test_torch_engine_loads_in_a_thread_and_gives_the_same_vectors(home, tiny_model, tiny_checkpoint, tmp_path,
                                                                    monkeypatch):
    """open_index_model's torch engine takes its identity and text head from the numpy section and
    loads torch in a thread; the decoders start meanwhile and embed with numpy until it is there:
    the same vectors as an already loaded model's."""
    from muser_model.library import scan
    from muser_model.library.scan import open_index_model

    make_library(tmp_path / "music")
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "loaded"))
    scan_folder(tiny_model, tmp_path / "music", engine="torch")
    reference = vectors_by_path(Library.open("default"), tiny_model.checkpoint.content_hash)
    real_load, first_decoded = scan._load_torch_model, _signal_first_decoded(monkeypatch)
    monkeypatch.setattr(scan, "_load_torch_model", lambda *a: (first_decoded.wait(120), real_load(*a))[1])
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
    got = vectors_by_path(lib, model.content_hash)
    assert got.keys() == reference.keys()
    assert max(float(abs(got[p] - reference[p]).max()) for p in got) < 1e-4
    assert not list(lib.root.glob("text-head-*.npz"))


@pytest.mark.slow
def test_a_model_that_fails_to_load_changes_nothing(home, tiny_model, tmp_path, monkeypatch):
    """The load error surfaces before the library adopts the new checkpoint: the old vectors,
    index and text head stay."""
    from muser_model.core.errors import DeviceError
    from muser_model.library import scan
    from muser_model.library.scan import open_index_model

    make_library(tmp_path / "music")
    scan_folder(tiny_model, tmp_path / "music")
    before = vectors_by_path(Library.open("default"), tiny_model.checkpoint.content_hash)
    other = make_tiny_checkpoint(tmp_path / "other.muser", seed=1)

    first_decoded = _signal_first_decoded(monkeypatch)

    def fail(*_):
        first_decoded.wait(120)  # the decoders have started on the files by then
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
    after = vectors_by_path(lib, tiny_model.checkpoint.content_hash)
    assert after.keys() == before.keys()
    assert_consistent(lib)


def test_decoding_goes_on_while_the_model_loads_up_to_a_memory_limit(monkeypatch):
    from concurrent.futures import Future

    from muser_model.core.files import FileEntry
    from muser_model.library import scan
    from muser_model.library.scan import IndexModel, _decode_while_loading

    tenth = threading.Event()

    def stream(n):
        for i in range(n):
            if i == 9:
                tenth.set()
            yield FileEntry(f"/m/{i}.mp3", 1, 1), Decoded(f"/m/{i}.mp3", windows=np.zeros((2, 1000), np.float16))

    loading = Future()
    model = IndexModel("h", None, "torch", loading=loading)
    monkeypatch.setattr(scan, "_EARLY_BYTES", 10 * 4000)  # ten files of 2 x 1000 float16 samples
    loading.set_running_or_notify_cancel()
    # the model loads once ten files are held: the memory limit, not the load, ends the early phase
    threading.Thread(target=lambda: (tenth.wait(60), loading.set_result("the model"))).start()
    rest = stream(25)
    early = _decode_while_loading(model, rest)
    assert len(early) == 10 and model.lm == "the model" and model.loading is None
    assert len(list(rest)) == 15  # the rest is left for the scan, in order
    loaded = IndexModel("h", None, "torch", loading=None)
    assert _decode_while_loading(loaded, stream(3)) == []  # nothing is held once the model is there
