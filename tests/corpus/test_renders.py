"""Corpus v3 renders (muser_train.corpus.renders): LMMS demo projects and Hydrogen demo songs.

Parsing, planning, kit choice, splitting, failure listing and resuming run on tiny project files
written here and a fake renderer (a seeded tone per render); only the last tests need the real
`h2cli` / `lmms` and skip without them."""
from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from muser_train.corpus import build as corpus_build
from muser_train.corpus.splits import assign_splits, groups_by
from muser_train.corpus import renders as R
from muser_train.corpus.common import read_csv

SR = 16_000


# ----------------------------------------------------------------------------- tiny inputs
def lmms_xml(bpm: int) -> bytes:
    return (f'<?xml version="1.0"?><lmms-project version="1.0" creator="LMMS">'
            f'<head timesig_numerator="4" bpm="{bpm}" mastervol="100"/><song/></lmms-project>'
            ).encode()


def write_mmp(path: Path, bpm: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lmms_xml(bpm))
    return path


def write_mmpz(path: Path, bpm: int) -> Path:
    """As Qt's qCompress stores it: the uncompressed length (4 bytes, big-endian) + zlib."""
    data = lmms_xml(bpm)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">I", len(data)) + zlib.compress(data))
    return path


def write_song(path: Path, bpm: int, instruments: dict[int, str], played: list[int],
               kit: str = "OwnKit", name: str = "Tiny song") -> Path:
    ins = "".join(f"<instrument><id>{i}</id><name>{n}</name><drumkit>{kit}</drumkit></instrument>"
                  for i, n in instruments.items())
    notes = "".join(f"<note><position>{k * 48}</position><instrument>{i}</instrument></note>"
                    for k, i in enumerate(played))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<?xml version="1.0"?><song><bpm>{bpm}</bpm><name>{name}</name>'
                    f"<author>Someone</author><instrumentList>{ins}</instrumentList>"
                    f"<patternList><pattern><name>p</name><noteList>{notes}</noteList></pattern>"
                    f"</patternList></song>")
    return path


def write_kit(data: Path, folder: str, instruments: dict[int, str], namespaced: bool = True) -> Path:
    ns = ' xmlns="http://www.hydrogen-music.org/drumkit"' if namespaced else ""
    ins = "".join(f"<instrument><id>{i}</id><name>{n}</name></instrument>"
                  for i, n in instruments.items())
    path = data / "drumkits" / folder / "drumkit.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<?xml version="1.0"?><drumkit_info{ns}><name>{folder} kit</name>'
                    f"<license>CC0</license><instrumentList>{ins}</instrumentList></drumkit_info>")
    return path


GM = {0: "Kick", 1: "Stick", 2: "Snare", 6: "Hat Closed"}


def hydrogen_tree(root: Path) -> Path:
    """Two songs on OwnKit; FitKit has the same parts at the same ids, ToneKit a tom at id 2,
    ShortKit lacks id 6."""
    data = root / "hydrogen"
    write_kit(data, "OwnKit", GM)
    write_kit(data, "FitKit", {0: "Bass Drum", 1: "Side Stick", 2: "Snare Rock", 6: "Closed HH"},
              namespaced=False)
    write_kit(data, "ToneKit", {0: "Kick", 1: "Stick", 2: "Tom Low", 6: "Hat Closed"})
    write_kit(data, "ShortKit", {0: "Kick", 1: "Stick", 2: "Snare"})
    write_song(data / "demo_songs" / "rock.h2song", 96, GM, [0, 2, 6, 2])
    write_song(data / "demo_songs" / "kickonly.h2song", 120, GM, [0, 0, 0], name="Four")
    return data


def fake_renderer(fail: set[str] = frozenset(), calls: list | None = None, seconds: float = 40.0):
    """Writes a seeded tone per render (a different pitch for each id); fails for ids in FAIL."""
    def render(r: R.Render, wav: Path, timeout_s: float) -> None:
        if calls is not None:
            calls.append(r.id)
        if r.id in fail:
            raise R.RenderError(f"{r.id}: lmms exited 1 without audio (fake)")
        seed = sum(map(ord, r.id))
        rng = np.random.default_rng(seed)
        t = np.arange(int(seconds * 44_100)) / 44_100
        f0 = 110 + seed % 400
        y = 0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.2 * np.sin(2 * np.pi * 0.05 * t)))
        y = y * (0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 1.7 * t))) + 0.02 * rng.standard_normal(len(t))
        sf.write(wav, np.stack([y, y], axis=1).astype(np.float32), 44_100)
    return render


