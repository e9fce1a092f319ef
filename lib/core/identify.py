"""Identify: the client's media in, the product's answer out, now or through a task.

    the client's media (an upload or a URL) -> a local file            (`received`)
      -> decoded up to `sync_media_seconds`
         -> no longer than that: scanned, judged by the product       -> a `Result` now
         -> longer: the file kept, an `identify_media` task queued    -> a `Task` (202; its
            webhook or polling brings every segment and a summary, lib/core/tasks.py)

The API's views, the demo page and music uploads all get the client's media through
`received`, under the same download rules (lib/core/media.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gen.models import Result, SourceInfo
from lib.analysis import Analysis, Cut, searched
from lib.core import media, sources, tasks
from lib.core.service import Bill, Service
from lib.core.sources import Source
from lib.products.routes import route_req
from lib.store.catalog import REFERENCE
from lib.store.tasks import Task


@dataclass(frozen=True)
class Received:
    path: Path  # a scratch file, deleted when the `received` block ends unless kept
    filename: str  # for the records: the upload's name or the URL's last part
    source_url: str | None
    source: Source | None = None  # what the URL pointed at (lib/core/sources.py); None for an upload
    live_seconds: float | None = None  # of a live stream, the window to analyse


@contextmanager
def received(
    service: Service, url: str | None = None, save: Callable[[Path], None] | None = None, filename: str = "upload",
    live_seconds: float | None = None,
) -> Iterator[Received]:  # fmt: skip
    """The client's media in a local scratch file for as long as the block runs: what
    `url` points at, fetched safely (a file, a page's media, `live_seconds` of a live
    stream: default `live_seconds` of the settings), or an upload that `save` writes to
    the path it is given."""
    source, window = None, live_seconds or service.settings.live_seconds
    if url is not None:
        fetched = sources.fetch(url, service.limits, service.uploads.scratch, window)
        path, source, filename = fetched.path, fetched.source, media.filename_of(fetched.source.media_url)
    else:
        path = service.uploads.incoming()
    try:
        if url is None:
            assert save is not None, "an upload needs `save`"
            save(path)
        yield Received(path, filename, url, source, window if source is not None and source.live else None)
    finally:
        path.unlink(missing_ok=True)


def identify(
    service: Service, api_type: str, media: Received, callback_url: str | None, owner: str, include_own: bool = False,
    bill: Bill | None = None,
) -> Result | Task:  # fmt: skip
    """The product's result for `owner` now (the reference catalog, and with `include_own`
    the owner's collection too), or, for media longer than `sync_media_seconds`, the
    queued task that will scan the kept file. `callback_url` is already checked
    (lib/core/webhooks.py: `checked_callback`); the seconds analysed are counted to `bill`.
    Decoding and scanning wait for the process's CPU gate (`Service.cpu_gate`); storing a
    long file for its task and billing do not."""
    with service.cpu_gate:
        decoded = service.sync_audio(media.path, media.live_seconds)
        analysis = None if decoded is None else service.analyse(decoded, searched(owner, include_own))
    if analysis is None:
        music = service.keep_music(media.path, media.filename, media.source_url, owner)
        request = tasks.billed({"api_type": api_type, "include_own": include_own}, bill)
        return service.tasks.enqueue(tasks.IDENTIFY, music.music_id, request, callback_url, owner)
    service.bill(bill, analysis.seconds)
    return _judged(api_type, analysis, media.source)


def _judged(api_type: str, analysis: Analysis, source: Source | None) -> Result:
    """The product's answer, saying what was analysed when the URL was a page or a live
    stream; a window of a live stream is heard, never cleared."""
    if source is None:
        return route_req(api_type, analysis)
    if source.live:
        analysis = replace(analysis, cut=Cut("live", f"a live stream: {analysis.seconds:.0f} s were heard"))
    described = SourceInfo(page=source.page, media_url=source.media_url, title=source.title, duration=source.duration)
    return route_req(api_type, analysis).model_copy(update={"live": source.live, "source": described})


def preview(
    service: Service, api_type: str, media: Received, max_seconds: float, tap: Callable[[np.ndarray], None]
) -> tuple[Result, Analysis]:
    """Always answered while the client waits (the demo page): at most `max_seconds` of
    the media are analysed, and `tap` sees the decoded samples (its waveform); under the
    CPU gate, as `identify` is."""
    with service.cpu_gate:
        analysis = service.analyse_file(media.path, searched(REFERENCE, include_own=False), max_seconds, tap)
    return _judged(api_type, analysis, media.source), analysis
