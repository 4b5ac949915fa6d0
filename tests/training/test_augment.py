"""The paper's augmentations: gain, coloured noise at a chosen SNR, low-pass."""
import math

import torch

from muser_train.training.augment import AugmentConfig, augment, coloured_noise, lowpass

SR = 16_000


def _tone(freqs, seconds=1.0):
    t = torch.arange(int(SR * seconds)) / SR
    return sum(torch.sin(2 * math.pi * f * t) for f in freqs)[None, :]  # (1, N)


def _band_energy(x, lo, hi):
    spec = torch.fft.rfft(x).abs().square()
    freqs = torch.fft.rfftfreq(x.shape[1], 1 / SR)
    return float(spec[:, (freqs >= lo) & (freqs < hi)].sum())


def test_lowpass_keeps_the_bass_and_removes_the_treble():
    x = _tone([200.0, 4000.0])
    y = lowpass(x, torch.tensor([600.0]), SR)
    assert _band_energy(y, 150, 250) > 0.9 * _band_energy(x, 150, 250)
    assert _band_energy(y, 3900, 4100) < 1e-4 * _band_energy(x, 3900, 4100)


def test_noise_lands_at_the_requested_snr():
    x = _tone([440.0]).repeat(4, 1)
    cfg = AugmentConfig(gain_db=0, noise_prob=1.0, noise_snr_db=(10.0, 10.0))
    y = augment(x, cfg, SR, torch.Generator().manual_seed(0))
    snr = 10 * torch.log10(x.square().mean(1) / (y - x).square().mean(1))
    assert torch.allclose(snr, torch.full((4,), 10.0), atol=0.05)


def test_brown_noise_is_darker_than_white():
    g = torch.Generator().manual_seed(1)
    noise = coloured_noise((2, SR), torch.tensor([0.0, 2.0]), g)
    white, brown = noise[:1], noise[1:]
    ratio = lambda n: _band_energy(n, 20, 500) / _band_energy(n, 4000, 8000)  # noqa: E731
    assert ratio(brown) > 100 * ratio(white)


def test_gain_stays_in_range_and_is_reproducible():
    x = _tone([440.0]).repeat(64, 1)
    cfg = AugmentConfig(gain_db=5.0)
    y1 = augment(x, cfg, SR, torch.Generator().manual_seed(3))
    y2 = augment(x, cfg, SR, torch.Generator().manual_seed(3))
    assert torch.equal(y1, y2)
    db = 20 * torch.log10(y1.abs().amax(1) / x.abs().amax(1))
    assert db.abs().max() <= 5.0 + 1e-4 and db.std() > 1.0


def test_probability_zero_leaves_clips_untouched():
    x = _tone([440.0]).repeat(3, 1)
    cfg = AugmentConfig(gain_db=0, noise_prob=0.0, lowpass_prob=0.0)
    assert augment(x, cfg, SR, torch.Generator()) is x
