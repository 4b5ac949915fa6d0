"""The paper's waveform augmentations, batched on the training device.

Gain (±dB), coloured noise at a random SNR (white to brown: 1/f^beta spectrum, beta in [0, 2]) and
a low-pass filter with a random cut-off. Each is applied per clip with its own probability, drawn
from a `torch.Generator` so that a run (and a resumed run) is reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AugmentConfig:
    gain_db: float = 5.0  # uniform in ±gain_db; 0 disables
    noise_prob: float = 0.0  # chance of adding coloured noise to a clip
    noise_snr_db: tuple[float, float] = (5.0, 20.0)
    lowpass_prob: float = 0.0  # chance of low-pass filtering a clip
    lowpass_hz: tuple[float, float] = (400.0, 1000.0)

    @property
    def active(self) -> bool:
        return bool(self.gain_db) or self.noise_prob > 0 or self.lowpass_prob > 0


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * (high - low) + low).to(device)


def _chosen(n: int, prob: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) < prob).to(device)


def coloured_noise(shape: tuple[int, int], beta: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, N) unit-RMS noise whose power falls as 1/f^beta (0 white, 1 pink, 2 brown)."""
    white = torch.randn(shape, generator=gen)
    spectrum = torch.fft.rfft(white)  # (B, N//2+1)
    freqs = torch.arange(spectrum.shape[1], dtype=torch.float32).clamp(min=1.0)  # avoid DC blow-up
    spectrum = spectrum * freqs[None, :] ** (-beta[:, None] / 2)
    noise = torch.fft.irfft(spectrum, n=shape[1])
    return noise / noise.square().mean(1, keepdim=True).sqrt().clamp(min=1e-8)


def lowpass(wave: torch.Tensor, cutoff_hz: torch.Tensor, sample_rate: int, order: int = 4) -> torch.Tensor:
    """Zero-phase Butterworth-magnitude low-pass in the frequency domain. (B, N) -> (B, N)"""
    spectrum = torch.fft.rfft(wave)
    freqs = torch.fft.rfftfreq(wave.shape[1], d=1.0 / sample_rate).to(wave.device)  # (F,)
    gain = 1.0 / torch.sqrt(1.0 + (freqs[None, :] / cutoff_hz[:, None]) ** (2 * order))  # (B, F)
    return torch.fft.irfft(spectrum * gain, n=wave.shape[1])


def augment(wave: torch.Tensor, cfg: AugmentConfig, sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    """Apply the configured augmentations to a (B, N) batch; returns a new tensor."""
    if not cfg.active:
        return wave
    b, device = wave.shape[0], wave.device
    out = wave
    if cfg.lowpass_prob > 0:
        chosen = _chosen(b, cfg.lowpass_prob, gen, device)
        cutoff = _uniform(b, *cfg.lowpass_hz, gen, device)
        out = torch.where(chosen[:, None], lowpass(out, cutoff, sample_rate), out)
    if cfg.noise_prob > 0:
        chosen = _chosen(b, cfg.noise_prob, gen, device)
        snr_db = _uniform(b, *cfg.noise_snr_db, gen, device)
        beta = torch.rand(b, generator=gen) * 2.0
        noise = coloured_noise(tuple(out.shape), beta, gen).to(device)
        signal_rms = out.square().mean(1).sqrt()  # (B,)
        scale = signal_rms / 10 ** (snr_db / 20)
        out = out + noise * (scale * chosen)[:, None]
    if cfg.gain_db:
        db = _uniform(b, -cfg.gain_db, cfg.gain_db, gen, device)
        out = out * (10 ** (db / 20))[:, None]
    return out
