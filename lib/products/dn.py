"""`dn` — distribution: is any catalog recording in this media?

Reports every catalog track heard, with full metadata (ISRC first of all), so a
distributor can see that a delivery duplicates a recording already sent to the stores.
"""

from __future__ import annotations

from gen.models import Result
from lib.analysis import Analysis
from lib.products.rules import qualifying, songs_result, strongest_per_track


def process_dn(analysis: Analysis) -> Result:
    return songs_result(strongest_per_track(qualifying(analysis, "dn")), analysis)
