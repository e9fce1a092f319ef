"""Where uploaded music is kept until it is indexed or checked: one object per music id.

`CLEARED_STORAGE` picks the backend: a local folder (the default, `data/uploads`) for one
machine, or a Cloud Storage bucket (`gs://bucket/prefix`) that stateless instances and
separate workers share. Either way a file arrives in a local scratch folder under a
temporary name and is kept under its music id only once it is whole and decodable, so a
crash never leaves a music id pointing at half a file; a task reads a local copy.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lib.errors import Unavailable

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

_MUSIC_ID = re.compile(r"^[0-9a-f]{32}$")
INCOMING = ".incoming-"  # the prefix of every file in the scratch folder that is not kept music
# A file arriving is written and then kept or deleted within a request or a task's first
# steps (downloads are bounded by minutes); one untouched for this long was left by a
# process that was killed, and nothing will ever claim it.
LEFTOVER_SECONDS = 6 * 3600.0


def _checked(music_id: str) -> str:
    if not _MUSIC_ID.match(music_id):  # never a path or object name from a client
        raise ValueError(f"not a music id: {music_id!r}")
    return music_id


class Uploads:
    """The local folder backend; its folder is also the scratch space for incoming files."""

    def __init__(self, scratch: str | Path) -> None:
        self.scratch = Path(scratch)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.swept = self._sweep(time.time() - LEFTOVER_SECONDS)

    def _sweep(self, before: float) -> int:
        """Delete incoming files last written before `before`: a killed process's leftovers."""
        swept = 0
        for path in self.scratch.glob(f"{INCOMING}*"):
            try:
                if path.stat().st_mtime < before:
                    path.unlink()
                    swept += 1
            except FileNotFoundError:  # another process swept it first
                continue
        return swept

    def incoming(self) -> Path:
        """A new empty file in the scratch folder for an upload or download to fill."""
        with tempfile.NamedTemporaryFile(prefix=INCOMING, dir=self.scratch, delete=False) as f:
            return Path(f.name)

    def keep(self, incoming: Path, music_id: str) -> None:
        incoming.replace(self.scratch / _checked(music_id))

    @contextmanager
    def local_copy(self, music_id: str) -> Iterator[Path | None]:
        """The music's file on local disk for as long as the block runs; None when it is gone."""
        path = self.scratch / _checked(music_id)
        yield path if path.exists() else None


class BucketUploads(Uploads):
    """Music kept as objects `<prefix>/<music id>` in a Cloud Storage bucket.

    The client finds its credentials the usual Google way (the instance's service account,
    or `GOOGLE_APPLICATION_CREDENTIALS`); `STORAGE_EMULATOR_HOST` points it at an emulator.
    """

    def __init__(self, url: str, scratch: str | Path, timeout: float) -> None:
        super().__init__(scratch)
        # imported here: the folder default should not pay for loading the Google client
        from google.cloud import storage

        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.bucket: Bucket = storage.Client().bucket(bucket)
        self.prefix = prefix.strip("/")
        self.retry = DEFAULT_RETRY.with_timeout(timeout)  # a retried upload stops after `timeout` s

    def _object(self, music_id: str) -> str:
        return f"{self.prefix}/{_checked(music_id)}" if self.prefix else _checked(music_id)

    def keep(self, incoming: Path, music_id: str) -> None:
        # music ids are new uuids, so a retried upload can only write the same object again
        with _unavailable_as_503():
            self.bucket.blob(self._object(music_id)).upload_from_filename(incoming, retry=self.retry)
        incoming.unlink()

    @contextmanager
    def local_copy(self, music_id: str) -> Iterator[Path | None]:
        from google.api_core.exceptions import NotFound

        path = self.incoming()
        try:
            try:
                with _unavailable_as_503():
                    self.bucket.blob(self._object(music_id)).download_to_filename(path, retry=self.retry)
            except NotFound:
                yield None
            else:
                yield path
        finally:
            path.unlink(missing_ok=True)


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    """Cloud Storage errors other than a missing object become the API's 503, not a stack trace."""
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from requests import RequestException

    try:
        yield
    except NotFound:
        raise
    except (GoogleAPIError, RequestException) as error:
        raise Unavailable("storage_unavailable", f"Cloud Storage failed: {type(error).__name__}") from error


def uploads_for(storage: str, timeout: float) -> Uploads:
    """The backend `CLEARED_STORAGE` names: `gs://bucket[/prefix]`, or else a local folder.

    A bucket's scratch folder is the system's temporary folder, the one writable place on
    Cloud Run and Cloud Functions.
    """
    if storage.startswith("gs://"):
        return BucketUploads(storage, Path(tempfile.gettempdir()) / "cleared-incoming", timeout)
    return Uploads(storage)
