"""Dataset readers (train/datasets.py) on tiny fixtures in the real FMA / MTT / GTZAN layouts."""
from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

from muser_model.core.errors import MuserError
from muser_model.core.vocab import MTT_TAGS
from tests.helpers.dataset_fixtures import MTT_CLIPS, make_fma, make_gtzan, make_mtt, write_audio
from muser_train.training.datasets import (
    READERS, DatasetError, DatasetWarning, Example, LoadReport, load_dataset, read_fma, read_generic,
    read_gtzan, read_mtt,
)


def by_id(report: LoadReport, key: str) -> dict:
    return {e.meta[key]: e for e in report.examples}


# ----------------------------------------------------------------------------- FMA


@pytest.fixture(scope="module")
def fma(tmp_path_factory):
    return make_fma(tmp_path_factory.mktemp("fma"), n=6)


def test_fma_parses_titles_tags_and_splits(fma):
    report = read_fma(fma["data_dir"])
    assert isinstance(report, LoadReport) and report.missing == []
    ex = by_id(report, "track_id")
    assert sorted(ex) == [2, 5, 10, 140, 204, 205]  # small only: 1482 (medium), 123456 (large) out
    food = ex[2]
    assert food.path == fma["data_dir"] / "000" / "000002.mp3"
    assert food.meta["title"] == "Food, Glorious Food" and food.meta["artist"] == "AWOL"
    assert food.texts[0] == "The song titled Food, Glorious Food, belongs to Hip-Hop, written by AWOL"
    assert food.meta["tags"] == ["indie", "lo-fi"]  # the track's tags, not the album's or artist's
    assert "indie, lo-fi" in food.texts and "Hip-Hop music by AWOL" in food.texts
    assert food.genre == "hip-hop" and food.tags == []
    # a quoted newline inside the title is kept in the row and collapsed in the caption
    assert ex[5].meta["title"] == "This World Revisited"
    assert ex[5].texts[0] == "The song titled This World Revisited, belongs to Hip-Hop, written by AWOL"
    assert ex[10].meta["title"] == 'Freeway "Live", Part 2'
    assert ex[10].meta["tags"] == []  # garbage literal tolerated
    assert ex[140].meta["tags"] == ["folk"]  # non-string items dropped
    assert {k: e.split for k, e in ex.items()} == {
        2: "train", 5: "valid", 10: "test", 140: "train", 204: "train", 205: "train"}
    assert all(isinstance(e, Example) and e.texts and len(set(e.texts)) == len(e.texts) for e in ex.values())


def test_fma_genres_csv_normalises_genre_top(fma, tmp_path):
    ex = by_id(read_fma(fma["data_dir"]), "track_id")
    assert ex[10].genre == "pop" and ex[10].texts[0].endswith("belongs to Pop, written by Kurt Vile")
    plain = make_fma(tmp_path, n=4, with_genres=False)
    ex = by_id(read_fma(plain["data_dir"]), "track_id")
    assert ex[10].texts[0].endswith("belongs to pop, written by Kurt Vile")


def test_fma_subsets_are_nested(fma):
    ids = {s: set(by_id(read_fma(fma["data_dir"], subset=s), "track_id"))
           for s in ("small", "medium", "large")}
    assert ids["small"] < ids["medium"] < ids["large"]
    assert ids["medium"] - ids["small"] == {1482}
    assert ids["large"] - ids["medium"] == {123456}
    large = by_id(read_fma(fma["data_dir"], subset="large"), "track_id")[123456]
    assert large.genre == "" and large.texts[0] == (
        "The song titled Large Track, belongs to music, written by Big Artist")
    with pytest.raises(DatasetError, match="subset"):
        read_fma(fma["data_dir"], subset="tiny")


def test_fma_missing_audio_is_counted_not_raised(tmp_path):
    d = make_fma(tmp_path, n=4, missing=(5, 140))
    report = read_fma(d["data_dir"])
    assert sorted(report.missing) == sorted([d["paths"][5], d["paths"][140]])
    assert sorted(by_id(report, "track_id")) == [2, 10]


