"""Convert the four TF1 checkpoints of the `musicnn` wheel into the .npz files muser_train.teachers loads.

Development-time only; needs tensorflow (e.g. a private venv with tensorflow-cpu and tf-keras),
never at run time, and neither torch nor librosa:

    pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn       # the wheel; never install it
    python -m muser_train.teachers.convert --wheel-dir /tmp/musicnn   # -> train/teacher/*.npz, labels.json

`--wheel-dir` may hold the .whl itself or its unpacked contents. Idempotent: a file whose arrays
equal what the conversion gives is left untouched ("unchanged"). Each .npz is keyed by the torch
state_dict names of its family (muser_train.teachers.musicnn / .vgg), with `_eps/<module>` holding each
batch norm's epsilon as read off the graph. Storage: float16 when the original graph run with
float16-rounded weights stays within F16_TOLERANCE of the float32 run on PROBE_PATCHES seeded
patches, else float32.

It also runs an original TF graph, as the reference of the parity test:

    python -m muser_train.teachers.convert --wheel-dir DIR --reference MTT_vgg IN.npy OUT.npy
    (IN: float32 (N, 187, 96) log-mel patches; OUT: (N, 50) sigmoid scores, checkpoint order)
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from muser_train.teachers.specs import CONFIG_NAMES, LABELS_FILE, TEACHER_DIR, TEACHERS

F16_TOLERANCE = 1e-4
PROBE_PATCHES = 32

# TF variable scope -> torch module, in the order musicnn's models.py creates the layers.
MUSICNN_CONVS = {
    "conv2d": "timbral.0.conv",      # 7 x 38
    "conv2d_1": "timbral.1.conv",    # 7 x 67
    "conv2d_2": "temporal.0.conv",   # 128 x 1
    "conv2d_3": "temporal.1.conv",   # 64 x 1
    "conv2d_4": "temporal.2.conv",   # 32 x 1
    "conv2d_5": "mid.0.conv",        # 7 x 561 -> 1-d conv over time
    "conv2d_6": "mid.1.conv",
    "conv2d_7": "mid.2.conv",
}
MUSICNN_NORMS = {
    "batch_normalization": "bn_input",
    "batch_normalization_1": "timbral.0.bn",
    "batch_normalization_2": "timbral.1.bn",
    "batch_normalization_3": "temporal.0.bn",
    "batch_normalization_4": "temporal.1.bn",
    "batch_normalization_5": "temporal.2.bn",
    "batch_normalization_6": "mid.0.bn",
    "batch_normalization_7": "mid.1.bn",
    "batch_normalization_8": "mid.2.bn",
    "batch_normalization_9": "pool_bn",
    "batch_normalization_10": "dense_bn",
}
VGG_CONVS = {f"{i + 1}CNN": f"blocks.{i}.conv" for i in range(5)}
VGG_NORMS = {"batch_normalization": "bn_input",
             **{f"batch_normalization_{i + 1}": f"blocks.{i}.bn" for i in range(5)}}
# family -> (convs, 1-d convs, batch norms, dense layers)
LAYOUTS = {
    "musicnn": (MUSICNN_CONVS, {"conv2d_5", "conv2d_6", "conv2d_7"}, MUSICNN_NORMS,
                {"dense": "dense", "dense_1": "out"}),
    "vgg": (VGG_CONVS, set(), VGG_NORMS, {"dense": "out"}),
}
CHECKPOINTS = {s.checkpoint: s for s in TEACHERS.values()}


def _unpacked_wheel(wheel_dir: str | Path) -> Path:
    """The folder holding musicnn/ (checkpoints, configuration.py), unpacking a .whl if needed."""
    root = Path(wheel_dir)
    for cfg in sorted(root.rglob("musicnn/configuration.py")):
        return cfg.parent.parent
    wheels = sorted(root.glob("musicnn-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"{root}: no musicnn wheel and no musicnn/configuration.py below it")
    dest = Path(tempfile.gettempdir()) / f"muser-musicnn-{wheels[-1].stem}"
    if not (dest / "musicnn" / "configuration.py").is_file():
        with zipfile.ZipFile(wheels[-1]) as zf:
            zf.extractall(dest, [m for m in zf.namelist() if m.startswith("musicnn/")])
    return dest


def find_checkpoint(wheel_dir: str | Path, checkpoint: str = "MTT_musicnn") -> Path:
    """The folder holding `<checkpoint>/.index` of the wheel in wheel_dir."""
    ckpt = _unpacked_wheel(wheel_dir) / "musicnn" / checkpoint
    if not (ckpt / ".index").is_file():
        raise FileNotFoundError(f"{ckpt}: no .index (not a musicnn checkpoint folder)")
    return ckpt


def wheel_labels(wheel_dir: str | Path) -> dict[str, list[str]]:
    """{"mtt": MTT_LABELS, "msd": MSD_LABELS} read (not imported) from musicnn/configuration.py."""
    cfg = _unpacked_wheel(wheel_dir) / "musicnn" / "configuration.py"
    assigned = {node.targets[0].id: node.value for node in ast.parse(cfg.read_text()).body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    return {vocab: list(ast.literal_eval(assigned[name])) for vocab, name in CONFIG_NAMES.items()}


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    return tf


def _inference_graph_def(tf, ckpt: Path):
    """The part of the saved graph that computes model/Sigmoid (the full .meta does not import
    under TF 2.x because of its training-gradient nodes)."""
    from tensorflow.core.protobuf import meta_graph_pb2
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((ckpt / ".meta").read_bytes())
    return tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, ["model/Sigmoid"])


def graph_epsilons(tf, graph_def) -> dict[str, float]:
    """Epsilon of every batch norm in the graph, keyed by its TF layer name.

    Fused (4-d) norms carry it as the `epsilon` attribute of FusedBatchNorm*; the 2-d ones
    (after the temporal pooling) as the constant `batchnorm/add/y` added to the variance."""
    eps: dict[str, set[float]] = {}
    for node in graph_def.node:
        parts = node.name.split("/")
        layer = next((p for p in parts if p.startswith("batch_normalization")), None)
        if layer is None:
            continue
        if node.op.startswith("FusedBatchNorm"):
            eps.setdefault(layer, set()).add(float(node.attr["epsilon"].f))
        elif node.op == "Const" and node.name.endswith("batchnorm/add/y"):
            eps.setdefault(layer, set()).add(float(tf.make_ndarray(node.attr["value"].tensor)))
    out = {}
    for layer, values in eps.items():
        if len(values) != 1:
            raise ValueError(f"{layer}: several epsilons in the graph: {sorted(values)}")
        out[layer] = values.pop()
    return out


def graph_pools(graph_def) -> np.ndarray:
    """(n, 4) int: kernel (time, mel) and stride (time, mel) of each MaxPool of the graph, in
    layer order (max_pooling2d, max_pooling2d_1, ...). Only the vgg family needs them: its two
    checkpoints pool differently (MSD_vgg is not the wheel's models.py)."""
    pools = {}
    for node in graph_def.node:
        if node.op == "MaxPool":
            if node.attr["data_format"].s not in (b"", b"NHWC"):
                raise ValueError(f"{node.name}: data format {node.attr['data_format'].s!r}")
            k, st = list(node.attr["ksize"].list.i), list(node.attr["strides"].list.i)
            suffix = node.name.split("/")[-2][len("max_pooling2d"):]  # "" or "_3"
            index = int(suffix[1:]) + 1 if suffix else 0
            pools[index] = [k[1], k[2], st[1], st[2]]
    return np.asarray([pools[i] for i in sorted(pools)], dtype=np.int64).reshape(-1, 4)


def convert(ckpt: Path, family: str) -> dict[str, np.ndarray]:
    """{torch state_dict name: float32 array} plus `_eps/<module>` entries (float64) and, for
    the vgg family, `_pools` (see graph_pools)."""
    tf = _import_tf()
    convs, one_d, norms, denses = LAYOUTS[family]
    reader = tf.compat.v1.train.NewCheckpointReader(str(ckpt) + "/")

    def var(name: str) -> np.ndarray:
        return np.asarray(reader.get_tensor(name), dtype=np.float32)

    out: dict[str, np.ndarray] = {}
    for tf_name, pt in convs.items():
        k = var(f"{tf_name}/kernel")                  # HWIO: (time, freq, in, out)
        if tf_name in one_d:                           # (7, C_in, 1, C_out) -> (C_out, C_in, 7)
            w = k[:, :, 0, :].transpose(2, 1, 0)
        else:                                          # -> OIHW (C_out, C_in, time, freq)
            w = k.transpose(3, 2, 0, 1)
        out[f"{pt}.weight"] = np.ascontiguousarray(w)
        out[f"{pt}.bias"] = var(f"{tf_name}/bias")
    for tf_name, pt in denses.items():
        out[f"{pt}.weight"] = np.ascontiguousarray(var(f"{tf_name}/kernel").T)  # (in,out) -> (out,in)
        out[f"{pt}.bias"] = var(f"{tf_name}/bias")
    for tf_name, pt in norms.items():
        out[f"{pt}.weight"] = var(f"{tf_name}/gamma")
        out[f"{pt}.bias"] = var(f"{tf_name}/beta")
        out[f"{pt}.running_mean"] = var(f"{tf_name}/moving_mean")
        out[f"{pt}.running_var"] = var(f"{tf_name}/moving_variance")

    graph_def = _inference_graph_def(tf, ckpt)
    if family == "vgg":
        out["_pools"] = graph_pools(graph_def)
        if out["_pools"].shape != (len(convs), 4):
            raise ValueError(f"{ckpt}: {len(out['_pools'])} max pools in the graph, "
                             f"expected {len(convs)}")
    eps = graph_epsilons(tf, graph_def)
    if set(eps) != set(norms):
        raise ValueError(f"{ckpt}: batch norms in the graph {sorted(eps)} "
                         f"!= expected {sorted(norms)}")
    for tf_name, pt in norms.items():
        out[f"_eps/{pt}"] = np.asarray(eps[tf_name], dtype=np.float64)
    return out


def reference_scores(ckpt: Path, x: np.ndarray, weight_dtype=np.float32) -> np.ndarray:
    """Run musicnn's own graph: (N, 187, 96) float32 -> (N, 50) sigmoid scores. With
    weight_dtype=np.float16 every variable is rounded to float16 first (computation stays
    float32): what a float16 .npz would give."""
    tf = _import_tf()
    gd = _inference_graph_def(tf, ckpt)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
        reader = tf.compat.v1.train.NewCheckpointReader(str(ckpt) + "/")
        ops = [n.name for n in gd.node if n.op in ("VariableV2", "VarHandleOp")]
        with tf.compat.v1.Session(graph=graph) as sess:
            for name in ops:
                v = graph.get_tensor_by_name(name + ":0")
                value = np.asarray(reader.get_tensor(name))
                value = value.astype(weight_dtype).astype(value.dtype)
                ph = tf.compat.v1.placeholder(v.dtype.base_dtype, value.shape)
                sess.run(tf.compat.v1.assign(v, ph), {ph: value})
            return sess.run("model/Sigmoid:0", {"model/Placeholder:0": np.asarray(x, np.float32),
                                                "model/Placeholder_2:0": False})


def probe_patches(n: int = PROBE_PATCHES, seed: int = 0) -> np.ndarray:
    """(n, 187, 96) seeded patches spanning musicnn's log-mel range (0 to about 4)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    x = np.concatenate([rng.uniform(0, 4, (half, 187, 96)),
                        np.clip(rng.normal(1.5, 1.0, (n - half, 187, 96)), 0, None)])
    return x.astype(np.float32)


def float16_error(ckpt: Path) -> float:
    """max |scores(float16-rounded weights) - scores(float32 weights)| on the probe patches."""
    x = probe_patches()
    return float(np.abs(reference_scores(ckpt, x, np.float16) - reference_scores(ckpt, x)).max())


def _same_arrays(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    if not path.is_file():
        return False
    with np.load(path) as z:
        return set(z.files) == set(arrays) and all(
            z[k].dtype == v.dtype and np.array_equal(z[k], v) for k, v in arrays.items())


def _atomic_save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def write_labels(wheel_dir: str | Path, path: Path = LABELS_FILE) -> str:
    text = json.dumps(wheel_labels(wheel_dir), indent=1, ensure_ascii=False) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return "unchanged"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return "written"


def convert_one(wheel_dir: str | Path, name: str, out_dir: Path) -> str:
    """Convert teacher `name` into out_dir/<name>.npz; returns a one-line report."""
    spec = TEACHERS[name]
    ckpt = find_checkpoint(wheel_dir, spec.checkpoint)
    arrays = convert(ckpt, spec.family)
    err16 = float16_error(ckpt)
    dtype = np.float16 if err16 <= F16_TOLERANCE else np.float32
    arrays = {k: (v if k.startswith("_") else v.astype(dtype)) for k, v in arrays.items()}
    path = out_dir / f"{name}.npz"
    state = "unchanged" if _same_arrays(path, arrays) else "written"
    if state == "written":
        _atomic_save(path, arrays)
    n = sum(v.size for k, v in arrays.items() if not k.startswith("_"))
    return (f"{path}: {state}, {n} weights as {np.dtype(dtype).name} (float16 rounding moves "
            f"the graph's scores by up to {err16:.1e}), {path.stat().st_size / 1e6:.2f} MB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--wheel-dir", required=True, help="folder with the musicnn wheel (or unpacked)")
    ap.add_argument("--out-dir", type=Path, default=TEACHER_DIR, help="where the .npz files go")
    ap.add_argument("--models", nargs="+", choices=sorted(TEACHERS), default=list(TEACHERS),
                    help="teachers to convert (default: all four)")
    ap.add_argument("--reference", nargs=3, metavar=("CHECKPOINT", "IN_NPY", "OUT_NPY"),
                    help="run the original graph CHECKPOINT (e.g. MTT_vgg) on IN_NPY patches, "
                         "write its scores to OUT_NPY")
    args = ap.parse_args(argv)
    try:
        if args.reference:
            checkpoint, src, dst = args.reference
            if checkpoint not in CHECKPOINTS:
                ap.error(f"unknown checkpoint {checkpoint!r} (known: {', '.join(CHECKPOINTS)})")
            np.save(dst, reference_scores(find_checkpoint(args.wheel_dir, checkpoint), np.load(src)))
            return 0
        args.out_dir.mkdir(parents=True, exist_ok=True)
        print(f"{LABELS_FILE}: {write_labels(args.wheel_dir)}", file=sys.stderr)
        for name in args.models:
            print(convert_one(args.wheel_dir, name, args.out_dir), file=sys.stderr)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
