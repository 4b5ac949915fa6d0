"""The .muser container against safetensors, on the shipped checkpoint: load times in fresh
processes and file sizes, for the decision in docs/checkpoint-format.md ("Safetensors").

    python bench/checkpoint_formats.py --runs 7

Writes two safetensors files to a temporary folder (never beside the checkpoint): the numpy
section's arrays with its meta as JSON metadata, and the same plus the torch state_dict. Each
figure is the median over `--runs` fresh processes; the in-process figures time the load call
alone (imports excluded), the wall figures the whole process.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_command  # noqa: E402

from muser_model.core.checkpoint import _read_layout, default_checkpoint_path, load_numpy_section  # noqa: E402

TIMED = """
import time, sys
{setup}
t = time.perf_counter()
{call}
print(time.perf_counter() - t)
"""
CASES = {
    "muser .muser numpy section (load_numpy_section)":
        ("from muser_model.core.checkpoint import load_numpy_section", "load_numpy_section({ckpt!r})"),
    "NumpyMuser.load (section + model set-up)":
        ("from muser_model.numpy_engine.audio import NumpyMuser", "NumpyMuser.load({ckpt!r})"),
    "safetensors numpy: same arrays + meta JSON":
        ("import json\nfrom safetensors import safe_open\nfrom safetensors.numpy import load_file",
         "a = load_file({st_numpy!r})\nwith safe_open({st_numpy!r}, 'np') as f: json.loads(f.metadata()['meta'])"),
    "safetensors numpy + SHA-256 of the file (the .muser reader checks its digest)":
        ("import hashlib, json\nfrom safetensors import safe_open\nfrom safetensors.numpy import load_file",
         "hashlib.sha256(open({st_numpy!r}, 'rb').read()).digest()\na = load_file({st_numpy!r})\n"
         "with safe_open({st_numpy!r}, 'np') as f: json.loads(f.metadata()['meta'])"),
    "describe_checkpoint (muser info's read, stand-in unpickler)":
        ("from muser_model.describe import describe_checkpoint", "describe_checkpoint({ckpt!r})"),
    "import torch":
        ("", "import torch"),
    "torch payload: load_checkpoint (torch imported before)":
        ("import torch\nfrom muser_model.core.checkpoint import load_checkpoint", "load_checkpoint({ckpt!r})"),
    "safetensors torch: state_dict (torch imported before)":
        ("import torch\nfrom safetensors.torch import load_file", "load_file({st_full!r})"),
}


def write_safetensors(ckpt: Path, folder: Path) -> tuple[Path, Path]:
    """(numpy arrays + meta, the same + torch state_dict), as safetensors files in `folder`."""
    import numpy as np
    from safetensors.numpy import save_file

    from muser_model.core.checkpoint import load_checkpoint

    meta, arrays, digest = load_numpy_section(ckpt)
    metadata = {"meta": json.dumps(meta), "content_hash": digest}
    st_numpy = folder / "numpy.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(st_numpy), metadata)
    state = {f"torch.{k}": v.detach().cpu().contiguous().numpy() for k, v in load_checkpoint(ckpt).state_dict.items()}
    st_full = folder / "full.safetensors"
    save_file({**{k: np.ascontiguousarray(v) for k, v in arrays.items()}, **state}, str(st_full), metadata)
    return st_numpy, st_full


def timed(code: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out.append(float(res.stdout.split()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--checkpoint", type=Path, default=default_checkpoint_path())
    args = ap.parse_args()
    print(machine())
    layout = _read_layout(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        st_numpy, st_full = write_safetensors(args.checkpoint, Path(tmp))
        names = {"ckpt": str(args.checkpoint), "st_numpy": str(st_numpy), "st_full": str(st_full)}
        print(f"sizes: .muser {args.checkpoint.stat().st_size / 1e6:.2f} MB (numpy section "
              f"{layout.numpy_length / 1e6:.2f} MB, torch payload {layout.payload_length / 1e6:.2f} MB); "
              f"safetensors numpy {st_numpy.stat().st_size / 1e6:.2f} MB, "
              f"numpy + state_dict {st_full.stat().st_size / 1e6:.2f} MB")
        for name, (setup, call) in CASES.items():
            times = timed(TIMED.format(setup=setup, call=call.format(**names)), args.runs)
            print(f"{name}: median {statistics.median(times) * 1000:.1f} ms "
                  f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})")
    info = time_command([str(Path(sys.executable).parent / "muser"), "info", "-c", str(args.checkpoint)], args.runs)
    print(f"muser info wall: median {statistics.median(info):.2f} s (min {min(info):.2f}, max {max(info):.2f})")


if __name__ == "__main__":
    main()
