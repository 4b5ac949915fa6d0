import csv
import json

import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.checkpoint import load_checkpoint
from tests.conftest import write_clip
from train.data import read_folder
from train.pretrain import TrainConfig, parse_args, train

GENRES = {"blues": 110.0, "jazz": 330.0, "rock": 990.0}


def _corpus(root, per_genre=4):
    rows = []
    for genre, freq in GENRES.items():
        for i in range(per_genre):
            rel = f"audio/{genre}/{genre}_{i}.wav"
            write_clip(root / rel, freq * (1 + 0.05 * i), 4.0, seed=i)
            rows.append({"path": rel, "text": f"The song belongs to {genre}",
                         "texts": f"a {genre} groove | {genre} music", "genre": genre,
                         "tags": "slow;no vocals" if genre == "blues" else "fast",
                         "split": "test" if i == per_genre - 1 else "train"})
    with open(root / "captions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_sidecar_reading(tmp_path):
    clips = read_folder(_corpus(tmp_path))
    assert len(clips) == 12
    assert clips[0].texts == ["The song belongs to blues", "a blues groove", "blues music"]
    assert clips[0].tags == ["slow", "no vocals"] and clips[3].split == "test"


def test_sidecar_with_wrong_header(tmp_path):
    (tmp_path / "captions.csv").write_text("file,caption\na.wav,hello\n")
    with pytest.raises(ValueError, match="missing column"):
        read_folder(tmp_path)


def test_captions_from_file_tags(tmp_path):
    import mutagen

    path = write_clip(tmp_path / "x.ogg", 220.0, 2.0)
    f = mutagen.File(path, easy=True)
    f["title"], f["artist"], f["genre"] = "Night Walk", "Ann", "Jazz"
    f.save()
    write_clip(tmp_path / "untagged.ogg", 220.0, 2.0)
    (clip,) = read_folder(tmp_path)
    assert clip.texts == ["The song titled Night Walk, belongs to Jazz, written by Ann"]
    assert clip.genre == "jazz"


def test_one_epoch_then_muser_tag_loads_it(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    (corpus / "audio" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with open(corpus / "captions.csv", "a") as f:
        f.write("audio/broken.wav,broken clip,,blues,,train\n")
    out = tmp_path / "trained.muser"
    cfg = TrainConfig(data_dir=str(corpus), out=str(out), model="tiny", epochs=1, batch_size=4,
                      clip_s=4.0, corpus_name="generated tones")
    logs = []
    train(cfg, log=logs.append)
    assert any("broken.wav" in line for line in logs)  # skipped, named, not fatal
    ckpt = load_checkpoint(out)
    assert ckpt.training["clips_train"] == 9 and ckpt.training["clips_heldout"] == 3
    assert ckpt.training["corpus"] == "generated tones"
    assert {"genres.weight", "tags.weight"} <= set(ckpt.heads)
    assert ckpt.training["metrics"]["heldout_genre"]["clips"] == 3
    tags = ckpt.training["metrics"]["heldout_tags"]
    assert tags["clips"] == 3 and 0.0 <= tags["head_roc_auc"] <= 1.0
    res = CliRunner().invoke(app, ["tag", str(corpus / "audio" / "jazz"), "--json", "-c", str(out)])
    assert res.exit_code == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 4 and rows[0]["genre"]["method"] == "head"
    assert rows[0]["zero_shot_genres"][0]["method"] == "zero-shot" and len(rows[0]["zero_shot_tags"]) == 5


def test_parse_args_defaults():
    cfg = parse_args(["--data-dir", "d", "--out", "o", "--epochs", "3", "--no-heads"])
    assert (cfg.epochs, cfg.heads, cfg.model) == (3, False, "default")
