"""Where uploaded music is kept until it is indexed or checked: one file per music id.

A file arrives under a temporary name in the same folder and is renamed to its music
id only once it is whole and decodable, so a crash never leaves a music id pointing at
half a file. The folder is `CLEARED_STORAGE` (default `data/uploads`).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

_MUSIC_ID = re.compile(r"^[0-9a-f]{32}$")


class Uploads:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def incoming(self) -> Path:
        """A new empty file in the folder for an upload or download to fill."""
        with tempfile.NamedTemporaryFile(prefix=".incoming-", dir=self.folder, delete=False) as f:
            return Path(f.name)

    def keep(self, incoming: Path, music_id: str) -> Path:
        return incoming.replace(self.path(music_id))

    def path(self, music_id: str) -> Path:
        if not _MUSIC_ID.match(music_id):  # never a path from a client
            raise ValueError(f"not a music id: {music_id!r}")
        return self.folder / music_id
