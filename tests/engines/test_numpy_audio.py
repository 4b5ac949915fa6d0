"""The numpy tagging engine against the torch model, engine selection, and no torch import."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.core.checkpoint import default_checkpoint_path, load_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.torch_engine.inference import embed_files as torch_embed_files
from muser_model.numpy_engine.audio import NumpyMuser, embed_files as np_embed_files
from muser_model.torch_engine.runtime import load_model
from muser_model import engine_choice
from muser_model.core import hardware
from muser_model.engine_choice import choose_engine
from muser_model.core.errors import EngineError
from muser_model.tagging import tag_files, tag_files_numpy
from tests.conftest import write_clip

REPO = Path(__file__).resolve().parents[2]
ATOL = 1e-4


@pytest.fixture(scope="module")
def busy_checkpoint(tmp_path_factory, tiny_checkpoint) -> Path:
    """The tiny checkpoint with non-trivial BatchNorm statistics and affine parameters (so the
    folding is exercised) and trained-looking heads."""
    from muser_model.torch_engine.model import Muser

    ckpt = load_checkpoint(tiny_checkpoint)
    model = Muser(ckpt.config, with_text_tower=False)
    model.load_state_dict(ckpt.state_dict, strict=False)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(0.3 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(1 + 0.3 * torch.randn(n, generator=g))
                m.bias.copy_(0.2 * torch.randn(n, generator=g))
    ckpt.state_dict = {k: v for k, v in model.checkpoint_state().items()}
    e = ckpt.config.embed_dim
    ckpt.heads = {"tags.weight": torch.randn(len(ckpt.tags), e, generator=g),
                  "tags.bias": torch.randn(len(ckpt.tags), generator=g),
                  "genres.weight": 4 * torch.randn(len(ckpt.genres), e, generator=g),
                  "genres.bias": torch.randn(len(ckpt.genres), generator=g)}
    path = tmp_path_factory.mktemp("busy") / "busy.muser"
    save_checkpoint(ckpt, path)
    return path


def _waves(n_samples: int, batch: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 16000
    tones = np.stack([np.sin(2 * np.pi * f * t) for f in (110.0, 440.0, 1500.0)[:batch]])
    return (0.3 * tones + 0.05 * rng.standard_normal((batch, n_samples))).astype(np.float32)


@pytest.mark.parametrize("which", ["busy", "default"])
def test_window_embeddings_match_torch(which, busy_checkpoint):
    path = busy_checkpoint if which == "busy" else default_checkpoint_path()
    lm = load_model(path, "cpu", "fp32")
    nm = NumpyMuser.load(path)
    wave = _waves(round(lm.config.audio.window_s * 16000))
    with torch.inference_mode():
        out = lm.model(wave=torch.from_numpy(wave))
    w, s = nm.embed(wave)
    assert np.abs(w - out.wave.numpy()).max() < ATOL
    assert np.abs(s - out.spec.numpy()).max() < ATOL
    assert nm.content_hash == lm.checkpoint.content_hash


def test_odd_lengths_pool_like_torch(busy_checkpoint):
    """Lengths whose feature maps have odd sizes (ceil-mode 2-D pooling, floor 1-D pooling)."""
    lm = load_model(busy_checkpoint, "cpu", "fp32")
    nm = NumpyMuser.load(busy_checkpoint)
    wave = _waves(16000 * 2 + 4321, batch=2)
    with torch.inference_mode():
        out = lm.model(wave=torch.from_numpy(wave))
        mel = lm.model.spec_encoder.logmel(torch.from_numpy(wave))
    assert np.abs(nm.logmel(wave).transpose(0, 2, 1) - mel.numpy()).max() < ATOL
    w, s = nm.embed(wave)
    assert np.abs(w - out.wave.numpy()).max() < ATOL and np.abs(s - out.spec.numpy()).max() < ATOL


@pytest.mark.parametrize("shape", [(3, 8, 10), (3, 7, 10), (3, 8, 9), (3, 7, 9), (2, 1, 5), (2, 5, 1)])
def test_ceil_pooling_and_chunked_conv_match_torch(shape):
    """Every odd/even combination of the 2-D pooling, and a 3x3 conv computed in chunks smaller
    than the image (several partial chunks) against torch's."""
    from muser_model.numpy_engine.audio import _conv2d_k3, _max_pool2d_ceil

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ref = torch.nn.functional.max_pool2d(torch.from_numpy(x)[None], 2, ceil_mode=True)[0].numpy()
    assert np.array_equal(_max_pool2d_ceil(x), ref)
    w = np.random.default_rng(1).standard_normal((4, shape[0], 3, 3)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal(4).astype(np.float32)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x)[None], torch.from_numpy(w), torch.from_numpy(b),
                                     padding=1)[0].numpy()
    mat = np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(4, -1))
    for chunk in (7, 2048):
        assert np.abs(_conv2d_k3(x, mat, b, chunk=chunk) - ref).max() < 1e-5