def test_fma_metadata_locations(tmp_path):
    inside = make_fma(tmp_path / "a", n=4, metadata_inside=True)
    assert len(read_fma(inside["data_dir"]).examples) == 4
    elsewhere = make_fma(tmp_path / "b", n=4)
    moved = tmp_path / "meta"
    elsewhere["metadata_dir"].rename(moved)
    with pytest.raises(DatasetError, match="tracks.csv"):
        read_fma(elsewhere["data_dir"])
    assert len(read_fma(elsewhere["data_dir"], metadata_dir=moved).examples) == 4


def test_fma_changed_header_names_the_missing_column(tmp_path):
    d = make_fma(tmp_path, n=4, omit_columns=(("set", "subset"), ("track", "genre_top")))
    with pytest.raises(DatasetError) as err:
        read_fma(d["data_dir"])
    message = str(err.value)
    assert "tracks.csv" in message and "set.subset" in message and "track.genre_top" in message
    assert "set.split" not in message


def test_fma_single_header_file_is_rejected(tmp_path):
    d = make_fma(tmp_path, n=4)
    with open(d["tracks_csv"], "w", newline="") as f:  # a flattened one-line header
        csv.writer(f).writerows([["track_id", "title", "genre_top"], ["2", "x", "Rock"]])
    with pytest.raises(DatasetError, match="missing column"):
        read_fma(d["data_dir"])


def test_fma_wrong_data_dir(tmp_path, fma):
    with pytest.raises(DatasetError, match="folder not found"):
        read_fma(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="none of the 6 FMA tracks found"):
        read_fma(empty, metadata_dir=fma["metadata_dir"])


# ----------------------------------------------------------------------------- MagnaTagATune


@pytest.fixture(scope="module")
def mtt(tmp_path_factory):
    return make_mtt(tmp_path_factory.mktemp("mtt"))


def test_mtt_sota_split_top50_and_templates(mtt):
    report = read_mtt(mtt["data_dir"])
    ex = by_id(report, "clip_id")
    assert {s: sorted(int(c) for c, e in ex.items() if e.split == s) for s in ("train", "valid", "test")} == {
        "train": [2, 6, 10, 40], "valid": [12], "test": [20, 30, 33]}
    assert report.missing == [] and report.counts() == {"train": 4, "valid": 1, "test": 3}
    bach = ex["2"]
    assert bach.path == mtt["audio_root"] / MTT_CLIPS[0][1]
    assert bach.tags == ["classical", "violin"]  # "singer", "baroque" are not top-50
    assert bach.texts[0] == "the music is characterized by classical, violin"
    assert ex["40"].tags == ["harpsichord"]  # the misspelled "harpsicord" column is not top-50
    assert ex["30"].tags == ["female", "vocals", "pop"]  # MTT_TAGS order, not CSV order
    assert ex["2"].meta["ix"] == mtt["ix"][2] and ex["2"].meta["split_scheme"] == "sota"
    for e in report.examples:
        assert e.tags == [t for t in MTT_TAGS if t in e.tags] and e.genre == ""


def test_mtt_binary_npy_takes_precedence(tmp_path):
    d = make_mtt(tmp_path)
    assert by_id(read_mtt(d["data_dir"]), "clip_id")["6"].tags == ["guitar", "slow", "loud"]
    (tmp_path / "split" / "mtat" / "binary.npy").unlink()
    assert by_id(read_mtt(d["data_dir"]), "clip_id")["6"].tags == ["guitar", "slow"]


def test_mtt_binary_npy_alone_is_enough(tmp_path):
    d = make_mtt(tmp_path, with_csv=False)
    report = read_mtt(d["data_dir"])
    assert len(report.examples) == 8
    assert {e.meta["mp3_path"]: e.tags for e in report.examples}[MTT_CLIPS[0][1]] == ["classical", "violin"]


def test_mtt_musicnn_directory_split_drops_unlabelled(mtt):
    report = read_mtt(mtt["data_dir"], split="musicnn")
    ex = by_id(report, "clip_id")
    assert "15" not in ex and report.dropped == [mtt["paths"][15]]
    expected = {"0": "train", "1": "train", "9": "train", "a": "train", "c": "valid",
                "d": "test", "e": "test", "f": "test"}
    for e in report.examples:
        assert e.split == expected[e.meta["mp3_path"][0]]
    assert report.counts() == {"train": 4, "valid": 2, "test": 3}
    kept = read_mtt(mtt["data_dir"], split="musicnn", drop_unlabelled=False)
    assert by_id(kept, "clip_id")["15"].texts == [] and kept.dropped == []


