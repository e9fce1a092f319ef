"""`ml` — major label: does the media contain a recording owned by UMG, Sony or Warner?

Reports the catalog tracks heard in the media whose label belongs to a major group
(resolved by lib/products/labels.py, sub-labels included), each with `major_label` set.
"""

from __future__ import annotations

from gen.models import Result
from lib.analysis import Analysis
from lib.products.labels import major_group
from lib.products.rules import qualifying, songs_result, strongest_per_track
from lib.store import Track


def is_major(track: Track) -> bool:
    return major_group(track.label) is not None


def process_ml(analysis: Analysis) -> Result:
    return songs_result(strongest_per_track(qualifying(analysis, "ml", keep=is_major)), analysis)
