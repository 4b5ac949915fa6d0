"""The torch-free core stays torch-free: importing it (and using its scoring stack) never loads
torch. `muser tag` and `muser search` on the numpy path are checked end to end in
test_numpy_audio.py and test_search.py."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = ("config", "errors", "checkpoint", "audio", "vocab", "scoring", "embedding", "numpy_audio",
        "engine_choice", "tagging", "process_settings", "hardware", "files", "library.scan")


def _loads_torch(code: str) -> bool:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('torch' in sys.modules)"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-1] == "True"


def test_core_modules_do_not_import_torch():
    assert not _loads_torch("\n".join(f"import muser_model.{m}" for m in CORE))


def test_numpy_scoring_stack_does_not_import_torch(tiny_checkpoint, clips):
    code = (f"from muser_model.numpy_audio import NumpyMuser\n"
            f"from muser_model.tagging import tag_files_numpy\n"
            f"res = list(tag_files_numpy(NumpyMuser.load({str(tiny_checkpoint)!r}), [{str(clips[0])!r}],"
            f" labels=['calm', 'piano'], timeline=True))\n"
            f"assert res[0].labels and res[0].timeline\n")
    assert not _loads_torch(code)


@pytest.mark.parametrize("module", ["inference", "checkpoint_export"])
def test_the_probe_sees_torch_where_it_is_used(module):
    assert _loads_torch(f"import muser_model.{module}")
