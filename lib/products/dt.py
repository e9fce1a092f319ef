"""`dt` — duplicate track: is this media the same recording as a catalog track?

A duplicate is a catalog track matched over most of the media (THRESHOLDS["dt"]:
coverage, and a stricter score), not just heard somewhere in it: a remix quoting a
chorus is not a duplicate, a re-encode or a re-upload at another speed is. Every
match is reported; `is_duplicate` says which ones qualify, and the result names the
strongest of those as `matched_track`.
"""

from __future__ import annotations

from gen.models import Result
from lib.analysis import Analysis
from lib.products.rules import qualifying, result, song, strongest_per_track


def process_dt(analysis: Analysis) -> Result:
    duplicates = {f.track.track_id for f in qualifying(analysis, "dt")}
    found = strongest_per_track(qualifying(analysis, "dn"))
    songs = [song(f, analysis, is_duplicate=f.track.track_id in duplicates) for f in found]
    return result(analysis, songs, is_duplicate=bool(duplicates))
