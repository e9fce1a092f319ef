"""How the catalog reaches a cloud instance: fetched from Cloud Storage when it starts.

Cloud Run and Cloud Functions start from an image or a source upload with no catalog in
it (the catalog holds licensed metadata and grows apart from the code). With
`CLEARED_CATALOG_URL=gs://bucket/cleared.db`, an instance whose `CLEARED_DB` does not
exist downloads it there first; one already there (a mounted volume, a previous start of
the same instance) is used as it is. The download lands under a temporary name and is
renamed when whole, so a crash mid-download never leaves half a database to open; a lock
makes the server's other processes wait for it rather than fetch it again and replace
the file one of them has already opened.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from loguru import logger


def fetch_catalog(url: str, db: Path) -> bool:
    """Download `url` (gs://bucket/object) to `db` unless `db` exists; True if it downloaded."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.parent / f".{db.name}.fetch-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if db.exists():
            return False
        _download(url, db)
    logger.bind(bytes=db.stat().st_size).info("catalog fetched from Cloud Storage")
    return True


def _download(url: str, db: Path) -> None:
    from google.cloud import storage  # imported here: a local catalog does not pay for it

    bucket, _, name = url.removeprefix("gs://").partition("/")
    handle, partial = tempfile.mkstemp(prefix=f".{db.name}.", dir=db.parent)
    os.close(handle)
    try:
        storage.Client().bucket(bucket).blob(name).download_to_filename(partial)
        os.replace(partial, db)
    finally:
        Path(partial).unlink(missing_ok=True)
