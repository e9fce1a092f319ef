"""`neyt` — non-exclusive YouTube: does the media use music that others may also claim?

Reports the catalog tracks heard in the media whose rights are non-exclusive: they are
licensed to several parties, any of whom may claim a video using them, so a licence
from one of them does not guarantee a claim-free upload.
"""

from __future__ import annotations

from gen.models import Result
from lib.analysis import Analysis
from lib.products.rules import qualifying, songs_result, strongest_per_track


def process_neyt(analysis: Analysis) -> Result:
    shared = qualifying(analysis, "neyt", keep=lambda track: not track.exclusive)
    return songs_result(strongest_per_track(shared), analysis)
