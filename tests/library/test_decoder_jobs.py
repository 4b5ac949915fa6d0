"""The decoder pool with the jobs it runs: a bad file fails alone, an error that is not the file's
reaches the caller typed, and `muser tag`'s job embeds as one process does."""
from pathlib import Path

import numpy as np
import pytest

from muser_model.core.errors import CheckpointNotFoundError
from muser_model.core.files import FileEntry
from muser_model.library.decode import IndexJob, TagJob
from muser_model.library.pool import start_pool
from muser_model.numpy_engine.audio import NumpyMuser, embed_files
from tests.conftest import write_clip
from tests.helpers.pool_helpers import MisbehavingJob


def _entries(*names: str) -> list[FileEntry]:
    return [FileEntry(str(name), 0, 0) for name in names]


@pytest.mark.slow  # a hang waits out its timeout (3 s); a crash and a cut answer stay fast in test_pool
def test_each_bad_file_fails_alone_and_the_rest_go_on(tmp_path):
    """A decoder that crashes, hangs past the timeout or dies halfway through its answer is
    replaced, and only its file fails; the others decode, in the same pool."""
    good = [str(write_clip(tmp_path / f"ok{i}.wav", 220.0 + 110 * i, 2.5, seed=i)) for i in range(3)]
    job = MisbehavingJob(2.0, 2.0, 16000, 8)
    pool = start_pool(2, job, timeout_s=3)
    try:
        results = {Path(e.path).name: item for e, item in
                   pool.decode(_entries(good[0], "crash.wav", good[1], "hang.wav", "cut.wav", good[2]), lambda: job)}
        assert len(pool.pids) == 2
    finally:
        pool.kill()
    assert {name: item.error for name, item in results.items() if item.error} == {
        "crash.wav": "decoder crashed on this file", "hang.wav": "decoding took longer than 3 s",
        "cut.wav": "decoder crashed on this file"}
    assert all(results[f"ok{i}.wav"].windows.shape[0] == 1 for i in range(3))


def test_a_model_that_cannot_load_is_raised_typed(tmp_path):
    job = IndexJob(2.0, 2.0, 16000, 8, checkpoint=str(tmp_path / "nowhere.muser"))
    pool = start_pool(1, job, timeout_s=60)
    try:
        with pytest.raises(CheckpointNotFoundError, match="nowhere.muser"):
            list(pool.decode(_entries("a.wav"), lambda: job))
    finally:
        pool.kill()


def test_the_tag_job_embeds_as_one_process_does(tiny_checkpoint, tmp_path):
    clip = write_clip(tmp_path / "a.flac", 330.0, 7.0, seed=5)
    job = TagJob(str(tiny_checkpoint), batch_size=4)
    pool = start_pool(1, job, timeout_s=60)
    try:
        ((_, item),) = list(pool.decode(_entries(clip), lambda: job))
    finally:
        pool.kill()
    (alone,) = embed_files(NumpyMuser.load(tiny_checkpoint), [clip], 4)
    assert np.array_equal(item.embeddings[:, 0], alone.wave) and np.array_equal(item.embeddings[:, 1], alone.spec)
    assert item.hop_s == alone.hop_s and Path(item.path) == clip
