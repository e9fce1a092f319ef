"""Aligned evidence → a 0-100 confidence.

The evidence is the number of distinct query anchor frames whose landmarks agree on
one (track, warp, offset). On the public corpus (docs/engine.md) out-of-catalog
queries never aligned more than 13 anchors, while true 10 s matches align 30-100.
The map puts the default threshold, 50, at 14 anchors and saturates smoothly above:
every `SCALE` further anchors halve the remaining distance to 100. It ranks matches
and reads like a confidence; it is a calibrated threshold, not a probability.
"""

from __future__ import annotations

THRESHOLD_ANCHORS = 14  # score 50: one above the strongest chance alignment measured
SCALE = 8.0


def confidence(aligned: int) -> float:
    if aligned <= 0:
        return 0.0
    if aligned < THRESHOLD_ANCHORS:
        return round(50.0 * aligned / THRESHOLD_ANCHORS, 1)
    return round(100.0 - 50.0 * 2.0 ** (-(aligned - THRESHOLD_ANCHORS) / SCALE), 1)
