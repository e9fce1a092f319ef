"""DASH manifests made into segment lists (lib/core/dash.py): templates, timelines, lists, live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lib.core.dash import segments
from lib.errors import UnsupportedMedia

BASE = "https://cdn.example/show/manifest.mpd"
START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def mpd(inner: str, kind: str = "static", extra: str = "") -> str:
    return (
        f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="{kind}" {extra}><Period>'
        f'<AdaptationSet mimeType="audio/mp4">{inner}</AdaptationSet></Period></MPD>'
    )


def test_a_numbered_template_pads_numbers_and_takes_the_lowest_bandwidth() -> None:
    manifest = mpd(
        '<SegmentTemplate initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%05d$.m4s"'
        ' startNumber="1" duration="4000" timescale="1000"/>'
        '<Representation id="hi" bandwidth="128000"/><Representation id="lo" bandwidth="48000"/>',
        extra='mediaPresentationDuration="PT10S"',
    )
    found, live = segments(manifest, BASE, 20)
    assert not live and [s.url for s in found] == [f"https://cdn.example/show/lo/0000{n}.m4s" for n in (1, 2, 3)]
    assert {s.init for s in found} == {"https://cdn.example/show/lo/init.mp4"} and found[0].seconds == 4.0


def test_a_live_numbered_template_is_heard_at_the_numbers_the_clock_reached() -> None:
    manifest = mpd(
        '<Representation id="a" bandwidth="64000"><SegmentTemplate media="a-$Number$.aac" startNumber="100"'
        ' duration="2"/></Representation>',
        kind="dynamic", extra=f'availabilityStartTime="{START.isoformat()}"',
    )  # fmt: skip
    found, live = segments(manifest, BASE, 6, now=START + timedelta(seconds=61))
    assert live and [s.url.rsplit("/", 1)[1] for s in found] == ["a-127.aac", "a-128.aac", "a-129.aac"]


def test_a_timeline_repeats_and_a_list_and_a_single_file() -> None:
    timeline = mpd(
        '<Representation id="a" bandwidth="1"><SegmentTemplate media="t$Time$.m4s" timescale="10">'
        '<SegmentTimeline><S t="50" d="20" r="2"/><S d="10"/></SegmentTimeline></SegmentTemplate></Representation>'
    )
    assert [s.url.rsplit("/", 1)[1] for s in segments(timeline, BASE, 5)[0]] == [
        "t50.m4s",
        "t70.m4s",
        "t90.m4s",
        "t110.m4s",
    ]
    listed = mpd(
        '<Representation id="a" bandwidth="1"><SegmentList><Initialization sourceURL="i.mp4"/>'
        '<SegmentURL media="one.m4s"/><SegmentURL media="two.m4s"/></SegmentList></Representation>'
    )
    assert [s.url[-7:] for s in segments(listed, BASE, 5)[0]] == ["one.m4s", "two.m4s"]
    single = mpd('<Representation id="a" bandwidth="1"><BaseURL>audio.m4a</BaseURL></Representation>')
    assert [s.url for s in segments(single, BASE, 5)[0]] == ["https://cdn.example/show/audio.m4a"]


@pytest.mark.parametrize(
    "manifest", ["not xml", "<MPD/>", mpd('<Representation id="a"><SegmentTemplate/></Representation>')]
)
def test_what_is_not_a_usable_manifest_is_refused(manifest: str) -> None:
    with pytest.raises(UnsupportedMedia):
        segments(manifest, BASE, 5)
