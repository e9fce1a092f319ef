"""Where tracks, fingerprints, tasks and keys live: an SQLite file (the embedded
default) or PostgreSQL (`CLEARED_DATABASE_URL`), behind one interface
(lib/store/database.py); `connect(location)` opens either."""

from lib.store.catalog import Catalog, LayoutMismatch
from lib.store.connection import connect, is_url
from lib.store.database import Database, StoreUnavailable
from lib.store.models import Track

__all__ = ["Catalog", "Database", "LayoutMismatch", "StoreUnavailable", "Track", "connect", "is_url"]
