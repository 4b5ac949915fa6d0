"""corpus.freepats: the freepats patch set as a complete TiMidity++ config, and rendering with it."""
import os
import shutil

import numpy as np
import pytest

from muser_train.corpus import build, freepats
from muser_train.corpus.common import SR, fluid_render
from muser_train.corpus.debpkg import PackageError

CFG = """dir /usr/share/midi/freepats

# generated
drumset 0

 35\tDrum_000/035_Kick_1.pat amp=100
 38\tDrum_000/038_Snare_1.pat

bank 0

 0\tTone_000/000_Acoustic_Grand_Piano.pat
 25\tTone_000/025_Steel_Guitar.pat amp=120
 40\tTone_000/040_Violin.pat
 104\tTone_000/104_Sitar.pat
"""


def program_lines(text: str) -> dict[int, str]:
    bank = text.split("bank 0", 1)[1]
    return {int(line.split()[0]): line.split("\t", 1)[1] for line in bank.splitlines() if line.strip()}


def test_parse_keeps_the_drums_and_reads_the_melodic_programs():
    head, tones = freepats.parse_config(CFG)
    assert tones == {0: "Tone_000/000_Acoustic_Grand_Piano.pat", 25: "Tone_000/025_Steel_Guitar.pat amp=120",
                     40: "Tone_000/040_Violin.pat", 104: "Tone_000/104_Sitar.pat"}
    assert any("035_Kick_1.pat" in line for line in head) and not any(line.startswith("dir ") for line in head)


def test_missing_programs_borrow_from_their_family_or_the_borrowed_table():
    present = [0, 25, 40, 104]
    assert freepats.nearest_program(3, present) == 0  # Honky-tonk Piano -> Acoustic Grand Piano
    assert freepats.nearest_program(41, present) == 40  # Viola -> Violin (same family)
    assert freepats.nearest_program(106, present) == 104  # Shamisen -> Sitar (same family)
    assert freepats.nearest_program(105, present) == 25  # Banjo -> Steel-string Guitar (BORROWED)
    assert freepats.nearest_program(110, present) == 40  # Fiddle -> Violin (BORROWED)
    assert freepats.nearest_program(70, present) == 40  # no reed at all: the nearest program overall


def test_complete_config_names_all_128_programs_under_the_given_folder(tmp_path):
    text = freepats.complete_config(CFG, tmp_path)
    assert text.splitlines()[0] == f"dir {tmp_path}"
    programs = program_lines(text)
    assert sorted(programs) == list(range(128))
    assert programs[25] == "Tone_000/025_Steel_Guitar.pat amp=120"  # own patch and options kept
    assert programs[110].startswith("Tone_000/040_Violin.pat") and "borrowed from program 40" in programs[110]
    assert "035_Kick_1.pat amp=100" in text.split("bank 0")[0]


def test_a_config_without_melodic_programs_is_an_error():
    with pytest.raises(ValueError, match="no melodic programs"):
        freepats.complete_config("drumset 0\n 35\tDrum_000/035_Kick_1.pat\n", "/x")


def test_the_build_names_and_skips_a_patch_set_it_cannot_fetch(tmp_path, monkeypatch):
    def unfetchable(cache):
        raise PackageError("freepats: download failed (no network)")

    monkeypatch.setattr(freepats, "freepats_config", unfetchable)
    monkeypatch.setattr(build, "run_step", lambda cmd: pytest.fail("no render without the patch set"))
    status = build.ensure("mma_freepats", tmp_path, seed=0, jobs=1)
    assert status.startswith("failed") and "download failed" in status


def test_the_build_renders_mma_freepats_through_the_fetched_config(tmp_path, monkeypatch):
    cfg = tmp_path / "debs" / "freepats" / freepats.CONFIG_NAME
    monkeypatch.setattr(freepats, "freepats_config", lambda cache: cfg)
    calls = []
    monkeypatch.setattr(build, "run_step", lambda cmd: calls.append(cmd) or 0)
    assert build.ensure("mma_freepats", tmp_path, seed=0, jobs=1) == "built"
    (cmd,) = calls
    assert cmd[cmd.index("--render-soundfont") + 1] == f"FreePats={cfg}"
    assert cmd[cmd.index("--only-split") + 1] == "train"
    assert "mma_freepats" in build.UNSCORED_SOURCES and "mma_freepats" in build.MMA_SOURCES


def one_note_midi(path):
    """A format-0 MIDI file: middle C for one beat at 480 ticks a beat."""
    events = bytes([0x00, 0x90, 60, 100, 0x83, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00])
    path.write_bytes(b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0x01, 0xE0])
                     + b"MTrk" + len(events).to_bytes(4, "big") + events)
    return path


TIMIDITY_CFG = "/etc/timidity/timidity.cfg"


@pytest.mark.skipif(shutil.which("timidity") is None or not os.path.exists(TIMIDITY_CFG),
                    reason="timidity (and its config) not installed")
def test_a_cfg_renders_through_timidity(tmp_path):
    """A `.cfg` goes to TiMidity++ (here with its own config): audio at SR, not silence."""
    y = fluid_render(one_note_midi(tmp_path / "one.mid"), tmp_path / "one.wav", TIMIDITY_CFG)
    assert y.ndim == 1 and len(y) > SR // 2 and np.abs(y).max() > 1e-3


def test_a_failing_renderer_names_itself(tmp_path):
    """A config TiMidity++ cannot read (or no timidity at all) is an error naming the tool."""
    bad = tmp_path / "bad.cfg"
    bad.write_text("this is not a config\n")
    with pytest.raises((RuntimeError, OSError), match="timidity"):
        fluid_render(one_note_midi(tmp_path / "one.mid"), tmp_path / "one.wav", str(bad))
