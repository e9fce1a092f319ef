"""The waveform the demo page draws: peak levels of the submitted audio, computed from the
same decoded samples the engine scans (a tap on the stream, no second decode).

Peaks are kept per 10 ms block as the audio streams by, so memory grows with the
media's length by 100 floats a second (1.4 M for the longest allowed 4 hours), and are
folded into the number of bars asked for at the end.
"""

from __future__ import annotations

import numpy as np

BLOCKS_PER_SECOND = 100


class Envelope:
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.block = sample_rate // BLOCKS_PER_SECOND
        self._carry = np.zeros(0, np.float32)  # samples short of a whole block
        self._peaks: list[np.ndarray] = []
        self.samples = 0

    def add(self, chunk: np.ndarray) -> None:
        """Take the next decoded chunk (mono float samples)."""
        self.samples += len(chunk)
        samples = np.concatenate([self._carry, np.abs(chunk)])
        whole = len(samples) // self.block * self.block
        if whole:
            self._peaks.append(samples[:whole].reshape(-1, self.block).max(axis=1))
        self._carry = samples[whole:]

    def peaks(self, bars: int) -> list[float]:
        """`bars` peak levels from 0 to 1 across the whole media (fewer for very short media),
        scaled to its loudest bar so quiet recordings still draw a visible shape."""
        blocks = np.concatenate([*self._peaks, [self._carry.max()] if len(self._carry) else []])
        if len(blocks) == 0:
            return []
        edges = np.linspace(0, len(blocks), min(bars, len(blocks)) + 1).astype(int)
        levels = np.maximum.reduceat(blocks, edges[:-1])
        top = float(levels.max()) or 1.0
        return [round(float(level) / top, 3) for level in levels]

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate
