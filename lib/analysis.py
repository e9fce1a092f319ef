"""What the engine heard in one media, in the catalog's terms: the vocabulary the
products judge (lib/products) and the use cases pass around (lib/core)."""

from __future__ import annotations

from dataclasses import dataclass

from lib.fingerprint.match import Match
from lib.store.catalog import REFERENCE
from lib.store.models import Track

REFERENCE_COLLECTION = "reference"  # a match in the operator's reference catalog
OWN = "own"  # a match in the caller's own collection


def searched(owner: str, include_own: bool) -> tuple[str, ...]:
    """The collections (their owners) a query of `owner` matches: the reference catalog,
    and with `include_own` the caller's own (an operator's own is the reference)."""
    return (REFERENCE, owner) if include_own and owner != REFERENCE else (REFERENCE,)


@dataclass(frozen=True)
class Identified:
    match: Match
    track: Track
    collection: str = REFERENCE_COLLECTION


@dataclass(frozen=True)
class Cut:
    """Why less than the whole media was heard: a `code` for programs ("time_limit",
    "decode_error"), a message for people."""

    code: str
    message: str


@dataclass(frozen=True)
class Analysis:
    """The catalog segments heard in one media, in media order, and how much was heard."""

    found: list[Identified]
    seconds: float  # of media analysed (heard)
    cut: Cut | None = None  # None: the whole media was heard
    stated_seconds: float | None = None  # the duration the file states, when it was cut and states one

    @property
    def complete(self) -> bool:
        return self.cut is None

    @property
    def media_seconds(self) -> float | None:
        """The whole media's duration: what was heard when that was all of it, else what
        the file states (None when it does not)."""
        return self.seconds if self.cut is None else self.stated_seconds
