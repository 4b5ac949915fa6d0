"""`muser eval` on tiny fixtures in the real dataset layouts."""
import json

import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from tests.dataset_fixtures import make_gtzan, make_mtt

runner = CliRunner()


def _eval(*args):
    return runner.invoke(app, ["eval", *[str(a) for a in args]])


def test_gtzan_accuracy_and_confusion(tmp_path, tiny_checkpoint):
    make_gtzan(tmp_path)
    res = _eval("--data", "gtzan", "--data-dir", tmp_path, "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    n = report["evaluated"]
    assert n > 0 and report["split"] == "test"
    assert sum(map(sum, report["confusion"])) == n
    correct = sum(report["confusion"][i][i] for i in range(len(report["genres"])))
    assert report["accuracy"] == round(correct / n, 4)
    assert report["paper"]["accuracy"] == 0.825


def test_mtt_roc_and_pr(tmp_path, tiny_checkpoint):
    make_mtt(tmp_path)
    res = _eval("--data", "mtt", "--data-dir", tmp_path, "--split", "train", "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["evaluated"] > 0
    assert 0.0 <= report["zero_shot_fused_roc_auc"] <= 1.0 and 0.0 <= report["zero_shot_fused_pr_auc"] <= 1.0


def test_wrong_data_dir_is_a_clear_error(tmp_path, tiny_checkpoint):
    res = _eval("--data", "gtzan", "--data-dir", tmp_path / "nope", "-c", tiny_checkpoint)
    assert res.exit_code == 2 and "nope" in res.stderr and "Traceback" not in res.stderr


def test_human_output(tmp_path, tiny_checkpoint):
    make_gtzan(tmp_path)
    res = _eval("--data", "gtzan", "--data-dir", tmp_path, "-c", tiny_checkpoint)
    assert res.exit_code == 0 and "accuracy" in res.stdout and "confusion" in res.stdout


@pytest.mark.slow
def test_linear_probe_on_the_train_split(tmp_path, tiny_checkpoint):
    make_gtzan(tmp_path / "g")
    res = _eval("--data", "gtzan", "--data-dir", tmp_path / "g", "--probe", "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    probe = json.loads(res.stdout)["probe"]
    assert probe["train_clips"] == 8 and 0.0 <= probe["accuracy"] <= 1.0
    make_mtt(tmp_path / "m")
    res = _eval("--data", "mtt", "--data-dir", tmp_path / "m", "--probe", "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    probe = json.loads(res.stdout)["probe"]
    assert probe["train_clips"] > 0 and 0.0 <= probe["pr_auc"] <= 1.0 and "accuracy" not in probe
