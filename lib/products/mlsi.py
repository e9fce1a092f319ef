"""`mlsi` — major-label sample identification: where inside the media is major-label music?

Like `ml`, but every occurrence is its own entry with its own timecode, down to short
partial matches (2 s, THRESHOLDS["mlsi"]) anywhere in longer media: a sample looped
under a beat shows up once per place it is heard, not once per song.
"""

from __future__ import annotations

from gen.models import Result
from lib.analysis import Analysis
from lib.products.ml import is_major
from lib.products.rules import qualifying, songs_result


def process_mlsi(analysis: Analysis) -> Result:
    return songs_result(qualifying(analysis, "mlsi", keep=is_major), analysis)  # in media order
