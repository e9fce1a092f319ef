"""Aligned-landmark count → 0-100 confidence. Calibration: docs/engine.md."""

from __future__ import annotations

import math


def confidence(aligned: int) -> float:
    """Provisional: saturating map of the aligned count (to be calibrated on the benchmark)."""
    return round(100.0 * (1.0 - math.exp(-max(aligned - 4, 0) / 6.0)), 1)
