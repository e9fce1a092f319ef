"""A real HTTP server on loopback that serves test media, and misbehaves on request.

/files/<name>            a file from the served folder
/redirect/<n>/<name>     n redirects, then the file
/status/<code>           an empty answer with that status
/huge                    claims a body larger than any limit (Content-Length)
/endless                 streams zeros without a Content-Length, forever (not audio)
/drip                    one byte per 0.2 s, forever
/page                    an HTML page without media of its own
/watch/<name>            a page whose og:audio is /files/<name> (relative), with a title
/page-to/<url>           a page whose og:video is <url> (percent-encoded)
/radio/<name>            an Icecast-style live stream: /files/<name> over and over, no length,
                         `icy-` headers, at about 4x real time for a 128 kb/s MP3
/flaky-radio/<name>      the same, but the first connection breaks off after 200 kB and the
                         second is refused (503): a source that drops and comes back (counted
                         per whole path: add a query string of its own to start afresh)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


def _handler(folder: Path) -> type[BaseHTTPRequestHandler]:
    connections: dict[str, int] = {}  # per path, for /flaky-radio

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, chunk: bytes, pause: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    time.sleep(pause)
            except OSError:  # the client gave up, as it should
                pass

        def _radio(self, name: str, limit: int | None = None) -> None:
            """16 kB every 0.03 s: about 4x real time for a 128 kb/s MP3; the file's ID3 tag is
            left out (a radio sends frames, not a file's tags, and they would repeat mid-stream)."""
            song = (folder / name).read_bytes()
            if song.startswith(b"ID3"):  # 10 header bytes and a 28-bit "syncsafe" size
                size = (song[6] << 21) | (song[7] << 14) | (song[8] << 7) | song[9]
                song = song[10 + size :]
            pieces = [song[i : i + 16384] for i in range(0, len(song), 16384)]
            headers = {"Content-Type": "audio/mpeg", "icy-name": "Test Radio", "icy-br": "128"}
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            sent = 0
            try:
                while limit is None or sent < limit:
                    for piece in pieces:
                        self.wfile.write(piece)
                        self.wfile.flush()
                        sent += len(piece)
                        time.sleep(0.03)
            except OSError:
                pass
            self.close_connection = True

        def do_GET(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[0] == "files" and len(parts) == 2 and (folder / parts[1]).is_file():
                self._send(200, (folder / parts[1]).read_bytes(), {"Content-Type": "application/octet-stream"})
            elif parts[0] == "redirect" and len(parts) == 3:
                n = int(parts[1])
                target = f"/redirect/{n - 1}/{parts[2]}" if n > 1 else f"/files/{parts[2]}"
                self._send(302, headers={"Location": target})
            elif parts[0] == "status":
                self._send(int(parts[1]))
            elif parts[0] == "huge":
                self.send_response(200)
                self.send_header("Content-Length", str(10**12))
                self.end_headers()
            elif parts[0] == "endless":
                self._stream(bytes(65536), 0.0)
            elif parts[0] == "drip":
                self._stream(b"\0", 0.2)
            elif parts[0] == "page":
                self._send(
                    200, b"<!doctype html><title>watch</title><p>a video page</p>", {"Content-Type": "text/html"}
                )
            elif parts[0] == "watch" and len(parts) == 2:
                page = (
                    '<!doctype html><html><head><meta property="og:title" content="A song, watched">'
                    f'<meta property="og:audio" content="../files/{parts[1]}"></head><body></body></html>'
                )
                self._send(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
            elif parts[0] == "page-to" and len(parts) == 2:
                page = f'<html><head><meta property="og:video" content="{unquote(parts[1])}"></head></html>'
                self._send(200, page.encode(), {"Content-Type": "text/html"})
            elif parts[0] == "radio" and len(parts) == 2 and (folder / parts[1]).is_file():
                self._radio(parts[1])
            elif parts[0] == "flaky-radio" and len(parts) == 2 and (folder / parts[1]).is_file():
                connections[self.path] = connections.get(self.path, 0) + 1
                if connections[self.path] == 2:
                    self._send(503)
                else:
                    self._radio(parts[1], limit=200_000 if connections[self.path] == 1 else None)
            else:
                self._send(404)

    return Handler


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(folder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