def lmms_tree(root: Path) -> Path:
    projects = root / "lmms"
    write_mmpz(projects / "demos" / "Someone-ReggaeTry.mmpz", 180)
    write_mmp(projects / "demos" / "Author" / "Author-AxeFromThe80s.mmp", 140)
    write_mmpz(projects / "shorties" / "Crunk(Demo).mmpz", 130)
    write_mmp(projects / "tutorials" / "editing_note_volumes.mmp", 120)
    (projects / "shorties" / "Broken.mmpz").write_bytes(b"\0\0\0\x10not zlib at all")
    return projects


# ----------------------------------------------------------------------------- parsing
def test_tempo_from_mmp_mmpz_and_h2song(tmp_path):
    assert R.lmms_tempo(R.read_xml(write_mmp(tmp_path / "a.mmp", 87))) == 87
    assert R.lmms_tempo(R.read_xml(write_mmpz(tmp_path / "b.mmpz", 144))) == 144
    song = R.read_song(write_song(tmp_path / "c.h2song", 98, GM, [0, 2]))
    assert (song.tempo, song.name, song.kit) == (98, "Tiny song", "OwnKit")
    assert song.played == {"0": "Kick", "2": "Snare"}


def test_unreadable_project_names_the_file(tmp_path):
    bad = tmp_path / "Broken.mmpz"
    bad.write_bytes(b"\0\0\0\x10garbage")
    with pytest.raises(R.ProjectError, match="Broken.mmpz"):
        R.read_xml(bad)


def test_lmms_names_give_author_title_and_honest_style():
    assert R.split_lmms_name("CapDan-TwilightArea-OriginalByAlf42red") == (
        "CapDan", "Twilight Area (original by Alf42red)")
    assert R.split_lmms_name("Thomasso-AxeFromThe80s") == ("Thomasso", "Axe From The 80s")
    assert R.name_style("CapDan-ReggaetonTry") == ("reggaeton", "other")
    assert R.name_style("CapDan-ReggaeTry") == ("reggae", "reggae")
    assert R.name_style("Impulslogik-Zen") == ("", "other")


# ----------------------------------------------------------------------------- planning
def test_kit_fits_only_when_every_played_part_matches(tmp_path):
    data = hydrogen_tree(tmp_path)
    kits = {k.folder: k for k in R.find_kits(data)[0]}
    rock = R.read_song(data / "demo_songs" / "rock.h2song")
    kick = R.read_song(data / "demo_songs" / "kickonly.h2song")
    assert R.kit_fits(rock, kits["FitKit"])          # other names, same parts (namespace-free xml)
    assert not R.kit_fits(rock, kits["ToneKit"])     # id 2 is a tom there
    assert not R.kit_fits(rock, kits["ShortKit"])    # no id 6
    assert R.kit_fits(kick, kits["ToneKit"]) and R.kit_fits(kick, kits["ShortKit"])


def test_plan_hydrogen_own_kit_first_then_fitting_kits(tmp_path):
    data = hydrogen_tree(tmp_path)
    renders, failures = R.plan_hydrogen(data)
    assert failures == []
    by_song = {}
    for r in renders:
        by_song.setdefault(r.group, []).append((r.kit_folder, r.id))
    assert by_song["hydrogen/rock"] == [("", "hydrogen/rock"), ("FitKit", "hydrogen/rock@FitKit")]
    assert [k for k, _ in by_song["hydrogen/kickonly"]] == ["", "FitKit", "ShortKit", "ToneKit"]
    assert R.render_command(renders[1], Path("o.wav"))[-2:] == ["-k", renders[1].kit_folder]


def test_plan_lmms_skips_tutorials_and_names_broken_files(tmp_path):
    renders, failures = R.plan_lmms(lmms_tree(tmp_path))
    assert {r.name for r in renders} == {"Someone-ReggaeTry", "Author-AxeFromThe80s", "Crunk_Demo"}
    assert [f["id"] for f in failures] == ["lmms/Broken"]
    crunk = next(r for r in renders if r.name == "Crunk_Demo")
    assert (crunk.folder, crunk.tempo, crunk.style, crunk.genre) == ("shorties", 130, "crunk", "hiphop")


