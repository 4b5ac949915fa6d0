"""Build, load and run the four ported musicnn teachers (torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from muser_train.teachers.features import wave_patches
from muser_train.teachers.musicnn import Musicnn
from muser_train.teachers.specs import TEACHERS, TeacherSpec, labels
from muser_train.teachers.vgg import MusicnnVGG, pools_from_array

FAMILIES: dict[str, type[nn.Module]] = {"musicnn": Musicnn, "vgg": MusicnnVGG}


def spec(name: str) -> TeacherSpec:
    try:
        return TEACHERS[name]
    except KeyError:
        raise KeyError(f"unknown teacher {name!r} (known: {', '.join(TEACHERS)})") from None


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def build(family: str, arrays: dict[str, np.ndarray], path: str | Path = "") -> nn.Module:
    """An untrained model of `family` shaped as the converted arrays say (the vgg pools)."""
    if family == "vgg":
        if "_pools" not in arrays:
            raise ValueError(f"{path}: no _pools entry "
                             "(convert it again with muser_train.teachers.convert)")
        return MusicnnVGG(pools_from_array(arrays["_pools"]))
    return FAMILIES[family]()


def load_state(model: nn.Module, arrays: dict[str, np.ndarray], path: str | Path = "") -> nn.Module:
    """Fill `model` from converted arrays (state_dict names, float16 or float32; `_eps/<bn>` =
    each batch norm's epsilon). Raises ValueError naming the file on a missing, unexpected or
    misshaped entry. Returns the model in eval mode, float32."""
    eps = {k[len("_eps/"):]: float(v) for k, v in arrays.items() if k.startswith("_eps/")}
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()
             if not k.startswith("_")}
    sd = model.state_dict()
    for k, v in sd.items():  # num_batches_tracked is not in the file
        if k.endswith("num_batches_tracked"):
            state.setdefault(k, v)
    missing, unexpected = set(sd) - set(state), set(state) - set(sd)
    if missing or unexpected:
        raise ValueError(f"{path}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(sd[k].shape):
            raise ValueError(f"{path}: {k} has shape {tuple(v.shape)}, expected {tuple(sd[k].shape)}")
    model.load_state_dict({k: v.to(sd[k].dtype) for k, v in state.items()})
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and name in eps:
            m.eps = eps[name]
    return model.eval()


def load_teacher(name: str = "mtt_musicnn", path: str | Path | None = None) -> nn.Module:
    """The named teacher (see `muser_train.teachers.specs.TEACHERS`) in eval mode, from its committed
    .npz or from `path`."""
    s = spec(name)
    path = path or s.weights
    arrays = read_npz(path)
    return load_state(build(s.family, arrays, path), arrays, path)


def to_mtt_order(scores: np.ndarray) -> np.ndarray:
    """Reorder the last axis from the MTT checkpoints' label order to `MTT_TAGS` order (today
    the identity; kept so a change of either list cannot silently mislabel scores)."""
    from muser_model.core.vocab import MTT_TAGS
    order = [labels("mtt").index(t) for t in MTT_TAGS]
    return np.asarray(scores)[..., order]


@torch.inference_mode()
def score_patches(model: nn.Module, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(P, 187, 96) patches -> (P, 50) float32 scores in the checkpoint's order."""
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)))
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 50), np.float32)


def tag_wave(model: nn.Module, wave: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(50,) mean patch score of a 16 kHz mono wave, in the checkpoint's order."""
    p = wave_patches(wave)
    if len(p) == 0:
        raise ValueError("empty audio")
    return score_patches(model, p, batch_size).mean(axis=0).astype(np.float32)


def top_tags(scores: np.ndarray, vocab: str = "mtt", k: int = 5) -> list[tuple[str, float]]:
    """The k best (label, score) of one (50,) score vector in `vocab`'s checkpoint order."""
    names = labels(vocab)
    return [(names[i], float(scores[i])) for i in np.argsort(-np.asarray(scores))[:k]]
