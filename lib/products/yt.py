"""`yt` — YouTube safety: would publishing this media on YouTube draw a Content ID claim?

Reports the catalog tracks heard in the media that are registered for Content ID
claiming. An empty list means no claim is expected from this catalog.
"""

from __future__ import annotations

from gen.models import Result
from lib.analysis import Analysis
from lib.products.rules import qualifying, songs_result, strongest_per_track


def process_yt(analysis: Analysis) -> Result:
    claimed = qualifying(analysis, "yt", keep=lambda track: track.content_id)
    return songs_result(strongest_per_track(claimed), analysis)
