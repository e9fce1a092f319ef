"""What every request shares: the engine over the catalog, the limits, the uploads and
task queue, and the step from a client's media (a URL or an uploaded file) to the
segments heard in it.

One `Service` lives per process, on the Flask app (`app.extensions["cleared"]`); the
endpoints reach it through `current()`, the way Flask code reaches `current_app`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
from flask import current_app

from lib.engine import Analysis, Engine
from lib.errors import ApiError
from lib.fingerprint import audio
from lib.ingest import sha1_of
from lib.media import Limits
from lib.settings import Settings
from lib.store import Catalog, connect, schema
from lib.store.keys import Clock, KeyStore, utc_now
from lib.store.tasks import Music, TaskStore
from lib.uploads import uploads_for

_MIN_SECONDS = 1.0  # shorter media carry too few landmarks to match or rule out anything


class Service:
    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.database = connect(settings.store, settings.database_pool_size, migrate=settings.database_migrate)
        if not settings.database_migrate and schema.pending(self.database):
            raise RuntimeError("the store's schema is behind this version: run `python -m lib migrate`")
        self.catalog = Catalog(self.database)
        self.engine = Engine(self.catalog, lookups=settings.index)
        self.limits = Limits.from_settings(settings)
        self.tasks = TaskStore(self.database, max_runs=settings.task_max_runs)
        self.uploads = uploads_for(settings.storage, settings.storage_timeout)
        self.keys = KeyStore(self.database, clock)

    @cached_property
    def webhook_secret(self) -> bytes:
        """The configured secret, or the one generated for this store on first use."""
        if self.settings.webhook_secret is not None:
            return self.settings.webhook_secret.get_secret_value().encode()
        return self.database.setting("webhook_secret", lambda: secrets.token_hex(32)).encode()

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store (catalog, tasks and keys) answers."""
        self.database.ping()

    def close(self) -> None:
        self.database.close()

    def runs_longer(self, path: Path) -> bool:
        """Is the media too long to answer while the client waits (`sync_media_seconds`)?"""
        try:
            return audio.longer_than(path, self.settings.sync_media_seconds, self.engine.config)
        except audio.DecodeError:
            raise ApiError(415, "unsupported_media", "not an audio or video file that can be decoded") from None

    def keep_music(self, incoming: Path, filename: str, source_url: str | None) -> Music:
        """Keep a whole, decodable file (moved from `incoming`) under a new music id."""
        try:
            next(audio.stream(incoming, self.engine.config))
        except (audio.DecodeError, StopIteration):
            raise ApiError(415, "unsupported_media", "not an audio or video file that can be decoded") from None
        size, sha1 = incoming.stat().st_size, sha1_of(incoming)
        music_id = uuid.uuid4().hex
        self.uploads.keep(incoming, music_id)
        return self.tasks.add_music(music_id, filename, size, sha1, source_url)

    def analyse_file(
        self, path: Path, max_seconds: float | None = None, tap: Callable[[np.ndarray], None] | None = None
    ) -> Analysis:
        """Scan the file as it decodes (memory stays bounded for media of any length), up to
        `max_seconds` (default: `max_media_seconds`); `tap` sees the decoded samples too."""
        try:
            analysis = self.engine.scan_file(path, max_seconds or self.settings.max_media_seconds, tap)
        except audio.DecodeError:
            raise ApiError(415, "unsupported_media", "not an audio or video file that can be decoded") from None
        if analysis.seconds == 0:
            raise ApiError(415, "unsupported_media", "the file holds no audio samples")
        if analysis.seconds < _MIN_SECONDS:
            raise ApiError(
                422, "audio_too_short", f"{analysis.seconds:.2f} s of audio; send at least {_MIN_SECONDS:g} s"
            )
        return analysis


def current() -> Service:
    service: Service = current_app.extensions["cleared"]
    return service
