"""What every request shares: the engine over the catalog, the limits, the uploads and
task queue, and the step from a client's media (a URL or an uploaded file) to the
segments heard in it.

One `Service` lives per process: the web app holds one (lib/web/context.py), and so
does each command of the command line and each worker process.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from lib.analysis import Analysis
from lib.core.ingest import sha1_of
from lib.core.media import Limits
from lib.core.recognizer import Recognizer, with_gaps
from lib.core.uploads import Uploads, uploads_for
from lib.errors import InvalidInput, UnsupportedMedia
from lib.fingerprint import audio
from lib.fingerprint.spectrogram import fast_fft
from lib.settings import Settings
from lib.store.catalog import REFERENCE
from lib.store.keys import Clock, KeyStore, utc_now
from lib.store.settings import StoreSettings
from lib.store.streams import StreamStore
from lib.store.tasks import Music, TaskStore
from lib.store.webhook_secrets import WebhookSecrets

_MIN_SECONDS = 1.0  # shorter media carry too few landmarks to match or rule out anything


@dataclass(frozen=True)
class Bill:
    """Whom a call's analysed media seconds are counted to (usage in minutes, quotas):
    the caller (a key id or a marketplace user), its owner, and the product it used."""

    caller: str
    owner: str
    product: str


@dataclass(frozen=True)
class Decoded:
    """A short media decoded whole, and what decoding it had to work around."""

    path: Path
    chunks: list[np.ndarray]
    report: audio.Report


class Service:
    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.recognizer = Recognizer.from_settings(StoreSettings.of(settings))
        self.catalog = self.recognizer.catalog
        self.database = self.catalog.database
        fast_fft()  # a service answers many queries: the faster FFT's import is paid once, here
        self.limits = Limits.from_settings(settings)
        self.tasks = TaskStore(self.database, max_runs=settings.task_max_runs)
        self.keys = KeyStore(self.database, clock)
        self.webhook_secrets = WebhookSecrets(self.database)
        self.streams = StreamStore(self.database)
        # The CPU-heavy step of a call (decode, fingerprint, match: ~20-30 ms of CPU under the
        # GIL) runs `cpu_slots` at a time in this process; the others wait for their turn.
        # Why: a server process has many threads so that slow uploads and downloads, which
        # only wait on sockets, do not hold up /healthz and fast calls (lib/web/slow_bodies.py);
        # left to time-slice, that many CPU-bound calls would each take as long as all of
        # them together (4 threads: p99 830 ms at 50 calls/s, bench/LOAD.md). Taken in turn,
        # each takes its own time plus the queue's.
        self.cpu_gate = threading.BoundedSemaphore(settings.cpu_slots)

    @cached_property
    def uploads(self) -> Uploads:
        """Opened on first use: commands that never touch uploads create no folder."""
        return uploads_for(self.settings.storage, self.settings.storage_timeout)

    @cached_property
    def webhook_secret(self) -> bytes:
        """The operator's secret: the configured one, or the one generated for this store on first use."""
        if self.settings.webhook_secret is not None:
            return self.settings.webhook_secret.get_secret_value().encode()
        return self.database.setting("webhook_secret", lambda: secrets.token_hex(32)).encode()

    def signing_secrets(self, owner: str) -> list[bytes]:
        """What `owner`'s webhooks are signed with: the operator's secret for the
        operator's own tasks and for open mode's one tenant, else the owner's own
        (lib/store/webhook_secrets.py)."""
        if owner == REFERENCE or self.settings.auth == "open":
            return [self.webhook_secret]
        return self.webhook_secrets.signing(owner)

    def bill(self, bill: Bill | None, seconds: float) -> None:
        """Count `seconds` of media analysed to `bill` (None: nobody is billed, open mode)."""
        if bill is not None and seconds > 0:
            self.keys.add_seconds(bill.caller, bill.owner, bill.product, seconds)

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store (catalog, tasks and keys) answers."""
        self.database.ping()

    def close(self) -> None:
        self.database.close()

    def sync_audio(self, path: Path, window: float | None = None) -> Decoded | None:
        """The decoded audio when it plays no longer than `sync_media_seconds`, else None;
        given a `window` (a live stream's), its first that many seconds.

        One decode both decides between answering now and queueing a task and feeds the
        scan: decoding the file once to measure it and again to scan it was two thirds of
        a 10 s MP3's CPU (bench/LOAD.md). No more than that many seconds are held, at the
        engine's 8 kHz (2 MB for 60 s); container durations are not trusted.
        """
        limit = int(self.settings.sync_media_seconds * self.recognizer.config.sample_rate)
        decoded = Decoded(path, [], audio.Report())
        held = 0
        window_samples = None if window is None else int(window * self.recognizer.config.sample_rate)
        try:
            for chunk in audio.Limited(audio.stream(path, self.recognizer.config, decoded.report), window_samples):
                held += len(chunk)
                if held > limit:
                    return None
                decoded.chunks.append(chunk)
        except audio.DecodeError:
            raise _undecodable() from None
        return decoded

    def keep_music(self, incoming: Path, filename: str, source_url: str | None, owner: str) -> Music:
        """Keep a whole, decodable file (moved from `incoming`) under a new music id, `owner`'s."""
        try:
            next(audio.stream(incoming, self.recognizer.config))
        except (audio.DecodeError, StopIteration):
            raise _undecodable() from None
        size, sha1 = incoming.stat().st_size, sha1_of(incoming)
        music_id = uuid.uuid4().hex
        self.uploads.keep(incoming, music_id)
        return self.tasks.add_music(music_id, filename, size, sha1, source_url, owner)

    def analyse_file(
        self, path: Path, owners: Sequence[str], max_seconds: float | None = None,
        tap: Callable[[np.ndarray], None] | None = None,
    ) -> Analysis:  # fmt: skip
        """Scan the file against these owners' collections as it decodes (memory stays
        bounded for media of any length), up to `max_seconds` (default:
        `max_media_seconds`); `tap` sees the decoded samples too."""
        limit = max_seconds or self.settings.max_media_seconds
        return _checked(lambda: self.recognizer.scan_file(path, limit, tap, owners))

    def analyse(self, decoded: Decoded, owners: Sequence[str]) -> Analysis:
        """Scan audio already decoded (`sync_audio`) against these owners' collections."""
        return _checked(
            lambda: with_gaps(self.recognizer.scan(decoded.chunks, owners), decoded.path, decoded.report, None)
        )


def _undecodable() -> UnsupportedMedia:
    return UnsupportedMedia("unsupported_media", "not an audio or video file that can be decoded")


def _checked(scan: Callable[[], Analysis]) -> Analysis:
    """The scan's analysis, or the API's error for media that cannot be decoded or is too short."""
    try:
        analysis = scan()
    except audio.DecodeError:
        raise _undecodable() from None
    if analysis.seconds == 0:
        raise UnsupportedMedia("unsupported_media", "the file holds no audio samples")
    if analysis.seconds < _MIN_SECONDS:
        raise InvalidInput("audio_too_short", f"{analysis.seconds:.2f} s of audio; send at least {_MIN_SECONDS:g} s")
    return analysis
