"""Where tracks, fingerprints, tasks and keys live: an SQLite file (the embedded
default) or PostgreSQL (`CLEARED_DATABASE_URL`), behind lib/store/db.py."""

from lib.store.catalog import Catalog, LayoutMismatch
from lib.store.db import Database, StoreUnavailable, connect
from lib.store.models import Track

__all__ = ["Catalog", "Database", "LayoutMismatch", "StoreUnavailable", "Track", "connect"]