def test_split_by_song_keeps_kit_variants_together():
    renders = [R.Render(id=f"hydrogen/s{i}@{k}", engine="hydrogen", project="p", group=f"hydrogen/s{i}",
                        title=f"s{i}", kit=k) for i in range(40) for k in ("a", "b", "c")]
    splits = assign_splits(groups_by(renders, "engine"), seed=3)
    assert set(splits) == {f"hydrogen/s{i}" for i in range(40)}
    assert sum(v == "test" for v in splits.values()) == 6  # 15 % of 40 songs, whole songs
    assert splits != assign_splits(groups_by(renders, "engine"), seed=4)      # seeded


# ----------------------------------------------------------------------------- build, failures, resume
def lmms_renders(tmp_path):
    return R.plan_lmms(lmms_tree(tmp_path))[0]


def test_failed_render_is_named_and_the_build_goes_on(tmp_path):
    renders = lmms_renders(tmp_path)
    out = tmp_path / "out"
    s = R.build(out, renders, render_fn=fake_renderer(fail={"lmms/Someone-ReggaeTry"}))
    assert [f["id"] for f in s["failures"]] == ["lmms/Someone-ReggaeTry"]
    assert "without audio" in s["failures"][0]["error"]
    _, rows = read_csv(out / "captions.csv")
    assert {r["track"] for r in rows} == {"lmms/Author-AxeFromThe80s", "lmms/Crunk_Demo"}
    assert all((out / r["path"]).is_file() for r in rows)
    crunk = [r for r in rows if r["track"] == "lmms/Crunk_Demo"]
    assert crunk[0]["tempo"] == "130.0" and crunk[0]["genre"] == "hiphop"
    assert "at 130 bpm" in crunk[0]["text"] + crunk[0]["texts"]
    y, sr = sf.read(out / rows[0]["path"])
    assert sr == SR and y.ndim == 1 and len(y) == 12 * SR


@pytest.mark.slow
def test_rerun_renders_nothing_and_does_not_retry_failures(tmp_path):
    renders, out = lmms_renders(tmp_path), tmp_path / "out"
    R.build(out, renders, render_fn=fake_renderer(fail={"lmms/Crunk_Demo"}))
    before = read_csv(out / "captions.csv")[1]
    calls = []
    s = R.build(out, renders, render_fn=fake_renderer(calls=calls))
    assert calls == [] and s["rendered_now"] == [] and s["rendered_before"] == 2
    assert [f["id"] for f in s["failures"]] == ["lmms/Crunk_Demo"]   # still listed
    assert read_csv(out / "captions.csv")[1] == before
    s = R.build(out, renders, render_fn=fake_renderer(calls=calls), retry_failed=True)
    assert calls == ["lmms/Crunk_Demo"] and s["failures"] == []


def test_a_silent_render_is_a_failure(tmp_path):
    """Hydrogen 1.2 renders some legacy multi-layer kits as silence (their samples do not load)."""
    def silent(r, wav, timeout_s):
        sf.write(wav, np.zeros(30 * SR, np.float32), SR)

    renders, out = lmms_renders(tmp_path), tmp_path / "out"
    s = R.build(out, renders[:1], render_fn=silent)
    assert [f["error"] for f in s["failures"]] == [
        f"{renders[0].id}: the render is silent (peak below -60 dBFS)"]
    assert not R.rendered_path(out, renders[0]).exists() and s["excerpts"] == 0


def test_a_render_without_loud_excerpts_is_listed(tmp_path):
    """Millo_MultiLayered3 loads only some samples: -45 dBFS throughout, no excerpt kept."""
    def faint(r, wav, timeout_s):
        rng = np.random.default_rng(0)
        sf.write(wav, (0.003 * rng.standard_normal(40 * SR)).astype(np.float32), SR)

    renders, out = lmms_renders(tmp_path), tmp_path / "out"
    s = R.build(out, renders[:1], render_fn=faint)
    assert s["failures"] == [] and s["excerpts"] == 0
    assert [e["id"] for e in s["no_excerpts"]] == [renders[0].id]


