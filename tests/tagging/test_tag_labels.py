"""`muser tag --labels` (each label's similarity; the softmax over two or more) and the timeline's
window ends (clipped to the file's duration)."""
import json

import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.core.errors import LabelsError
from muser_model.numpy_engine.audio import NumpyMuser
from muser_model.tagging import label_list, tag_files, tag_files_numpy

runner = CliRunner()


def test_label_list_strips_drops_empties_and_collapses_repeats():
    assert label_list(" calm, piano ,,calm, Piano") == ["calm", "piano", "Piano"]
    assert label_list("") == []


@pytest.mark.parametrize("text", [",,", " , ", ","])
def test_a_label_list_of_only_commas_is_an_error(text):
    with pytest.raises(LabelsError, match="names no label"):
        label_list(text)


def test_one_label_reports_its_similarity_not_a_softmax(tiny_checkpoint, clips):
    (res,) = tag_files_numpy(NumpyMuser.load(tiny_checkpoint), clips[:1], labels=["metal"])
    assert [(s.label, s.kind, s.method) for s in res.labels] == [("metal", "score", "zero-shot")]
    # no heads and no reference set to calibrate on: the score is the label's cosine itself
    assert [(s.label, s.kind) for s in res.label_similarities] == [("metal", "cosine")]
    assert res.labels[0].score == pytest.approx(res.label_similarities[0].score, abs=1e-4)


def test_two_labels_report_similarities_and_a_softmax(tiny_checkpoint, clips):
    (res,) = tag_files_numpy(NumpyMuser.load(tiny_checkpoint), clips[:1], labels=["metal", "calm"])
    assert [s.kind for s in res.label_similarities] == ["cosine"] * 2
    assert [s.kind for s in res.labels] == ["probability"] * 2
    assert sum(s.score for s in res.labels) == pytest.approx(1.0, abs=2e-4)
    # the softmax is monotonic in the cosine: both lists rank the labels alike
    assert [s.label for s in res.labels] == [s.label for s in res.label_similarities]


def test_cli_one_label_prints_no_certain_softmax(tiny_checkpoint, clips):
    res = runner.invoke(app, ["tag", str(clips[0]), "-c", str(tiny_checkpoint), "--engine", "numpy",
                              "--labels", "metal,metal"])
    assert res.exit_code == 0, res.stderr
    (line,) = [l for l in res.stdout.splitlines() if l.strip().startswith("labels")]
    assert line.count("metal") == 1 and "metal 1.00" not in line


def test_cli_labels_of_only_commas_fail_with_a_message(tiny_checkpoint, clips):
    res = runner.invoke(app, ["tag", str(clips[0]), "-c", str(tiny_checkpoint), "--labels", ",,"])
    assert res.exit_code != 0 and "names no label" in res.stderr and res.stdout == ""


def test_timeline_last_window_ends_at_the_duration(tiny_checkpoint, tiny_model, clips):
    """c.flac is 7 s; tiny windows are 2 s at a 2 s hop: the last one is 6.0-7.0, not 6.0-8.0."""
    for results in (tag_files_numpy(NumpyMuser.load(tiny_checkpoint), clips[2:], timeline=True),
                    tag_files(tiny_model, clips[2:], timeline=True)):
        (res,) = results
        spans = [(w.start_s, w.end_s) for w in res.timeline]
        assert spans == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 7.0)]
        assert json.loads(json.dumps(res.to_json()))["timeline"][-1]["end_s"] == 7.0


def test_each_label_says_how_it_was_scored(msd_checkpoint, clips):
    labels = ["acoustic", "space battle", "rainy night"]  # read whole, read in part, not read
    (res,) = tag_files_numpy(NumpyMuser.load(msd_checkpoint), clips[:1], labels=labels)
    assert {s.label: s.method for s in res.labels} == {"acoustic": "head", "space battle": "blend",
                                                       "rainy night": "zero-shot"}
    assert res.label_readings["acoustic"].startswith("acoustic -> heads 0.90: acoustic (msd:acoustic)")
    assert res.label_readings["rainy night"] == "rainy night -> text 1.00"


def test_cli_explain_prints_each_reading_on_stderr(msd_checkpoint, clips):
    res = runner.invoke(app, ["tag", str(clips[0]), "-c", str(msd_checkpoint), "--engine", "numpy",
                              "--labels", "acoustic,rainy night", "--explain"])
    assert res.exit_code == 0, res.stderr
    assert "rainy night -> text 1.00" in res.stderr and "rainy night -> text" not in res.stdout
    assert "(zero-shot)" in res.stdout and "(head)" in res.stdout
