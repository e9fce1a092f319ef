"""What the engine heard in one media, in the catalog's terms: the vocabulary the
products judge (lib/products) and the use cases pass around (lib/core)."""

from __future__ import annotations

from dataclasses import dataclass

from lib.fingerprint.match import Match
from lib.store.models import Track


@dataclass(frozen=True)
class Identified:
    match: Match
    track: Track


@dataclass(frozen=True)
class Analysis:
    """The catalog segments heard in one media, in media order."""

    found: list[Identified]
    seconds: float  # of media analysed
