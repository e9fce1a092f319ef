"""What `make run` prints before it starts the server: damaged excerpts of the demo
catalog (and one song it does not hold) written next to it, and curl lines that send them
with a fresh development key (unless CLEARED_AUTH=open). Each run replaces the last
run's key: a key is shown only when it is created."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile

from lib.core.service import Service
from lib.products import PRODUCTS
from lib.settings import Settings
from lib.store.keys import KeyStore
from lib.synth.songs import RATE, demo_song, song

_OWN_MUSIC = """
Your own music:  .venv/bin/python -m lib ingest /path/to/music     (a folder, tags read from the files)
                 .venv/bin/python -m lib ingest catalog.csv        (path,title,artist,album,release_date,isrc,label,...)
API keys:        .venv/bin/python -m lib keys create --owner NAME [--products dn ml] [--quota N] [--rate 60/minute]
API reference:   {base}/openapi.yaml
"""


def write_excerpts(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    clip = demo_song(2, 30.0)[8 * RATE : 18 * RATE]  # DEMO03 (Atlantic Records)
    noisy = clip + rng.standard_normal(len(clip)).astype(np.float32) * clip.std()
    files = {
        "demo03_excerpt_noise_0dB.wav": (noisy / np.abs(noisy).max(), RATE),
        "demo03_excerpt_4pct_faster.wav": (clip, int(RATE * 1.04)),  # same samples played faster
        "not_in_catalog.wav": (song(424242, 10.0), RATE),
    }
    for name, (samples, rate) in files.items():
        soundfile.write(folder / name, samples, rate)
    return [folder / name for name in files]


_DEV_OWNER = "make-run"


def dev_key(store: KeyStore) -> str:
    """A new key for every product, the previous `make run` keys revoked."""
    for key in store.all():
        if key.owner == _DEV_OWNER:
            store.revoke(key.key_id)
    key_text, _ = store.create(_DEV_OWNER, PRODUCTS, monthly_quota=None, rate="600/minute")
    return key_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--excerpts", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    base = f"http://localhost:{args.port}"
    settings = Settings(db=args.db, database_url=None)
    service = Service(settings)
    try:
        stats = service.catalog.stats()
        key = dev_key(service.keys) if settings.auth == "keys" else None
    finally:
        service.close()
    excerpts = write_excerpts(args.excerpts)
    auth = settings.auth
    header = ""
    print(f"\nCleared starts on {base} with {stats['tracks']} tracks ({stats['hours']} h) from {args.db}.")
    if key is not None:
        header = f"-H 'Authorization: Bearer {key}' "
        print(f"Development key (all products, no quota; replaced by the next make run):\n  {key}")
    elif auth == "marketplace":
        print("CLEARED_AUTH=marketplace: only calls through the marketplace's proxy are answered.")
    if settings.demo:
        print(f"The demo page: {base}/demo (drop one of the excerpts below on it)")
    print("Try:\n")
    for path, api_type in zip(excerpts, ("dn", "ml", "dn"), strict=True):
        print(f"  curl {header}-F file=@{path} {base}/v1/identify/{api_type}")
    print(f"  curl {header}'{base}/?api_type=dt&url=https://example.com/your-track.mp3'")
    print(_OWN_MUSIC.format(base=base))


if __name__ == "__main__":
    main()
