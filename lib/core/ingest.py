"""Bulk ingest of a folder or a CSV into the catalog, in parallel across cores.

Workers decode and fingerprint; only the parent process writes to SQLite (one writer,
one transaction per track). Files whose audio is already in the catalog (same SHA-1)
are skipped, which is also how an interrupted ingest resumes.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import mutagen
from tqdm import tqdm

from lib.core.covers import embedded_art
from lib.errors import Conflict
from lib.fingerprint import audio
from lib.fingerprint.config import EngineConfig
from lib.fingerprint.index import TrackPrint
from lib.fingerprint.pipeline import reference_print
from lib.fingerprint.spectrogram import fast_fft
from lib.store import Catalog, Track
from lib.store.catalog import REFERENCE
from lib.store.models import Cover

AUDIO_EXTENSIONS = {
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".m4a",
    ".aac",
    ".mp4",
    ".webm",
    ".mkv",
    ".aif",
    ".aiff",
    ".wma",
}

_TAGS = {
    "title": "title",
    "artist": "artist",
    "album": "album",
    "release_date": "date",
    "isrc": "isrc",
    "label": "organization",
}


@dataclass(frozen=True)
class Item:
    """A file to ingest and the metadata known for it before decoding."""

    path: Path
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Summary:
    added: int = 0
    skipped: int = 0
    failed: int = 0
    seconds_audio: float = 0.0
    seconds_wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # added, but not all of the file decoded cleanly

    @property
    def realtime(self) -> float:
        return self.seconds_audio / self.seconds_wall if self.seconds_wall else 0.0


def discover(source: str | Path) -> list[Item]:
    """A folder (recursively, tags read later) or a CSV of path + metadata columns."""
    source = Path(source)
    if source.is_dir():
        return [Item(p) for p in sorted(source.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()]
    if source.suffix.lower() == ".csv":
        with source.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        if rows and "path" not in rows[0]:
            raise ValueError(f"{source}: the CSV needs a 'path' column")
        return [
            Item(source.parent / row.pop("path"), {k: v for k, v in row.items() if k and v is not None}) for row in rows
        ]
    if source.is_file():
        return [Item(source)]
    raise FileNotFoundError(f"{source}: no such file or folder")


def read_tags(path: Path) -> dict[str, str]:
    """Title, artist, album... from the file's own tags; the file name when untitled."""
    found: dict[str, str] = {}
    try:
        tags = mutagen.File(str(path), easy=True)
    except mutagen.MutagenError:
        tags = None
    if tags is not None and tags.tags is not None:
        for column, key in _TAGS.items():
            values = tags.tags.get(key)
            if values:
                found[column] = str(values[0])
    found.setdefault("title", path.stem)
    return found


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class NewTrack:
    """A file made ready for the catalog: everything an add needs but the write."""

    track: Track
    fingerprint: TrackPrint
    sha1: str
    cover: Cover | None
    warnings: tuple[str, ...] = ()  # what decoding had to work around (audio.stream)

    def add_to(self, catalog: Catalog, owner: str = REFERENCE) -> bool:
        """False when the catalog already has this track id, or this audio in `owner`'s
        collection (a concurrent add)."""
        return catalog.add(self.track, self.fingerprint, self.sha1, self.cover, owner)


def new_track(
    path: Path, sha1: str, metadata: Mapping[str, object], config: EngineConfig, max_seconds: float | None = None
) -> NewTrack:
    """Decode a file and make its catalog track (metadata + duration), reference
    fingerprint and cover. Raises `audio.DecodeError`, or `InvalidTrack`
    for bad metadata."""
    report = audio.Report()
    samples = audio.load(path, config, max_seconds, report)
    track = Track.validated({**metadata, "duration": round(len(samples) / config.sample_rate, 3)})
    return NewTrack(
        track, reference_print(track.track_id, samples, config), sha1, embedded_art(path), tuple(report.warnings)
    )


