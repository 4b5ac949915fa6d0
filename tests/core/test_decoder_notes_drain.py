"""The stderr filter of `quiet_decoder_notes` returns at once when its copier has already reached
EOF, instead of waiting out its timeout for a thread that is gone (every one-process `muser tag`
lost 2 s to this)."""
import os

from muser_model.core.audio import _LineFilter


def test_drained_does_not_wait_for_a_finished_copier():
    read_end, write_end = os.pipe()
    real_read, real = os.pipe()
    copier = _LineFilter(read_end, real)
    os.write(write_end, b"a line\n")
    os.close(write_end)
    copier.run()  # copies to EOF, then finishes
    assert copier.finished.is_set()

    def must_not_wait(timeout=None):
        raise AssertionError("drained() waited for a copier that had finished")

    copier.idle.wait = must_not_wait
    copier.drained(timeout_s=2.0)
    os.close(real)
    assert os.read(real_read, 100) == b"a line\n"
    os.close(real_read)
