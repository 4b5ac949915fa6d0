"""`muser eval` on tiny fixtures in the real dataset layouts."""
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from tests.helpers.dataset_fixtures import make_gtzan, make_mtt

runner = CliRunner()
MODEL_CARD = Path(__file__).resolve().parents[2] / "docs" / "MODEL_CARD.md"


def _paper_in_model_card() -> dict:
    """The paper's numbers as the model card quotes them, as fractions like the report's."""
    text = MODEL_CARD.read_text(encoding="utf-8")
    found = re.search(r"paper reports\s+([\d.]+)\s*/\s*([\d.]+)\s+on\s+real\s+MTT\s+labels\s+and\s+"
                      r"([\d.]+)\s*%\s+on\s+GTZAN", text)
    assert found, f"{MODEL_CARD}: no sentence 'The paper reports R / P on real MTT labels and A % on GTZAN'"
    roc, pr, acc = (round(float(v) / 100, 4) for v in found.groups())
    return {"mtt": {"roc_auc": roc, "pr_auc": pr}, "gtzan": {"accuracy": acc}}


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
    assert report["paper"]["accuracy"] == _paper_in_model_card()["gtzan"]["accuracy"]


def test_mtt_roc_and_pr(tmp_path, tiny_checkpoint):
    make_mtt(tmp_path)
    res = _eval("--data", "mtt", "--data-dir", tmp_path, "--split", "train", "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["evaluated"] > 0
    assert 0.0 <= report["zero_shot_fused_roc_auc"] <= 1.0 and 0.0 <= report["zero_shot_fused_pr_auc"] <= 1.0
    paper = _paper_in_model_card()["mtt"]
    assert {k: report["paper"][k] for k in paper} == paper


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