@dataclass(frozen=True)
class Added:
    track_id: str
    already_indexed: bool  # the audio was in the catalog already, as `track_id`
    seconds: float = 0.0  # of audio decoded and fingerprinted (none when it was there already)


def add_track(
    catalog: Catalog, path: Path, metadata: Mapping[str, object], max_seconds: float | None = None,
    owner: str = REFERENCE,
) -> Added:  # fmt: skip
    """Add one file to `owner`'s collection, unless its audio is there already (by content
    hash): the same audio added twice, even concurrently, stays one track. Raises what
    `new_track` raises, and `Conflict` when the track id is taken by other audio."""
    sha1 = sha1_of(path)
    existing = catalog.with_audio(sha1, owner)
    if existing is None:
        made = new_track(path, sha1, metadata, catalog.config, max_seconds)
        if made.add_to(catalog, owner):
            return Added(made.track.track_id, already_indexed=False, seconds=made.track.duration)
        existing = catalog.with_audio(sha1, owner)  # a concurrent add of the same audio won
        if existing is None:
            raise Conflict("already_indexed", f"{made.track.track_id} is already a track of another audio")
    return Added(existing.track_id, already_indexed=True)


@dataclass(frozen=True)
class _Result:
    item: Item
    made: NewTrack | None = None  # None: skipped (its audio is in the catalog) or failed
    error: str | None = None


@dataclass(frozen=True)
class _Fingerprinter:
    """The work of one file, with what every file needs; sent once to each worker process.

    Worker processes have no store of their own, so they skip known audio by the set of
    the catalog's hashes read once at the start; the parent process does the writes."""

    known: frozenset[str]  # SHA-1s already in the catalog
    config: EngineConfig

    def __call__(self, item: Item) -> _Result:
        """Hash, decode and fingerprint one file (never raises)."""
        try:
            sha1 = sha1_of(item.path)
            if sha1 in self.known:
                return _Result(item)
            metadata = {"track_id": "T" + sha1[:16], **read_tags(item.path), **item.metadata}
            return _Result(item, new_track(item.path, sha1, metadata, self.config))
        except (OSError, ValueError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            return _Result(item, error=f"{item.path}: {message}")


_worker: _Fingerprinter | None = None  # each worker process's own, set by _start_worker


def _start_worker(job: _Fingerprinter) -> None:
    global _worker
    _worker = job


def _in_worker(item: Item) -> _Result:
    assert _worker is not None, "worker started without _start_worker"
    return _worker(item)


def _run(items: list[Item], job: _Fingerprinter, jobs: int) -> Iterator[_Result]:
    if jobs <= 1:
        yield from map(job, items)
        return
    # The known-SHA-1 set goes to each worker once, not pickled again with every file.
    with ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(job,)) as pool:
        yield from pool.map(_in_worker, items, chunksize=1)


def ingest(catalog: Catalog, items: Iterable[Item], jobs: int | None = None, progress: bool = True) -> Summary:
    """Add `items` to the catalog with the catalog's engine configuration, on `jobs` processes."""
    items = list(items)
    jobs = jobs or os.cpu_count() or 1
    fast_fft()  # before the workers fork: every song is worth the faster FFT's import
    job = _Fingerprinter(frozenset(catalog.known_sha1s()), catalog.config)
    summary = Summary()
    start = time.perf_counter()
    bar = tqdm(total=len(items), unit="file", disable=not progress, dynamic_ncols=True)
    for result in _run(items, job, jobs):
        bar.update()
        if result.error:
            summary.failed += 1
            summary.errors.append(result.error)
            bar.write(f"error: {result.error}", file=sys.stderr)
        elif result.made is None:
            summary.skipped += 1
        elif result.made.add_to(catalog):
            summary.added += 1
            summary.seconds_audio += result.made.track.duration
            for warning in result.made.warnings:
                summary.warnings.append(warning)
                bar.write(f"warning: {warning}", file=sys.stderr)
        else:
            summary.skipped += 1
    bar.close()
    summary.seconds_wall = time.perf_counter() - start
    return summary
