"""Which major group, if any, owns a record label: UMG, Sony or Warner.

Label names arrive as free text from tags and CSVs ("Def Jam Recordings", "Columbia
Records UK", "Interscope/Geffen/A&M", "Atlantic Recording Corporation"), so both the
label and the table's names are normalised to word sequences, and a label belongs to a
group when one of the group's names appears in it as whole words. This errs towards
flagging: an independent label whose name contains a major imprint's ("Capitol Hill
Records") is reported as major. A licensing check would rather ask than miss; an
exact-match table of label IDs is the upgrade when a catalog carries them.

The table lists each group's own names and its best-known imprints (2026).
"""

from __future__ import annotations

import re
from functools import lru_cache

MAJOR_GROUPS: dict[str, tuple[str, ...]] = {
    "Universal Music Group": (
        "Universal Music", "UMG", "Island", "Def Jam", "Interscope", "Geffen", "A&M", "Capitol",
        "Motown", "Republic", "Virgin", "EMI", "Decca", "Deutsche Grammophon", "Polydor", "Mercury",
        "Verve", "Blue Note", "Caroline", "Astralwerks", "Casablanca", "Harvest", "Fiction",
        "Universal Republic", "Cash Money", "Aftermath", "Shady", "Priority", "Glassnote",
    ),
    "Sony Music Entertainment": (
        "Sony Music", "Sony BMG", "Columbia", "RCA", "Epic", "Arista", "Legacy Recordings", "Syco",
        "Ministry of Sound", "Masterworks", "Sony Classical", "Century Media", "Kemosabe", "Provident",
        "Jive", "LaFace", "Zomba", "Ultra Music", "The Orchard", "AWAL",
    ),
    "Warner Music Group": (
        "Warner", "WMG", "Atlantic", "Elektra", "Parlophone", "Reprise", "Asylum", "Nonesuch", "Rhino",
        "Sire", "Fueled by Ramen", "Roadrunner", "300 Entertainment", "Big Beat", "Erato", "Chrysalis",
        "East West", "Spinnin", "Canvasback",
    ),
}  # fmt: skip


def _words(name: str) -> str:
    """Lower case, '&' kept (A&M), everything else that is not a letter or digit a space."""
    return " " + " ".join(re.findall(r"[0-9a-z&]+", name.casefold())) + " "


@lru_cache(maxsize=4096)
def major_group(label: str) -> str | None:
    """The major group owning `label`, or None for an independent (or empty) label.

    >>> major_group("Def Jam Recordings")
    'Universal Music Group'
    >>> major_group("Ninja Tune") is None
    True
    """
    text = _words(label)
    if not text.strip():
        return None
    for group, names in MAJOR_GROUPS.items():
        if any(_words(name) in text for name in names):
            return group
    return None
