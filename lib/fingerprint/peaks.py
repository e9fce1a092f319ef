"""Spectrogram → spectral peaks (the constellation).

A peak is a local maximum of the log spectrogram. Peaks are ranked by prominence over
the local spectral envelope (not by raw level), so an equaliser or a band-pass changes
which peaks exist far less than it changes their loudness; and a fixed number of the
most prominent peaks is kept per second, so density does not depend on loudness or
genre. The reference side keeps few peaks (a small index), the query side many (it has
to find the reference's peaks among noise).

Prominence is measured on the spectrogram with a virtual noise floor added (steady
noise `noise_floor_db` under the median frame power). Without it a faint peak in a
quiet band ranked as high as a loud one, and noise drowns exactly those: a reference
kept peaks that a noisy query could not show. With it both sides prefer peaks that
stand above moderate noise; on a noisy query the real noise adds to the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.filters import box_mean_at, maximum_2d, median


@dataclass(frozen=True)
class Peaks:
    """Peaks sorted by time: frame index, fractional log-frequency bin, prominence (dB)."""

    t: np.ndarray  # int32
    f: np.ndarray  # float32
    strength: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.t)

    def window(self, start: int, stop: int, clock: int) -> Peaks:
        """The peaks in frames [start, stop), on a clock starting at `clock`."""
        lo, hi = np.searchsorted(self.t, [start, stop])
        return Peaks((self.t[lo:hi] - clock).astype(np.int32), self.f[lo:hi], self.strength[lo:hi])

    @staticmethod
    def joined(parts: list[Peaks]) -> Peaks:
        """Consecutive parts (each later than the one before) as one."""
        return Peaks(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("t", "f", "strength")))


def _refine_frequency(spec: np.ndarray, t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Sub-bin position by a parabola through the peak and its two neighbours."""
    inner = np.clip(f, 1, spec.shape[1] - 2)
    left, mid, right = spec[t, inner - 1], spec[t, inner], spec[t, inner + 1]
    denom = left - 2.0 * mid + right
    safe = np.where(np.abs(denom) > 1e-6, denom, -1.0)
    delta = np.where(np.abs(denom) > 1e-6, 0.5 * (left - right) / safe, 0.0)
    return (inner + np.clip(delta, -0.5, 0.5)).astype(np.float32)


@dataclass(frozen=True)
class Levels:
    """The loudness that peak picking is relative to: the loudest frame (dB), for the
    silence gate, and the median frame power, for the noise floor. Taken from the
    spectrogram at hand unless given: a long query is picked span by span (stream.py)."""

    loudest_db: float
    median_power: float


def _power(spec: np.ndarray) -> np.ndarray:
    return np.exp(spec * np.float32(np.log(10.0) / 10.0))  # 10 ** (spec / 10), 4x faster


def levels(spec: np.ndarray, power: np.ndarray | None = None) -> Levels:
    power = _power(spec) if power is None else power
    return Levels(float(spec.max(initial=-100.0)), median(power.mean(axis=1)))


def _with_noise_floor(power: np.ndarray, median_power: float, below_db: float) -> np.ndarray:
    """The spectrogram (as `power`) plus steady noise `below_db` under the median frame
    power, in dB. The floor follows the audio's own level, so a gain change does not
    move the ranking."""
    floor = np.float32(median_power * 10.0 ** (-below_db / 10.0))
    return np.float32(10.0) * np.log10(power + floor)


def find_peaks(
    spec: np.ndarray, per_second: float, config: EngineConfig = DEFAULT, level: Levels | None = None
) -> Peaks:
    """Return the `per_second` most prominent local maxima of each second of `spec`
    (seconds counted from its first frame)."""
    power = _power(spec)
    level = level or levels(spec, power)
    size = (2 * config.peak_time_radius + 1, 2 * config.peak_freq_radius + 1)
    is_max = spec == maximum_2d(spec, size)
    frame_level = spec.max(axis=1)
    audible = frame_level > max(level.loudest_db + config.silence_db, config.silence_floor_db)
    is_max &= audible[:, None]
    # at the edges the neighbourhood is cut off, so maxima there are not maxima of the music
    is_max[: config.peak_time_radius] = False
    is_max[len(spec) - config.peak_time_radius :] = False
    t, f = np.nonzero(is_max)
    floored = _with_noise_floor(power, level.median_power, config.noise_floor_db)
    prominence = (floored[t, f] - box_mean_at(floored, t, f, config.envelope_bins)).astype(np.float32)

    block = max(1, round(1.0 / config.frame_seconds))
    keep_per_block = max(1, round(per_second * block * config.frame_seconds))
    order = np.lexsort((-prominence, t // block))
    block_of = (t // block)[order]
    first_in_block = np.searchsorted(block_of, block_of, side="left")
    rank = np.arange(len(order)) - first_in_block
    kept = np.sort(order[rank < keep_per_block])  # back to (t, f) order

    t, f = t[kept].astype(np.int32), f[kept]
    return Peaks(t, _refine_frequency(spec, t, f), prominence[kept].astype(np.float32))
