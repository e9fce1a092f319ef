"""Aligned evidence → a 0-100 confidence.

The evidence is the number of distinct query anchor frames whose landmarks agree on
one (track, warp, offset). Chance also produces such agreements, and how strong the
strongest chance agreement gets depends on three things, each measured on the
out-of-catalog queries and the wrong-track candidates of the dev corpus (15 h, 2,048
queries of 2-10 s, two seeds; docs/engine.md):

- the query's length, in landmarks: more probes meet more chance hits. The strongest
  chance alignment grew with the square root of the landmark count (identity warp:
  6, 7, 10 and 14 anchors at 2, 3, 5 and 10 s, about 700 to 3,700 landmarks), so a
  fixed count was at once too strict for a 2 s clip (half of them lost) and too lax
  for a 10 s one (four false claims);
- the warp hypotheses searched: like the maximum of that many counts, by about three
  quarters of an anchor per factor e of warps here (hypotheses on one grid are
  correlated, so less than one);
- independent searches of one long query (windows): a full anchor per factor e.

    threshold = 4 + 6 sqrt(landmarks / 1000) + 0.75 ln(warps) + ln(searches)

is score 50 (15.5 anchors for a 10 s clip of 3,700 landmarks at the identity warp, 18.4
over the 45-warp grid; 9.0 and 11.9 for a 2 s clip of 700). With 3 in place of 4 the
strongest unknown query of the dev set came within 0.1 anchor of it; 4 leaves a full
anchor on both seeds of the dev set (1.1 and 1.6) for about 1 % of the right answers.
Above it every `SCALE` anchors halve the remaining distance to 100. It is a calibrated
threshold, not a probability: the chance level also grows with the catalog, so
re-measure it when the catalog grows by orders of magnitude (bench/scale.py).
"""

from __future__ import annotations

import math

BASE_ANCHORS = 4.0
PER_ROOT_THOUSAND_LANDMARKS = 6.0
PER_LOG_WARPS = 0.75
SCALE = 8.0


def threshold(n_warps: int, n_landmarks: int, searches: int = 1) -> float:
    return (
        BASE_ANCHORS
        + PER_ROOT_THOUSAND_LANDMARKS * math.sqrt(max(n_landmarks, 0) / 1000)
        + PER_LOG_WARPS * math.log(max(n_warps, 1))
        + math.log(max(searches, 1))
    )


def confidence(aligned: int, n_warps: int, n_landmarks: int, searches: int = 1) -> float:
    if aligned <= 0:
        return 0.0
    bar = threshold(n_warps, n_landmarks, searches)
    if aligned < bar:
        return round(50.0 * aligned / bar, 1)
    return round(100.0 - 50.0 * 2.0 ** (-(aligned - bar) / SCALE), 1)
