"""`muser info`: a readable summary and a --json record, read without importing torch, with the
build machine's absolute paths cut to their last part."""
import io
import json
import pickle
import subprocess
import sys
from pathlib import PurePosixPath

import pytest
from typer.testing import CliRunner

from muser_cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def built_elsewhere(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint with a training record written on another machine."""
    from muser_model.core.checkpoint import load_checkpoint
    from muser_model.torch_engine.checkpoint_export import save_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt.training = {"corpus": "tiny test corpus", "init": "/home/builder/runs/init.muser",
                     "clips_train": 120, "hours_train": 0.5, "epochs_done": 2, "device": "cuda",
                     "date": "2026-11-28", "distilled": {"teacher": "/home/builder/teacher.muser", "what": "x"},
                     "metrics": {"heldout": {"corpus": "/home/builder/corpus", "genre": {"head_fused": 0.5,
                                                                                       "per_genre": {"rock": "3/4"}},
                                             "source:games": {"genre": {"head_fused": 0.75}}}}}
    path = tmp_path_factory.mktemp("elsewhere") / "elsewhere.muser"
    save_checkpoint(ckpt, path)
    return path


def test_human_summary_is_plain_lines(built_elsewhere):
    res = runner.invoke(app, ["info", "-c", str(built_elsewhere)])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert "{" not in res.stdout and "'" not in res.stdout  # no Python dicts or reprs
    width = len(lines[0]) - len(str(built_elsewhere))  # labels padded to one width
    assert lines[0] == f"{'checkpoint':<{width}}{built_elsewhere}"
    facts = {line[:width].strip(): line[width:] for line in lines if not line.startswith(" ")}
    assert facts["trained on"] == "tiny test corpus" and facts["fine-tuned from"] == "init.muser"
    assert facts["vocabulary"].startswith("50 tags; 10 genres: ")
    assert facts["training data"] == "120 clips, 0.50 h"
    assert "  heldout.genre: head_fused 0.5" in lines and "/home/builder" not in res.stdout


def test_json_is_the_full_record_with_build_paths_cut(built_elsewhere, tiny_model):
    res = runner.invoke(app, ["info", "--json", "-c", str(built_elsewhere)])
    (report,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert report["training"]["init"] == "init.muser"
    assert report["training"]["distilled"]["teacher"] == "teacher.muser"
    assert report["metrics"]["heldout"]["corpus"] == "corpus"
    assert report["metrics"]["heldout"]["source:games"]["genre"]["head_fused"] == 0.75
    assert report["vocabulary"]["tags"] == tiny_model.checkpoint.tags
    assert report["heads"] == sorted({key.split(".")[0] for key in tiny_model.checkpoint.heads})
    counts = tiny_model.model.parameter_counts()  # the torch model's own count
    assert report["parameters"]["waveform"] == counts["waveform"]
    assert report["parameters"]["spectrogram"] == counts["spectrogram"]
    assert report["parameters"]["text"] == counts["text_trainable"]


def test_info_never_imports_torch(tiny_checkpoint):
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom muser_cli.main import app\n"
            f"res = CliRunner().invoke(app, ['info', '-c', {str(tiny_checkpoint)!r}])\n"
            "assert res.exit_code == 0, res.output\nprint('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_corrupt_checkpoint_is_one_error_line(tiny_checkpoint, tmp_path):
    broken = tmp_path / "broken.muser"
    broken.write_bytes(tiny_checkpoint.read_bytes()[:-100])
    res = runner.invoke(app, ["info", "-c", str(broken)])
    assert res.exit_code == 3 and res.stderr.startswith(f"error: {broken}: checkpoint is truncated or corrupt")


def test_the_record_reader_refuses_foreign_classes():
    from muser_model.describe import _RecordUnpickler

    with pytest.raises(pickle.UnpicklingError, match="pathlib"):
        _RecordUnpickler(io.BytesIO(pickle.dumps({"x": PurePosixPath("/etc")}))).load()


def _facts(stdout: str) -> dict[str, str]:
    lines = stdout.splitlines()
    width = len(lines[0]) - len(lines[0].split()[-1])  # labels padded to one width
    return {line[:width].strip(): line[width:] for line in lines if not line.startswith(" ")}


def test_vocabularies_are_listed_with_origin_and_tags_per_group(msd_checkpoint):
    from muser_model.core.vocab_groups import VOCABULARIES, group_counts

    res = runner.invoke(app, ["info", "-c", str(msd_checkpoint)])
    assert res.exit_code == 0, res.stderr
    facts = _facts(res.stdout)
    msd = VOCABULARIES["msd"]
    per_group = ", ".join(f"{g} {n}" for g, n in group_counts(msd).items())
    assert facts["msd tags"] == f"50 ({per_group}; head) from {msd.origin}"
    assert facts["mtt tags"].startswith("50 (") and facts["mtt tags"].endswith(VOCABULARIES["mtt"].origin)
    res = runner.invoke(app, ["info", "--json", "-c", str(msd_checkpoint)])
    (report,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert report["vocabularies"]["msd"] == {"kind": "msd", "origin": msd.origin, "tags": 50,
                                             "groups": group_counts(msd), "method": "head"}
    assert report["vocabularies"]["mtt"]["kind"] == "tags" and report["vocabularies"]["mtt"]["method"] == "zero-shot"


def test_checkpoint_without_table_lists_the_mtt_vocabulary_only(tiny_checkpoint):
    res = runner.invoke(app, ["info", "-c", str(tiny_checkpoint)])
    facts = _facts(res.stdout)
    assert "mtt tags" in facts and "msd tags" not in facts


def test_the_calibration_reference_is_named_where_there_is_one(tiny_checkpoint, tmp_path):
    import numpy as np

    from muser_model.core.reference import write_reference
    from muser_model.describe import describe_checkpoint, summary_lines

    assert describe_checkpoint(tiny_checkpoint)["calibration"] is None
    assert any("no reference set" in line for line in summary_lines(describe_checkpoint(tiny_checkpoint)))
    copy = tmp_path / "with-ref.muser"
    copy.write_bytes(tiny_checkpoint.read_bytes())
    report = describe_checkpoint(copy)
    write_reference(copy, report["content_hash"], np.eye(4, 8, dtype=np.float32), "four test clips")
    calibration = describe_checkpoint(copy)["calibration"]
    assert calibration == {"file": str(tmp_path / "with-ref.reference.npz"), "clips": 4, "source": "four test clips"}
