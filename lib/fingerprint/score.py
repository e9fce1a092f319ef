"""Aligned evidence → a 0-100 confidence.

The evidence is the number of distinct query anchor frames whose landmarks agree on
one (track, warp, offset). Chance also produces such agreements, and the strongest
chance agreement grows with the number of hypotheses searched, like the maximum of
that many independent counts: by about one anchor per factor e of warps. On the public
corpus (docs/engine.md) the strongest out-of-catalog alignment was 10 anchors when only
the identity warp was searched and 12 over the 45-warp grid (716 clips, noise-floor
peak ranking); true 10 s matches align 30-100. The threshold (score 50) sits one anchor
above the identity maximum,

    threshold(n_warps) = 11 + ln(n_warps)        (11 for 1 warp, 14.8 for 45)

and above it every `SCALE` further anchors halve the remaining distance to 100. The
score ranks matches and reads like a confidence; it is a calibrated threshold, not a
probability, and the calibration must be re-measured for catalogs orders of magnitude
larger (more tracks, more chance).
"""

from __future__ import annotations

import math

BASE_ANCHORS = 11.0  # threshold when a single warp is searched
SCALE = 8.0


def threshold(n_warps: int) -> float:
    return BASE_ANCHORS + math.log(max(n_warps, 1))


def confidence(aligned: int, n_warps: int = 1) -> float:
    if aligned <= 0:
        return 0.0
    bar = threshold(n_warps)
    if aligned < bar:
        return round(50.0 * aligned / bar, 1)
    return round(100.0 - 50.0 * 2.0 ** (-(aligned - bar) / SCALE), 1)
