"""The pieces the products share: major-label resolution and timecodes."""

from __future__ import annotations

import pytest

from gen.models import ApiType
from lib.products import API_TYPES
from lib.products.labels import major_group
from lib.products.routes import ROUTES
from lib.products.rules import THRESHOLDS, timecode


@pytest.mark.parametrize(
    ("label", "group"),
    [
        ("Def Jam Recordings", "Universal Music Group"),
        ("Interscope/Geffen/A&M", "Universal Music Group"),
        ("  ISLAND RECORDS UK ", "Universal Music Group"),
        ("Columbia Records, a division of Sony Music Entertainment", "Sony Music Entertainment"),
        ("RCA", "Sony Music Entertainment"),
        ("Atlantic Recording Corporation", "Warner Music Group"),
        ("Parlophone Records Ltd.", "Warner Music Group"),
        ("Ninja Tune", None),
        ("Warp Records", None),  # "Warp" is not "Warner"
        ("Epicurean Sounds", None),  # whole words only: not Epic
        ("", None),
    ],
)
def test_major_group(label: str, group: str | None) -> None:
    assert major_group(label) == group


@pytest.mark.parametrize(("seconds", "code"), [(0, "00:00"), (59.9, "00:59"), (61, "01:01"), (3723.4, "1:02:03")])
def test_timecode(seconds: float, code: str) -> None:
    assert timecode(seconds) == code


def test_every_product_has_thresholds() -> None:
    assert set(THRESHOLDS) == set(API_TYPES)


def test_api_types_are_the_contracts() -> None:
    """The products' names are exactly the api_types openapi.yaml lists."""
    assert [t.value for t in ApiType] == API_TYPES
    assert list(ROUTES) == API_TYPES  # the route table dispatches every name, in order
