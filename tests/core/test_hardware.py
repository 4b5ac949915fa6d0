"""Process settings for the numpy engine (muser_model.core.process_settings.keep_freed_memory)."""
import os
import subprocess
import sys

import pytest

_FAULTS = """
import resource, sys
import numpy as np
from muser_model.core.process_settings import keep_freed_memory

set_now = keep_freed_memory() if sys.argv[1] == "tuned" else None

def rounds(n):  # three 8 MB temporaries alive at once, then freed: the numpy engine's pattern
    for _ in range(n):
        keep = [np.ones(2 << 20, np.float32) for _ in range(3)]
        del keep

rounds(2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print(set_now, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str, env: dict | None = None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    set_now, faults = out.stdout.split()
    return set_now, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
                    reason="glibc only")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    plain_set, plain = _page_faults("plain")
    tuned_set, tuned = _page_faults("tuned")
    assert tuned_set == "True"
    assert plain > 10_000  # 20 rounds x 3 x 8 MB faulted back in (2,048 pages each)
    assert tuned < plain / 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_the_users_malloc_settings_win():
    assert _page_faults("tuned", {"MALLOC_TRIM_THRESHOLD_": "131072"})[0] == "False"
