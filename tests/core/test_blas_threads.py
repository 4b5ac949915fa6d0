"""blas_threads sets the BLAS thread count for a block and restores it; the environment wins."""
import numpy as np  # noqa: F401  (loads the OpenBLAS whose threads are counted)
import pytest
from threadpoolctl import threadpool_info

from muser_model.core import process_settings
from muser_model.core.process_settings import blas_threads


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def outside(monkeypatch):
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = _blas_threads()
    if not before:
        pytest.skip("numpy has no BLAS that threadpoolctl can see")
    return before


def test_the_block_runs_with_n_threads_then_they_are_restored(outside):
    n = max(outside) + 1
    with blas_threads(n):
        assert _blas_threads() == {n}
    assert _blas_threads() == outside


def test_none_and_the_environment_leave_blas_alone(outside, monkeypatch):
    n = max(outside) + 1
    with blas_threads(None):
        assert _blas_threads() == outside
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", str(max(outside)))
    with blas_threads(n):
        assert _blas_threads() == outside


def test_the_libraries_are_searched_once(outside, monkeypatch):
    monkeypatch.setattr(process_settings, "_BLAS", None)
    with blas_threads(1):
        found = process_settings._BLAS
    with blas_threads(1):
        assert process_settings._BLAS is found is not None