def _assert_same_results(a, b, tol=2e-4):
    for x, y in zip(a, b, strict=True):
        x, y = x.to_json(), y.to_json()  # one top_k for both engines: ties rank alike
        flat_x, flat_y = json.dumps(x, sort_keys=True), json.dumps(y, sort_keys=True)
        if flat_x == flat_y:
            continue
        # scores may differ in the 4th decimal by rounding; labels and order may not
        def walk(u, v):
            if isinstance(u, dict):
                assert u.keys() == v.keys()
                for k in u:
                    walk(u[k], v[k])
            elif isinstance(u, list):
                assert len(u) == len(v)
                for p, q in zip(u, v):
                    walk(p, q)
            elif isinstance(u, float):
                assert abs(u - v) <= tol
            else:
                assert u == v
        walk(x, y)


@pytest.mark.parametrize("which", ["busy", "default"])
def test_tags_match_torch_engine(which, busy_checkpoint, tmp_path):
    path = busy_checkpoint if which == "busy" else default_checkpoint_path()
    lm = load_model(path, "cpu", "fp32")
    window = lm.config.audio.window_s
    clips = [write_clip(tmp_path / "a.wav", 110.0, 2.5 * window, seed=1),
             write_clip(tmp_path / "b.flac", 660.0, 1.3 * window, seed=2),
             write_clip(tmp_path / "c.ogg", 1760.0, 3.0 * window, seed=3)]
    nm = NumpyMuser.load(path)
    torch_tracks = [t.track().numpy() for t in torch_embed_files(lm, clips)]
    numpy_tracks = [t.track() for t in np_embed_files(nm, clips)]
    for a, b in zip(torch_tracks, numpy_tracks, strict=True):
        assert np.abs(a - b).max() < ATOL
    kwargs = dict(k=5, timeline=True)
    _assert_same_results(list(tag_files(lm, clips, **kwargs)), list(tag_files_numpy(nm, clips, **kwargs)))


def test_heads_and_zero_shot_both_reported(busy_checkpoint, clips):
    nm = NumpyMuser.load(busy_checkpoint)
    (res, *_) = tag_files_numpy(nm, clips[:1])
    assert res.tags[0].method == "head" and res.genres[0].kind == "probability"
    assert len(res.zero_shot_tags) == 5 and res.zero_shot_tags[0].kind == "cosine"
    assert sum(g.score for g in res.gtzan) <= 1.0001  # GTZAN-10: a softmax
    assert all(0.0 <= g.score <= 1.0 for g in res.genres)  # families: each its largest tag probability


@pytest.mark.slow
def test_open_labels_use_numpy_text_tower(tiny_checkpoint, tiny_model, clips):
    labels = ["calm", "angry", "piano"]
    nm = NumpyMuser.load(tiny_checkpoint)
    a = list(tag_files(tiny_model, clips, labels=labels))
    b = list(tag_files_numpy(nm, clips, labels=labels))
    for x, y in zip(a, b):
        assert [l.label for l in x.labels] == [l.label for l in y.labels]
        assert max(abs(p.score - q.score) for p, q in zip(x.labels, y.labels)) < 1e-3


def test_errors_are_yielded_in_order(tiny_checkpoint, clips, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    nm = NumpyMuser.load(tiny_checkpoint)
    out = list(tag_files_numpy(nm, [clips[0], empty, tmp_path / "missing.ogg", clips[1]]))
    assert [type(r).__name__ for r in out] == ["TagResult", "EmptyAudioFileError",
                                               "AudioFileNotFoundError", "TagResult"]


# -- engine choice -----------------------------------------------------------------------------
def test_engine_auto_rules(tiny_checkpoint, clips, monkeypatch):
    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: False)
    assert choose_engine("auto", tiny_checkpoint, "auto", "auto", clips)[0] == "numpy"
    assert choose_engine("auto", tiny_checkpoint, "cpu", "fp32", clips)[0] == "numpy"
    assert choose_engine("auto", tiny_checkpoint, "cuda", "auto", clips)[0] == "torch"
    assert choose_engine("auto", tiny_checkpoint, "cpu", "bf16", clips)[0] == "torch"
    assert choose_engine("torch", tiny_checkpoint, "cpu", "auto", clips)[0] == "torch"
    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: True)
    assert choose_engine("auto", tiny_checkpoint, "auto", "auto", clips)[0] == "torch"
    assert choose_engine("auto", tiny_checkpoint, "cpu", "auto", clips)[0] == "numpy"
    assert choose_engine("numpy", tiny_checkpoint, "auto", "auto", clips)[0] == "numpy"


