"""Where tracks and their fingerprints live (SQLite is the embedded default)."""

from lib.store.models import Track
from lib.store.sqlite import Catalog, LayoutMismatch

__all__ = ["Catalog", "LayoutMismatch", "Track"]
