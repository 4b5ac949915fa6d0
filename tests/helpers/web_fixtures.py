"""A library for the web tests: a few real audio files beside many synthetic tracks, stored under
the shipped checkpoint's hash with its real predictions, so that search reads them as it reads
an indexed library; and the app over it, driven in-process (Starlette's TestClient)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from muser_model.core.checkpoint import checkpoint_hash, default_checkpoint_path
from muser_model.library.records import TrackRow
from muser_model.library.store import Library
from tests.conftest import tone, write_clip

SYNTHETIC = 240  # tracks without a file: enough for the rankings, fast to store


def build_web_library(root: Path, name: str = "web") -> dict[str, Path]:
    """Under `root`: music/ with real files (ogg, flac, wav, aiff), outside/secret.ogg (a file
    outside the library that music/link.ogg points to), the library `name` in MUSER_HOME (which
    the caller has set) holding them and SYNTHETIC tracks. Returns the files by role."""
    from muser_model.library.predict import numpy_predictor
    from muser_model.numpy_engine.audio import NumpyMuser

    music = root / "music"
    files = {
        "ogg": write_clip(music / "Ann Lee" / "Slow Night.ogg", 220.0, 4.0, seed=1),
        "flac": write_clip(music / "Jazz" / "Café.flac", 440.0, 4.0, seed=2),
        "wav": write_clip(music / "plain.wav", 330.0, 3.0, seed=3),
        "secret": write_clip(root / "outside" / "secret.ogg", 500.0, 2.0, seed=4),
    }
    files["aiff"] = music / "old.aiff"
    sf.write(files["aiff"], tone(262.0, 3.0, seed=5), 16000, format="AIFF", subtype="PCM_16")
    files["link"] = music / "link.ogg"
    os.symlink(files["secret"], files["link"])

    model = NumpyMuser.load(default_checkpoint_path())
    model_hash = checkpoint_hash(default_checkpoint_path())
    dim = model.config.embed_dim
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((SYNTHETIC + 5, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    lib = Library.open(name, create=True)
    lib.adopt_model(model_hash, dim)
    real = [(files[k], {"title": t, "artist": a, "genre": g, "date": d}) for k, t, a, g, d in [
        ("ogg", "Slow Night", "Ann Lee", "Blues", "1962"), ("flac", "Café", "Zoë <b>Quartet</b>", "Jazz", "1999"),
        ("wav", "", "", "", ""), ("aiff", "Old One", "Ann Lee", "", "1975"), ("link", "Secret", "Nobody", "", "")]]
    rows = [TrackRow(str(path), path.stat().st_size, path.stat().st_mtime_ns, vectors[i], tags, 3.0, 4)
            for i, (path, tags) in enumerate(real)]
    rows += [TrackRow(str(music / "gone" / f"track{i:04d}.mp3"), 1000 + i, i, vectors[5 + i],
                      {"title": f"Track {i}", "artist": f"Artist {i % 17}", "date": str(1960 + i % 60)}, 180.0, 30)
             for i in range(SYNTHETIC)]
    lib.predictor = numpy_predictor(model)
    lib.put_tracks(rows, model_hash)
    lib.catalogue.put_failure(str(music / "broken.mp3"), 10, 10, "not audio")
    lib.remember_folders([music])
    lib.sync_index()
    lib.close()
    return files


def track_id(name: str, path: Path) -> int:
    lib = Library.open(name, readonly=True)
    try:
        return lib.catalogue.find_path(str(path))
    finally:
        lib.close()
