"""Stream monitoring: streams watched without end, a signed webhook each time a catalog
song starts to play, and when the source drops and comes back.

    claimed under a lease (lib/store/streams.py) ─▶ one thread per stream:
      listen.chunks (decoded once, as it arrives) ─▶ monitor.heard (window matches)
        ─▶ monitor.Plays (once per play) ─▶ a "song" event ─▶ its webhook (worker.py)
      the source fails or ends ─▶ "stream_error" once, reconnect with backoff,
        "stream_recovered" at its first audio again

`Watching` runs in every worker process (the server's, `python -m lib worker`'s): it
claims streams up to `stream_capacity`, renews their leases every third of a lease, and
stops a stream's thread when the stream is deleted or another worker took it over (this
one stopped renewing in time). A worker that dies stops renewing: another claims its
streams once their leases run out.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import av
import numpy as np
from loguru import logger

from lib.analysis import Analysis, searched
from lib.core import listen
from lib.core.service import Bill, Service
from lib.errors import ClearedError
from lib.fingerprint import audio, monitor
from lib.fingerprint.match import Match
from lib.products.rules import song
from lib.store.streams import Stream

_BILL_EVERY = 10.0  # seconds of audio between two records of what was listened to
_BACKOFF_MAX = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


class Watcher:
    """One stream, listened to until `stop` is set."""

    def __init__(self, service: Service, stream: Stream, worker: str) -> None:
        self.service, self.stream, self.worker = service, stream, worker
        self.stop = threading.Event()
        self.failing = False
        self.heard_seconds = 0.0  # of audio decoded since the current connection began

    def run(self) -> None:
        """Listen until stopped; a bug ends the thread, logged (the stream's lease runs out
        and it is claimed afresh)."""
        try:
            self._run()
        except Exception:
            logger.bind(stream_id=self.stream.stream_id).exception("stream watcher failed")

    def _run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self._listen()
                error = "the stream ended"
            except (ClearedError, audio.DecodeError, av.FFmpegError, OSError) as failure:
                error = failure.message if isinstance(failure, ClearedError) else f"{type(failure).__name__}"
            if self.stop.is_set():
                return
            if not self.failing:
                self.failing = True
                self._event({"event": "stream_error", "error": error})
                self.service.streams.listened(self.worker, self.stream.stream_id, 0, "reconnecting", error)
            self.stop.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _listen(self) -> None:
        config = self.service.recognizer.config
        owners = searched(self.stream.owner, self.stream.include_own)
        chunks = listen.chunks(self.stream.url, self.service.limits, config, self.stop)
        plays = monitor.Plays()
        for match in monitor.heard(self._counted(chunks), lambda: self.service.recognizer.searched(owners)[0], config):
            if plays.starts(match):
                self._song(match, owners)

    def _counted(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The chunks, their seconds recorded and billed every `_BILL_EVERY` s; the first
        one after a failure says the source is back."""
        rate = self.service.recognizer.config.sample_rate
        self.heard_seconds, unbilled = 0.0, 0.0
        for chunk in chunks:
            if self.failing:
                self.failing = False
                self._event({"event": "stream_recovered"})
                self.service.streams.listened(self.worker, self.stream.stream_id, 0, "watching", None)
            seconds = len(chunk) / rate
            self.heard_seconds += seconds
            unbilled += seconds
            if unbilled >= _BILL_EVERY:
                self._bill(unbilled)
                unbilled = 0.0
            yield chunk
        self._bill(unbilled)

    def _bill(self, seconds: float) -> None:
        self.service.streams.listened(self.worker, self.stream.stream_id, seconds)
        bill = self.stream.bill
        self.service.bill(Bill(**bill) if bill else None, seconds)

    def _song(self, match: Match, owners: tuple[str, ...]) -> None:
        recognizer = self.service.recognizer
        identified = recognizer.with_tracks([match], recognizer.searched(owners)[1])
        if not identified:  # removed meanwhile
            return
        found = identified[0]
        heard = song(found, Analysis([found], max(match.query_end, 1e-3)))
        started = _now() - timedelta(seconds=self.heard_seconds - match.query_start)
        event = {
            "event": "song",
            "track": heard.model_dump(mode="json"),
            "started_at": started.isoformat(timespec="seconds"),
            "offset": match.ref_start,
        }
        self._event(event)
        last = {k: event[k] for k in ("track", "started_at", "offset")}
        self.service.streams.listened(self.worker, self.stream.stream_id, 0, last_song=last)

    def _event(self, body: dict[str, Any]) -> None:
        body = {**body, "streamId": self.stream.stream_id, "name": self.stream.name, "at": _now().isoformat()}
        self.service.streams.event(self.stream, body)
        logger.bind(stream_id=self.stream.stream_id, event=body["event"]).info("stream event")


class Watching:
    """The streams this process watches (see the module docstring)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.watchers: dict[str, tuple[Watcher, threading.Thread]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cleared-streams", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for watcher, _ in self.watchers.values():
            watcher.stop.set()
        for stream_id, (_, thread) in list(self.watchers.items()):
            thread.join(timeout)
            self.service.streams.release(self.worker, stream_id)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        lease = self.service.settings.stream_lease_seconds
        while not self._stop.is_set():
            try:
                self.step(lease)
            except Exception:  # a store error must not end the watching; leases bring streams back
                logger.exception("stream watching failed")
            self._stop.wait(lease / 3)

    def step(self, lease: float) -> None:
        """Renew what is held, let go of what was deleted or taken over, claim what is free."""
        store = self.service.streams
        held = store.renew(self.worker, list(self.watchers), lease)
        for stream_id in [s for s in self.watchers if s not in held or not self.watchers[s][1].is_alive()]:
            watcher, _ = self.watchers.pop(stream_id)
            watcher.stop.set()
        room = self.service.settings.stream_capacity - len(self.watchers)
        for stream in store.claim(self.worker, lease, room):
            watcher = Watcher(self.service, stream, self.worker)
            thread = threading.Thread(target=watcher.run, name=f"cleared-stream-{stream.stream_id[:8]}", daemon=True)
            self.watchers[stream.stream_id] = (watcher, thread)
            thread.start()