def test_mtt_split_files_in_root_and_audio_without_mp3_folder(tmp_path):
    d = make_mtt(tmp_path, under_mp3=False, split_location=".")
    report = read_mtt(d["data_dir"])
    assert len(report.examples) == 8 and report.missing == []
    assert all(e.path.parent.parent == tmp_path for e in report.examples)


def test_mtt_missing_sota_split_suggests_musicnn(tmp_path):
    d = make_mtt(tmp_path, split_location=None)
    with pytest.raises(DatasetError) as err:
        read_mtt(d["data_dir"], split="sota")
    assert "train.npy" in str(err.value) and "musicnn" in str(err.value)
    assert len(read_mtt(d["data_dir"], split="musicnn").examples) == 9


def test_mtt_missing_clip_is_counted(tmp_path):
    d = make_mtt(tmp_path, missing=(30, 15))
    report = read_mtt(d["data_dir"])
    assert report.missing == [d["paths"][30]]
    assert "30" not in by_id(report, "clip_id")
    musicnn = read_mtt(d["data_dir"], split="musicnn")
    assert musicnn.missing == [d["paths"][30]] and musicnn.dropped == [d["paths"][15]]


def test_mtt_partial_tag_columns_warn_and_bad_header_raises(tmp_path):
    d = make_mtt(tmp_path / "a", split_location=None,
                 tag_columns=("no voice", "guitar", "classical", "singer", "violin"))
    with pytest.warns(DatasetWarning, match="top-50 tag column"):
        report = read_mtt(d["data_dir"], split="musicnn")
    assert by_id(report, "clip_id")["2"].tags == ["classical", "violin"]
    assert sorted(by_id(report, "clip_id")) == ["2", "6"]
    bad = tmp_path / "b"
    bad.mkdir()
    (bad / "annotations_final.csv").write_text('"clip_id"\t"guitar"\t"path"\n"2"\t"1"\t"f/x.mp3"\n')
    with pytest.raises(DatasetError, match="mp3_path"):
        read_mtt(bad, split="musicnn")


def test_mtt_wrong_data_dir(tmp_path):
    with pytest.raises(DatasetError, match="folder not found"):
        read_mtt(tmp_path / "nope")
    with pytest.raises(DatasetError, match="annotations_final.csv"):
        read_mtt(tmp_path, split="musicnn")
    with pytest.raises(DatasetError, match="sota"):
        read_mtt(tmp_path, split="bogus")


def test_mtt_bad_binary_shape(tmp_path):
    d = make_mtt(tmp_path)
    np.save(tmp_path / "split" / "mtat" / "binary.npy", np.zeros((10, 49)))
    with pytest.raises(DatasetError, match="binary.npy"):
        read_mtt(d["data_dir"])


# ----------------------------------------------------------------------------- GTZAN


def test_gtzan_filtered_split(tmp_path):
    d = make_gtzan(tmp_path)
    report = read_gtzan(d["data_dir"])
    assert report.counts() == {"train": 8, "valid": 4, "test": 4}
    assert report.missing == [d["audio_root"] / "rock" / "rock.00042.wav"]
    ex = {e.meta["track_id"]: e for e in report.examples}
    assert "blues.00004" not in ex  # in no list: a faulty track
    hiphop = ex["hiphop.00002"]  # listed as .au, stored as .wav
    assert hiphop.split == "valid" and hiphop.path.suffix == ".wav" and hiphop.genre == "hiphop"
    assert hiphop.texts[0] == "The song belongs to hip hop"
    assert ex["blues.00000"].texts == ["The song belongs to blues", "a blues song", "blues music"]
    assert ex["rock.00003"].split == "test" and ex["classical.00001"].split == "train"


