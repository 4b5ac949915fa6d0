"""libmpg123 (libsndfile's MP3 decoder) writes notes such as "Warning: Xing stream size off by more
than 1% ..." straight to fd 2. The one-process `muser tag` drops those lines and nothing else:
muser's own messages and other threads' lines still come through."""
import subprocess
import sys
import textwrap

import pytest
import soundfile as sf

from tests.conftest import tone

pytestmark = pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile without MP3")


def _odd_mp3s(folder):
    folder.mkdir()
    whole = folder / "whole.mp3"
    sf.write(whole, tone(220.0, 4.0), 16000, format="MP3")
    data = whole.read_bytes()
    (folder / "half.mp3").write_bytes(data[:len(data) // 2])  # Xing header promises more
    (folder / "tiny.mp3").write_bytes(data[:600])  # undecodable
    whole.unlink()
    return folder


def _python(code, stderr=subprocess.PIPE):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                          stderr=stderr, text=True, timeout=300)


def test_one_process_tag_prints_no_mpg123_notes(tiny_checkpoint, tmp_path):
    folder = _odd_mp3s(tmp_path / "mp3s")
    res = _python(f"""
        import sys
        from muser_cli.main import main
        sys.argv = ["muser", "tag", {str(folder)!r}, "-c", {str(tiny_checkpoint)!r}, "--engine", "numpy",
                    "--workers", "1"]
        main()
    """)
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: {folder / 'tiny.mp3'}: ") and \
        lines[1] == "1 of 2 file(s) failed", res.stderr
    assert res.stdout.splitlines()[0] == str(folder / "half.mp3")


def test_only_mpg123_lines_are_dropped_from_any_writer(tmp_path):
    res = _python("""
        import os, sys, threading
        from muser_model.core.audio import quiet_decoder_notes

        with quiet_decoder_notes():
            os.write(2, b"Warning: Xing stream size off by more than 1%, fuzzy seeking may be even more fuzzy!\\n")
            writer = threading.Thread(target=os.write, args=(2, b"another thread, fd 2\\n"))
            writer.start(); writer.join()
            os.write(2, b"Cannot read next header, a one-frame stream? Duh...\\n")
            print("muser's own message", file=sys.stderr)
            os.write(2, b"[src/libmpg123/parse.c:1234] error: something\\nkept, no newline")
        print("after", file=sys.stderr)
    """)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()  # the partial last line is kept as it is, "after" follows it
    assert sorted(lines) == sorted(["another thread, fd 2", "muser's own message", "kept, no newlineafter"])
    assert "Xing" not in res.stderr and "Duh" not in res.stderr


def test_python_stderr_stays_the_real_stream(tmp_path):
    """Inside the block sys.stderr writes to a copy of the real stderr (a terminal stays a terminal
    for progress bars), not to the filtering pipe."""
    target = tmp_path / "stderr.txt"
    with open(target, "w") as stderr:
        res = _python("""
            import os, sys
            from muser_model.core.audio import quiet_decoder_notes

            real = os.fstat(2)
            with quiet_decoder_notes():
                mine = os.fstat(sys.stderr.fileno())
                print((mine.st_dev, mine.st_ino) == (real.st_dev, real.st_ino), sys.stderr.fileno() != 2)
        """, stderr=stderr)
    assert res.stdout.split() == ["True", "True"]
