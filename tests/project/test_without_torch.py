"""muser installs without torch (`pip install muser`; `muser[torch]` adds it): the numpy engine tags,
indexes and searches, and a request only torch can run says so in one line. The CLI runs in a
subprocess where `sys.modules["torch"] = None`, so `import torch` fails as if it were not installed."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from muser_model import engine_choice
from muser_model.core import hardware
from muser_model.core.errors import EngineError, TorchMissingError

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
HIDE_TORCH = "import sys; sys.modules['torch'] = None; sys.argv[0] = '{prog}'; from {module} import main; main()"
INSTALL_HINT = 'pip install "muser[torch]"'


def _run(home: Path, *args, module: str = "muser_cli.main", prog: str = "muser") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MUSER_HOME": str(home), "NO_COLOR": "1"}
    env.pop("MUSER_CHECKPOINT", None)
    code = HIDE_TORCH.format(prog=prog, module=module)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)


def _one_error_line(res: subprocess.CompletedProcess, why: str) -> None:
    assert res.returncode == TorchMissingError.exit_code == EngineError.exit_code, res.stderr
    assert res.stderr.splitlines() == [f"error: this needs PyTorch ({why}): {INSTALL_HINT}"], res.stderr


def test_hidden_torch_is_not_installed(monkeypatch):
    assert hardware.torch_installed()  # the test suite runs with torch
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec raises ValueError for this
    assert not hardware.torch_installed()
    with pytest.raises(TorchMissingError, match=r"^this needs PyTorch \(--engine torch\)"):
        hardware.require_torch("--engine torch")


def test_auto_runs_numpy_without_torch_even_where_a_gpu_may_be(monkeypatch):
    monkeypatch.setattr(hardware, "torch_installed", lambda: False)
    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: True)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)  # torch's bf16 would win here
    chosen, model, _ = engine_choice.choose_engine("auto", None, paths=None)
    assert chosen == "numpy" and model is not None


@pytest.mark.parametrize("kwargs, why", [
    ({"engine": "torch"}, "--engine torch"),
    ({"engine": "auto", "device": "cuda"}, "--device cuda"),
    ({"engine": "auto", "precision": "bf16"}, "--precision bf16"),
])
def test_torch_only_requests_name_why_without_torch(monkeypatch, kwargs, why):
    monkeypatch.setattr(hardware, "torch_installed", lambda: False)
    with pytest.raises(TorchMissingError) as info:
        engine_choice.choose_engine(checkpoint=None, **kwargs)
    assert info.value.why == why


def test_numpy_engine_still_names_its_own_reason(monkeypatch):
    monkeypatch.setattr(hardware, "torch_installed", lambda: False)
    with pytest.raises(EngineError, match="--engine numpy cannot run this") as info:
        engine_choice.choose_engine("numpy", None, device="cuda")
    assert not isinstance(info.value, TorchMissingError)


def test_tag_index_search_list_similar_run_without_torch(tmp_path):
    home = tmp_path / "home"
    tagged = _run(home, "tag", EXAMPLES / "dixie-jazz.ogg", "--json")
    assert tagged.returncode == 0 and '"genres"' in tagged.stdout, tagged.stderr
    indexed = _run(home, "index", EXAMPLES)
    assert indexed.returncode == 0 and "indexed 4" in indexed.stderr, indexed.stderr
    found = _run(home, "search", "jazz piano", "--limit", "2")
    assert found.returncode == 0 and len(found.stdout.splitlines()) == 2, found.stderr
    listed = _run(home, "list")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 4, listed.stderr
    alike = _run(home, "similar", EXAMPLES / "dixie-jazz.ogg", "--limit", "1")
    assert alike.returncode == 0 and len(alike.stdout.splitlines()) == 1, alike.stderr


@pytest.mark.parametrize("args, why", [
    (["tag", EXAMPLES / "dixie-jazz.ogg", "--engine", "torch"], "--engine torch"),
    (["index", EXAMPLES, "--device", "cuda"], "--device cuda"),
    (["train", "--data", "gtzan", "--data-dir", "nowhere", "-o", "out.muser"], "muser train"),
    (["eval", "--data", "gtzan", "--data-dir", "nowhere"], "muser eval"),
])
def test_torch_only_commands_say_so_in_one_line(tmp_path, args, why):
    _one_error_line(_run(tmp_path / "home", *args), why)


def test_muser_train_tools_that_need_torch_say_so(tmp_path):
    res = _run(tmp_path / "home", "training", "distill", "-h", module="muser_cli.train_tools", prog="muser-train")
    _one_error_line(res, "muser-train training distill")