def test_gtzan_seeded_fallback_split_warns(tmp_path):
    d = make_gtzan(tmp_path, genres=("jazz", "metal"), per_genre=10, with_splits=False)
    with pytest.warns(DatasetWarning, match="fault-filtered split files .* not found"):
        first = read_gtzan(d["data_dir"], seed=0)
    for genre in ("jazz", "metal"):
        counts = [sum(e.genre == genre and e.split == s for e in first.examples)
                  for s in ("train", "valid", "test")]
        assert counts == [5, 2, 3]
    with pytest.warns(DatasetWarning):
        again = read_gtzan(d["data_dir"], seed=0)
        other = read_gtzan(d["data_dir"], seed=1)
    assignment = lambda r: {e.meta["track_id"]: e.split for e in r.examples}  # noqa: E731
    assert assignment(first) == assignment(again)
    assert assignment(first) != assignment(other)


def test_gtzan_layouts_au_files_and_unknown_folders(tmp_path):
    orig = make_gtzan(tmp_path / "kaggle", layout="genres_original")
    assert read_gtzan(orig["data_dir"]).counts() == {"train": 8, "valid": 4, "test": 4}
    flat = make_gtzan(tmp_path / "flat", layout="", ext=".au", extra_folders=("polka",))
    with pytest.warns(DatasetWarning, match="polka"):
        report = read_gtzan(flat["data_dir"])
    assert report.counts() == {"train": 8, "valid": 4, "test": 4}
    assert all(e.path.suffix == ".au" and e.genre != "polka" for e in report.examples)


def test_gtzan_split_dir_and_errors(tmp_path):
    d = make_gtzan(tmp_path / "g")
    splits = tmp_path / "splits"
    splits.mkdir()
    for name in ("train", "valid", "test"):
        (d["data_dir"] / f"{name}_filtered.txt").rename(splits / f"{name}_filtered.txt")
    assert read_gtzan(d["data_dir"], split_dir=splits).counts() == {"train": 8, "valid": 4, "test": 4}
    with pytest.raises(DatasetError, match="train_filtered.txt"):
        read_gtzan(d["data_dir"], split_dir=tmp_path / "g")  # explicit folder without the lists
    (splits / "valid_filtered.txt").rename(d["data_dir"] / "valid_filtered.txt")
    with pytest.raises(DatasetError, match="not found"):  # only one of the three lists by default
        read_gtzan(d["data_dir"])
    with pytest.raises(DatasetError, match="folder not found"):
        read_gtzan(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no GTZAN genre folders"):
        read_gtzan(splits)


# ----------------------------------------------------------------------------- generic and dispatch


def test_read_generic_wraps_read_folder(tmp_path):
    write_audio(tmp_path / "a.wav", seed=1)
    write_audio(tmp_path / "b.wav", seed=2)
    (tmp_path / "captions.csv").write_text(
        "path,text,genre,split\na.wav,a calm piano piece,classical,training\n"
        "b.wav,loud drums,rock,test\ngone.wav,vanished,rock,train\n")
    report = read_generic(tmp_path)
    assert [(e.path.name, e.texts, e.genre, e.split) for e in report.examples] == [
        ("a.wav", ["a calm piano piece"], "classical", "train"), ("b.wav", ["loud drums"], "rock", "test")]
    assert all(isinstance(e, Example) for e in report.examples)
    assert report.missing == [tmp_path / "gone.wav"]
    with pytest.raises(DatasetError):
        read_generic(tmp_path / "nope")


def test_load_dataset_dispatch_and_errors(tmp_path):
    assert set(READERS) == {"fma_small", "mtt", "gtzan", "folder"}
    d = make_gtzan(tmp_path, genres=("pop",), per_genre=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = load_dataset("gtzan", d["data_dir"], seed=3)
    assert report.counts() == {"train": 2, "valid": 1, "test": 1}
    assert report.missing == [d["audio_root"] / "rock" / "rock.00042.wav"]
    with pytest.raises(DatasetError) as err:
        load_dataset("audioset", tmp_path)
    assert all(name in str(err.value) for name in READERS)
    assert isinstance(err.value, MuserError)
    with pytest.raises(DatasetError, match="subset"):
        load_dataset("gtzan", d["data_dir"], subset="small")