@pytest.mark.slow
def test_max_seconds_leaves_the_rest_pending_for_a_rerun(tmp_path):
    renders, out = lmms_renders(tmp_path), tmp_path / "out"
    s = R.build(out, renders, render_fn=fake_renderer(), max_seconds=0)
    assert sorted(s["pending"]) == sorted(r.id for r in renders) and s["excerpts"] == 0
    s = R.build(out, renders, render_fn=fake_renderer())
    assert s["pending"] == [] and len(s["rendered_now"]) == 3


@pytest.mark.slow
def test_hydrogen_variants_share_the_split_and_duplicates_drop(tmp_path):
    data = hydrogen_tree(tmp_path)
    renders, _ = R.plan_hydrogen(data)
    same = fake_renderer()

    def render(r, wav, timeout_s):  # kickonly@ShortKit sounds exactly like kickonly@FitKit
        alias = r.id.replace("@ShortKit", "@FitKit")
        same(R.Render(**{**r.__dict__, "id": alias}), wav, timeout_s)

    out = tmp_path / "out"
    s = R.build(out, renders, render_fn=render)
    assert s["duplicates_dropped"] == [{"id": "hydrogen/kickonly@ShortKit",
                                        "same_as": "hydrogen/kickonly@FitKit"}]
    _, rows = read_csv(out / "captions.csv")
    for group in ("hydrogen/rock", "hydrogen/kickonly"):
        assert len({r["split"] for r in rows if r["group"] == group}) == 1
    fit = next(r for r in rows if r["track"] == "hydrogen/rock@FitKit")
    assert fit["kit"] == "FitKit kit" and "played on the FitKit kit" in fit["text"] + fit["texts"]
    assert s["kit_variants"]["hydrogen/rock"] == ["OwnKit kit", "FitKit kit"]


@pytest.mark.slow
def test_export_writes_the_manifest(tmp_path):
    renders, out = lmms_renders(tmp_path), tmp_path / "out"
    R.build(out, renders, render_fn=fake_renderer())
    dst = R.export_manifest(out, tmp_path / "data")
    cols, rows = read_csv(dst)
    assert dst.name == "renders_manifest.csv" and rows
    for c in ("id", "path", "text", "texts", "genre", "split", "source", "package", "track",
              "title", "offset_s", "duration_s", "licence", "tempo"):
        assert c in cols


def test_a_hanging_renderer_is_killed_at_its_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "render_command", lambda r, wav: ["sleep", "30"])
    r = R.Render(id="lmms/hangs", engine="lmms", project="x.mmpz", group="lmms/hangs", title="h")
    entry = R.render_one(r, tmp_path, R.run_renderer, timeout_s=0.5)
    assert entry["status"] == "failed" and entry["wall_s"] < 10
    assert entry["error"] == "lmms/hangs: render timed out after 0.5 s"


def test_renders_is_an_opt_in_stage_of_the_corpus_build():
    assert "renders" not in corpus_build.SOURCES and "renders" in corpus_build.OPTIONAL_SOURCES
    assert corpus_build.BUILDERS["renders"][0] == "muser_train.corpus.renders"


# ----------------------------------------------------------------------------- real renderers
DEMO_808 = R.HYDROGEN_DATA / "demo_songs" / "TR808kit-demo.h2song"
SHORTY = R.LMMS_PROJECTS / "shorties" / "Crunk(Demo).mmp"


def _real_render(tmp_path, engine: str, project: Path) -> np.ndarray:
    r = R.Render(id=f"{engine}/demo", engine=engine, project=str(project), group="g", title="t")
    entry = R.render_one(r, tmp_path, R.run_renderer, timeout_s=300)
    assert entry["status"] == "ok", entry
    y, sr = sf.read(R.rendered_path(tmp_path, r))
    assert sr == SR
    return y


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("h2cli") is None or not DEMO_808.is_file(), reason="no h2cli")
def test_h2cli_renders_a_demo_song(tmp_path):
    y = _real_render(tmp_path, "hydrogen", DEMO_808)
    assert len(y) > 10 * SR and np.abs(y).max() > 0.01


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("lmms") is None or not SHORTY.is_file(), reason="no lmms")
def test_lmms_renders_a_shorty(tmp_path):
    y = _real_render(tmp_path, "lmms", SHORTY)
    assert len(y) > 5 * SR and np.abs(y).max() > 0.01
