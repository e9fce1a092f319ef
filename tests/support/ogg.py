"""Ogg page surgery, to make the two real-world breakages of Vorbis files seen in the dev
corpus from a clean file: a zero-length packet mid-stream, and a packet FFmpeg rejects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_TABLE = _crc_table()


def _crc(page: bytes) -> int:
    c = 0
    for byte in page:
        c = ((c << 8) & 0xFFFFFFFF) ^ _TABLE[((c >> 24) & 0xFF) ^ byte]
    return c


def _pages(data: bytes) -> Iterator[bytearray]:
    offset = 0
    while offset < len(data):
        assert data[offset : offset + 4] == b"OggS"
        segments = data[offset + 26]
        length = 27 + segments + sum(data[offset + 27 : offset + 27 + segments])
        yield bytearray(data[offset : offset + length])
        offset += length


def _sealed(pages: list[bytearray]) -> bytes:
    """Pages renumbered in order, each with its checksum recomputed."""
    for sequence, page in enumerate(pages):
        page[18:22] = sequence.to_bytes(4, "little")
        page[22:26] = bytes(4)
        page[22:26] = _crc(bytes(page)).to_bytes(4, "little")
    return b"".join(pages)


def with_empty_packet(data: bytes, at: int) -> bytes:
    """A page holding one zero-length packet inserted before page `at`."""
    pages = list(_pages(data))
    before = pages[at - 1]
    # capture, version, flags, then granule position and serial number of the page before
    empty = bytearray(b"OggS\x00\x00" + before[6:18] + bytes(8) + b"\x01\x00")
    return _sealed([*pages[:at], empty, *pages[at:]])


def with_bad_packet(data: bytes, at: int) -> bytes:
    """The first packet starting on page `at` marked as a header packet, which FFmpeg's
    Vorbis decoder rejects as invalid data and libvorbis skips."""
    pages = list(_pages(data))
    page = pages[at]
    page[27 + page[26]] |= 1
    return _sealed(pages)


def remuxed_with_bad_packet(ogg: Path, out: Path, at: int) -> None:
    """The Vorbis packets of `ogg` in a Matroska file (which libsndfile cannot read), with
    packet `at` marked as a header packet: FFmpeg stops there and no fallback applies."""
    with av.open(str(ogg)) as source, av.open(str(out), "w") as sink:
        stream = source.streams.audio[0]
        target = sink.add_stream_from_template(stream)
        for i, packet in enumerate(source.demux(stream)):
            if packet.dts is None:
                continue
            if i == at:
                data = bytearray(bytes(packet))
                data[0] |= 1
                broken = av.Packet(bytes(data))
                broken.pts, broken.dts, broken.time_base = packet.pts, packet.dts, packet.time_base
                packet = broken
            packet.stream = target
            sink.mux(packet)
