"""FMA and MagnaTagATune as downloaded: the folder holding fma_small/ + fma_metadata/, and MTT
without the sota split files (the reader picks, and says what it picked)."""
import json

import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from muser_train.training.datasets import DatasetError, load_dataset, read_fma, read_mtt
from muser_train.training.trainer import TrainConfig, load_examples
from tests.helpers.dataset_fixtures import MTT_SOTA, make_fma, make_mtt

runner = CliRunner()
MUSICNN_COUNTS = {"train": 4, "valid": 2, "test": 3}  # MTT_CLIPS by folder 0-b / c / d-f, 15 dropped


def test_fma_folder_holding_fma_small_and_fma_metadata(tmp_path):
    make_fma(tmp_path, n=4)
    report = read_fma(tmp_path)
    assert len(report.examples) == 4 and not report.missing
    assert all(e.path.is_relative_to(tmp_path / "fma_small") for e in report.examples)
    assert report.notes == [f"FMA audio: {tmp_path / 'fma_small'}"]


def test_fma_the_audio_folder_itself_needs_no_note(tmp_path):
    d = make_fma(tmp_path, n=4)
    report = read_fma(d["data_dir"])
    assert len(report.examples) == 4 and report.notes == []


def test_fma_smallest_sibling_holding_the_subset_is_chosen(tmp_path):
    make_fma(tmp_path, n=4)
    make_fma(tmp_path, n=4, audio_folder="fma_medium")
    small = read_fma(tmp_path, subset="small")
    assert {e.path.parent.parent.name for e in small.examples} == {"fma_small"}
    assert small.notes == [f"FMA audio: {tmp_path / 'fma_small'} (of fma_small, fma_medium)"]
    medium = read_fma(tmp_path, subset="medium")
    assert {e.path.parent.parent.name for e in medium.examples} == {"fma_medium"}
    assert 1482 in {e.meta["track_id"] for e in medium.examples}


def test_fma_medium_alone_serves_the_small_subset(tmp_path):
    make_fma(tmp_path, n=4, audio_folder="fma_medium")
    report = load_dataset("fma_small", tmp_path)
    assert len(report.examples) == 4
    assert report.notes == [f"FMA audio: {tmp_path / 'fma_medium'}"]


def test_fma_sibling_too_small_for_the_subset_is_a_clear_error(tmp_path):
    make_fma(tmp_path, n=4)
    with pytest.raises(DatasetError) as err:
        read_fma(tmp_path, subset="medium")
    message = str(err.value)
    assert str(tmp_path) in message and "fma_medium/" in message and "found only fma_small/" in message


def test_fma_folder_without_audio_says_what_it_expected(tmp_path):
    d = make_fma(tmp_path, n=4)
    for path in d["paths"].values():
        path.unlink(missing_ok=True)
    with pytest.raises(DatasetError) as err:
        read_fma(d["data_dir"])
    assert "none of the 4 FMA tracks found" in str(err.value)
    assert "the folder holding fma_small/ and fma_metadata/" in str(err.value)


def test_mtt_official_download_defaults_to_the_directory_split(tmp_path):
    make_mtt(tmp_path, split_location=None)
    report = read_mtt(tmp_path)
    assert report.counts() == MUSICNN_COUNTS
    assert {e.meta["split_scheme"] for e in report.examples} == {"musicnn"}
    assert len(report.notes) == 1 and "musicnn directory split" in report.notes[0]
    assert str(tmp_path / "split" / "mtat") in report.notes[0]


def test_mtt_auto_takes_the_sota_files_where_present(tmp_path):
    make_mtt(tmp_path)
    report = read_mtt(tmp_path)
    assert report.counts() == {s: len(ids) for s, ids in MTT_SOTA.items()}
    assert report.notes == [f"MTT split: sota (split files in {tmp_path / 'split' / 'mtat'})"]


def test_mtt_explicit_choices_are_kept(tmp_path):
    make_mtt(tmp_path)
    assert read_mtt(tmp_path, split="musicnn").counts() == MUSICNN_COUNTS
    assert read_mtt(tmp_path, split="sota").notes == []
    bare = make_mtt(tmp_path / "bare", split_location=None)
    with pytest.raises(DatasetError, match="needs train.npy"):
        read_mtt(bare["data_dir"], split="sota")


def test_trainer_reads_the_official_mtt_download(tmp_path):
    make_mtt(tmp_path, split_location=None)
    report = load_examples(TrainConfig(data="mtt", data_dir=str(tmp_path)))
    assert report.counts() == MUSICNN_COUNTS


def test_muser_eval_on_the_official_mtt_download(tmp_path, tiny_checkpoint):
    make_mtt(tmp_path, split_location=None)
    res = runner.invoke(app, ["eval", "--data", "mtt", "--data-dir", str(tmp_path), "--json",
                              "-c", str(tiny_checkpoint)])
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["clips"] == MUSICNN_COUNTS["test"]
    assert "musicnn directory split" in report["notes"][0]


def test_muser_eval_on_the_fma_download_folder(tmp_path, tiny_checkpoint):
    make_fma(tmp_path, n=4)
    res = runner.invoke(app, ["eval", "--data", "fma_small", "--data-dir", str(tmp_path), "--json",
                              "-c", str(tiny_checkpoint)])
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["clips"] == 1 and report["notes"] == [f"FMA audio: {tmp_path / 'fma_small'}"]
