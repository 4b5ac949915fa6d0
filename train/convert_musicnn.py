"""Convert musicnn's MTT_musicnn TF1 checkpoint (PyPI wheel `musicnn`) into the .npz `train.musicnn` loads.

Development-time only; needs tensorflow (`pip install tensorflow-cpu`), never at run time:

    pip download musicnn --no-deps -d /tmp/musicnn        # the wheel; never install it (old pins)
    python -m train.convert_musicnn --wheel-dir /tmp/musicnn --out train/teacher/mtt_musicnn.npz

`--wheel-dir` may hold the .whl itself or its unpacked contents (any folder with
`musicnn/MTT_musicnn/.index` below it). The .npz is keyed by `MusicnnMTT` state_dict names, with
`_eps/<module>` holding each batch norm's epsilon as read off the graph.

It can also run the original TF graph, as the reference for the parity test:

    python -m train.convert_musicnn --wheel-dir DIR --reference IN.npy OUT.npy
    (IN: float32 (N, 187, 96) log-mel patches; OUT: (N, 50) sigmoid scores, checkpoint order)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MODEL = "MTT_musicnn"

# TF variable scope -> MusicnnMTT module, in the order musicnn's models.py creates the layers.
CONVS = {
    "conv2d": "timbral.0.conv",      # 7 x 38
    "conv2d_1": "timbral.1.conv",    # 7 x 67
    "conv2d_2": "temporal.0.conv",   # 128 x 1
    "conv2d_3": "temporal.1.conv",   # 64 x 1
    "conv2d_4": "temporal.2.conv",   # 32 x 1
    "conv2d_5": "mid.0.conv",        # 7 x 561 -> 1-d conv over time
    "conv2d_6": "mid.1.conv",
    "conv2d_7": "mid.2.conv",
}
NORMS = {
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
DENSES = {"dense": "dense", "dense_1": "out"}
ONE_D = {"conv2d_5", "conv2d_6", "conv2d_7"}


def find_checkpoint(wheel_dir: str | Path, model: str = MODEL) -> Path:
    """The folder holding `<model>/.index` under wheel_dir, unpacking a musicnn .whl if needed."""
    root = Path(wheel_dir)
    for idx in sorted(root.rglob(f"{model}/.index")):
        return idx.parent
    wheels = sorted(root.glob("musicnn-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"{root}: no musicnn wheel and no {model}/.index below it")
    dest = Path(tempfile.gettempdir()) / f"muser-musicnn-{wheels[-1].stem}"
    if not (dest / "musicnn" / model / ".index").is_file():
        with zipfile.ZipFile(wheels[-1]) as zf:
            members = [m for m in zf.namelist() if m.startswith(f"musicnn/{model}/")]
            zf.extractall(dest, members)
    return dest / "musicnn" / model


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


def convert(ckpt: Path) -> dict[str, np.ndarray]:
    """{MusicnnMTT state_dict name: array} plus `_eps/<module>` entries."""
    tf = _import_tf()
    reader = tf.compat.v1.train.NewCheckpointReader(str(ckpt) + "/")

    def var(name: str) -> np.ndarray:
        return np.asarray(reader.get_tensor(name), dtype=np.float32)

    out: dict[str, np.ndarray] = {}
    for tf_name, pt in CONVS.items():
        k = var(f"{tf_name}/kernel")                  # HWIO: (time, freq, in, out)
        if tf_name in ONE_D:                           # (7, C_in, 1, C_out) -> (C_out, C_in, 7)
            w = k[:, :, 0, :].transpose(2, 1, 0)
        else:                                          # -> OIHW (C_out, 1, time, freq)
            w = k.transpose(3, 2, 0, 1)
        out[f"{pt}.weight"] = np.ascontiguousarray(w)
        out[f"{pt}.bias"] = var(f"{tf_name}/bias")
    for tf_name, pt in DENSES.items():
        out[f"{pt}.weight"] = np.ascontiguousarray(var(f"{tf_name}/kernel").T)  # (in,out) -> (out,in)
        out[f"{pt}.bias"] = var(f"{tf_name}/bias")
    for tf_name, pt in NORMS.items():
        out[f"{pt}.weight"] = var(f"{tf_name}/gamma")
        out[f"{pt}.bias"] = var(f"{tf_name}/beta")
        out[f"{pt}.running_mean"] = var(f"{tf_name}/moving_mean")
        out[f"{pt}.running_var"] = var(f"{tf_name}/moving_variance")

    eps = graph_epsilons(tf, _inference_graph_def(tf, ckpt))
    if set(eps) != set(NORMS):
        raise ValueError(f"batch norms in the graph {sorted(eps)} != expected {sorted(NORMS)}")
    for tf_name, pt in NORMS.items():
        out[f"_eps/{pt}"] = np.asarray(eps[tf_name], dtype=np.float64)
    return out


def reference_scores(ckpt: Path, x: np.ndarray) -> np.ndarray:
    """Run musicnn's own graph: (N, 187, 96) float32 -> (N, 50) sigmoid scores."""
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
                value = reader.get_tensor(name)
                ph = tf.compat.v1.placeholder(v.dtype.base_dtype, value.shape)
                sess.run(tf.compat.v1.assign(v, ph), {ph: value})
            return sess.run("model/Sigmoid:0", {"model/Placeholder:0": np.asarray(x, np.float32),
                                                "model/Placeholder_2:0": False})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--wheel-dir", required=True, help="folder with the musicnn wheel (or unpacked)")
    ap.add_argument("--out", help="the .npz to write")
    ap.add_argument("--reference", nargs=2, metavar=("IN_NPY", "OUT_NPY"),
                    help="run the original graph on IN_NPY patches, write scores to OUT_NPY")
    args = ap.parse_args(argv)
    ckpt = find_checkpoint(args.wheel_dir)
    if args.reference:
        np.save(args.reference[1], reference_scores(ckpt, np.load(args.reference[0])))
        return 0
    if not args.out:
        ap.error("--out or --reference is required")
    arrays = convert(ckpt)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(args.out) + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, args.out)
    n = sum(v.size for k, v in arrays.items() if not k.startswith("_"))
    print(f"{args.out}: {n} parameters and statistics from {ckpt}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
