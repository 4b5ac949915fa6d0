import csv

import pytest

from tests.conftest import write_clip
from muser_train.training.datasets import DatasetError, read_folder

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
    with pytest.raises(DatasetError, match="missing column"):
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


def test_teacher_tags_join_the_clip_tags(tmp_path):
    write_clip(tmp_path / "a.wav", 220.0, 1.0)
    (tmp_path / "captions.csv").write_text("path,text,tags,teacher_tags\na.wav,hello,slow;piano,piano;classical\n")
    (clip,) = read_folder(tmp_path)
    assert clip.tags == ["slow", "piano", "classical"]


def test_read_folder_gives_the_shared_record_and_typed_errors(tmp_path):
    from muser_train.training.datasets import Example

    clips = read_folder(_corpus(tmp_path / "c", per_genre=1))
    assert all(type(c) is Example for c in clips)
    with pytest.raises(DatasetError, match="nope"):
        read_folder(tmp_path / "nope")