def test_engine_auto_prefers_torch_bf16_for_long_audio(tiny_checkpoint, clips, monkeypatch):
    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    # tiny config: 2 s windows; the clips are 5, 3.5 and 7 s: 3 + 2 + 4 windows
    monkeypatch.setattr(engine_choice, "AUTO_NUMPY_MAX_WINDOWS", 9)
    assert choose_engine("auto", tiny_checkpoint, "cpu", "auto", clips)[0] == "numpy"
    monkeypatch.setattr(engine_choice, "AUTO_NUMPY_MAX_WINDOWS", 8)
    engine, _, why = choose_engine("auto", tiny_checkpoint, "cpu", "auto", clips)
    assert engine == "torch" and "windows" in why
    assert choose_engine("auto", tiny_checkpoint, "cpu", "fp32", clips)[0] == "numpy"  # no bf16 asked
    assert choose_engine("numpy", tiny_checkpoint, "cpu", "auto", clips)[0] == "numpy"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)  # numpy is faster at any size
    assert choose_engine("auto", tiny_checkpoint, "cpu", "auto", clips)[0] == "numpy"


def test_engine_numpy_refuses_what_it_cannot_do(tiny_checkpoint, clips):
    with pytest.raises(EngineError, match="--device cuda"):
        choose_engine("numpy", tiny_checkpoint, "cuda", "auto", clips)
    with pytest.raises(EngineError, match="bf16"):
        choose_engine("numpy", tiny_checkpoint, "cpu", "bf16", clips)
    with pytest.raises(EngineError, match="unknown engine"):
        choose_engine("onnx", tiny_checkpoint, "cpu", "auto", clips)


def test_cuda_visible_devices_hides_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert engine_choice.cuda_may_be_present() is False


# -- the command -------------------------------------------------------------------------------
runner = CliRunner()


def _json(args) -> list[dict]:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.stderr
    return [json.loads(l) for l in res.stdout.splitlines() if l.strip()]


@pytest.mark.slow
def test_cli_engines_print_the_same(busy_checkpoint, clips):
    args = ["tag", *clips, "--json", "--timeline", "--labels", "calm,piano", "-c", busy_checkpoint]
    a = _json(args + ["--engine", "numpy"])
    b = _json(args + ["--engine", "torch"])
    assert [r["path"] for r in a] == [r["path"] for r in b] == [str(p) for p in clips]
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        assert x["genre"]["label"] == y["genre"]["label"] and x["windows"] == y["windows"]
        assert {t["label"] for t in x["tags"]} == {t["label"] for t in y["tags"]}
        assert [l["label"] for l in x["labels"]] == [l["label"] for l in y["labels"]]
        assert [w["genre"]["label"] for w in x["timeline"]] == [w["genre"]["label"] for w in y["timeline"]]


def test_cli_human_output_same_lines(busy_checkpoint, clips):
    outs = [runner.invoke(app, ["tag", str(clips[0]), "-c", str(busy_checkpoint), "--engine", e]).stdout
            for e in ("numpy", "torch")]
    assert [l.split()[0] for l in outs[0].splitlines()] == [l.split()[0] for l in outs[1].splitlines()]
    # path, genre (families), mood, tags, gtzan, zero-shot line (heads present)
    assert [line.split()[0] for line in outs[0].splitlines()[1:]] == ["genre", "mood", "tags", "gtzan", "zero-shot"]


def test_cli_engine_numpy_on_cuda_is_a_usage_error(tiny_checkpoint, clips):
    res = runner.invoke(app, ["tag", str(clips[0]), "-c", str(tiny_checkpoint), "--engine", "numpy",
                              "--device", "cuda"])
    assert res.exit_code == 2 and "--engine numpy" in res.stderr


def _run_isolated(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MUSER_ENGINE", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)


def test_numpy_engine_never_imports_torch(tiny_checkpoint, clips):
    code = f"""
import runpy, sys
sys.argv = ["muser", "tag", {str(clips[0])!r}, {str(clips[1])!r}, "--json", "--labels", "calm,piano",
            "-c", {str(tiny_checkpoint)!r}, "--device", "cpu"]
try:
    runpy.run_module("muser_cli.main", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
"""
    res = _run_isolated(code)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().endswith("NO-TORCH")
    rows = [json.loads(l) for l in res.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["labels"]


@pytest.mark.slow  # a subprocess that imports torch (3-4 s)
def test_torch_engine_still_imports_torch(tiny_checkpoint, clips):
    """The check above can fail: the same probe sees torch when the torch engine runs."""
    code = f"""
import runpy, sys
sys.argv = ["muser", "tag", {str(clips[0])!r}, "-c", {str(tiny_checkpoint)!r}, "--engine", "torch"]
try:
    runpy.run_module("muser_cli.main", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
"""
    res = _run_isolated(code)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().endswith("TORCH") and not res.stderr.strip().endswith("NO-TORCH")
