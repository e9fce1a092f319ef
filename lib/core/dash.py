"""DASH (`.mpd`), on demand and live, made into a list of segments that hls.py joins
(each fetched under the address rules, as every HLS segment is).

One representation is taken: of an audio adaptation set if there is one, the lowest
bandwidth. Its segments come from a `SegmentTemplate` (a `SegmentTimeline`, or a fixed
`duration` with `$Number$`), a `SegmentList`, or a single `BaseURL` file. A live
manifest (`type="dynamic"`) is heard at its newest segments covering `live_seconds`:
the timeline's last entries, or, for a numbered template, the numbers the clock has
reached since `availabilityStartTime`.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import urljoin

from lib.core.hls import Segment
from lib.errors import UnsupportedMedia

TYPES = {"application/dash+xml"}
_NS = re.compile(r"^\{[^}]*\}")


def is_manifest(content_type: str, url: str) -> bool:
    return content_type in TYPES or url.split("?")[0].lower().endswith(".mpd")


def _local(element: ET.Element) -> str:
    return _NS.sub("", element.tag)


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c) == name), None)


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c) == name]


def _inherited(representation: ET.Element, adaptation: ET.Element, name: str) -> ET.Element | None:
    """The representation's own element, else its adaptation set's (an element without
    children is falsy in ElementTree: `or` would skip an empty template)."""
    own = _child(representation, name)
    return own if own is not None else _child(adaptation, name)


def _base(element: ET.Element, base: str) -> str:
    given = _child(element, "BaseURL")
    return urljoin(base, given.text.strip()) if given is not None and given.text else base


def _duration(text: str | None) -> float:
    """An ISO 8601 duration (PT1H2M3.5S) in seconds."""
    found = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", (text or "").strip())
    if not found:
        return 0.0
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def _filled(template: str, representation: ET.Element, number: int | None = None, time: int | None = None) -> str:
    values = {"RepresentationID": representation.get("id", ""), "Bandwidth": representation.get("bandwidth", "")}
    if number is not None:
        values["Number"] = str(number)
    if time is not None:
        values["Time"] = str(time)

    def one(match: re.Match[str]) -> str:
        name, width = match.group(1), match.group(2)
        value = values.get(name, match.group(0))
        return value.zfill(int(width[2:-1])) if width and value.isdigit() else value

    return re.sub(r"\$(RepresentationID|Bandwidth|Number|Time)(%0\d+d)?\$", one, template)


def segments(manifest: str, url: str, live_seconds: float, now: datetime | None = None) -> tuple[list[Segment], bool]:
    """The segments to fetch, and whether the manifest is live."""
    try:
        root = ET.fromstring(manifest)
    except ET.ParseError:
        raise UnsupportedMedia("unsupported_media", "not a DASH manifest (not XML)") from None
    live = root.get("type") == "dynamic"
    period = _child(root, "Period")
    if _local(root) != "MPD" or period is None:
        raise UnsupportedMedia("unsupported_media", "not a DASH manifest (no MPD or Period)")
    base = _base(period, _base(root, url))
    sets = _children(period, "AdaptationSet")
    audio = [s for s in sets if s.get("contentType") == "audio" or s.get("mimeType", "").startswith("audio")]
    if not sets:
        raise UnsupportedMedia("unsupported_media", "the DASH manifest has no adaptation set")
    chosen_set = (audio or sets)[0]
    representations = _children(chosen_set, "Representation")
    if not representations:
        raise UnsupportedMedia("unsupported_media", "the DASH manifest has no representation")
    representation = min(representations, key=lambda r: int(r.get("bandwidth", "0") or 0))
    base = _base(representation, _base(chosen_set, base))
    template = _inherited(representation, chosen_set, "SegmentTemplate")
    listed = _inherited(representation, chosen_set, "SegmentList")
    if template is not None:
        found = _from_template(template, representation, base, root, live, live_seconds, now or datetime.now(UTC))
    elif listed is not None:
        init = _child(listed, "Initialization")
        init_url = urljoin(base, init.get("sourceURL", "")) if init is not None else None
        urls = [urljoin(base, s.get("media", "")) for s in _children(listed, "SegmentURL")]
        found = [Segment(u, 0.0, n, None, init_url) for n, u in enumerate(urls)]
    else:
        found = [Segment(base, 0.0, 0, None, None)]  # one file
    return found, live


def _from_template(
    template: ET.Element, representation: ET.Element, base: str, root: ET.Element, live: bool, live_seconds: float,
    now: datetime,
) -> list[Segment]:  # fmt: skip
    scale = int(template.get("timescale", "1") or 1)
    start = int(template.get("startNumber", "1") or 1)
    media = template.get("media", "")
    init = template.get("initialization")
    init_url = urljoin(base, _filled(init, representation)) if init else None
    timeline = _child(template, "SegmentTimeline")
    entries: list[tuple[int, int]] = []  # (time, duration) in timescale units
    if timeline is not None:
        time = 0
        for s in _children(timeline, "S"):
            time = int(s.get("t", time))
            length = int(s.get("d", "0"))
            for _ in range(int(s.get("r", "0")) + 1):
                entries.append((time, length))
                time += length
    else:
        length = int(template.get("duration", "0") or 0)
        if length <= 0:
            raise UnsupportedMedia("unsupported_media", "the DASH template has neither a timeline nor a duration")
        if live:
            elapsed = (now - datetime.fromisoformat(root.get("availabilityStartTime", now.isoformat()))).total_seconds()
            count = max(1, math.floor(elapsed * scale / length))
        else:
            total = _duration(root.get("mediaPresentationDuration"))
            count = max(1, math.ceil(total * scale / length))
        entries = [(n * length, length) for n in range(count)]
    numbered = [(start + n, time, length) for n, (time, length) in enumerate(entries)]
    if live:  # the newest, enough for the window
        keep, covered = 0, 0.0
        while keep < len(numbered) and covered < live_seconds:
            keep += 1
            covered += numbered[-keep][2] / scale
        numbered = numbered[-keep:]
    return [
        Segment(urljoin(base, _filled(media, representation, number, time)), length / scale, number, None, init_url)
        for number, time, length in numbered
    ]
