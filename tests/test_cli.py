"""The command line end to end, as a user runs it: a real subprocess on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lib.store.schema import MIGRATIONS
from lib.synth.songs import RATE, demo_song, song

pytestmark = pytest.mark.slow  # a CLI process per call


def cli(db: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lib", "--db", str(db), *args], capture_output=True, text=True, timeout=240
    )


def test_ingest_identify_remove(empty_store: str, tmp_path: Path, demo_folder: Path) -> None:
    db = empty_store
    first = cli(db, "ingest", str(demo_folder / "catalog.csv"), "--jobs", "2", "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["added"] == 6 and summary["tracks"] == 6 and summary["x_realtime"] > 0
    again = json.loads(cli(db, "ingest", str(demo_folder / "catalog.csv"), "--json").stdout)
    assert again["added"] == 0 and again["skipped"] == 6 and again["tracks"] == 6

    clip = demo_song(4, 24.0)[5 * RATE : 15 * RATE]  # DEMO05, 5-15 s
    soundfile.write(tmp_path / "clip.wav", clip, RATE)
    soundfile.write(tmp_path / "other.wav", song(31337, 10.0), RATE)
    (tmp_path / "broken.mp3").write_bytes(b"\x00" * 4096)
    run = cli(db, "identify", "--json", *(str(tmp_path / f) for f in ("clip.wav", "broken.mp3", "other.wav")))
    assert run.returncode == 1  # one input failed; the others were still answered
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [Path(line["file"]).name for line in lines] == ["clip.wav", "broken.mp3", "other.wav"]
    best = lines[0]["matches"][0]
    assert best["track_id"] == "DEMO05" and best["title"] and best["isrc"] == "QZDEM2600005"
    assert abs((best["ref_start"] - best["query_start"]) - 5.0) <= 0.032
    assert 50 <= best["score"] <= 100
    assert "error" in lines[1] and "broken.mp3" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert lines[2]["matches"] == []

    assert cli(db, "remove", "DEMO05").returncode == 0
    after = json.loads(cli(db, "identify", "--json", str(tmp_path / "clip.wav")).stdout)
    assert [m["track_id"] for m in after["matches"]] == []
    listed = json.loads(cli(db, "tracks", "--json").stdout)
    assert len(listed) == 5 and "DEMO05" not in {t["track_id"] for t in listed}
    assert json.loads(cli(db, "stats", "--json").stdout)["tracks"] == 5


def test_ingest_folder_reads_tags(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    path = music / "tagged.flac"
    soundfile.write(path, song(77, 12.0), RATE)
    import mutagen

    tags = mutagen.File(str(path), easy=True)
    tags["title"], tags["artist"], tags["isrc"] = "Tagged Song", "Tag Artist", "QZTST2600001"
    tags.save()
    soundfile.write(music / "untagged.wav", np.asarray(song(78, 12.0)), RATE)
    (music / "notes.txt").write_text("not music")

    db = tmp_path / "c.db"
    assert cli(db, "ingest", str(music), "--json").returncode == 0
    tracks = {t["title"]: t for t in json.loads(cli(db, "tracks", "--json").stdout)}
    assert set(tracks) == {"Tagged Song", "untagged"}
    assert tracks["Tagged Song"]["artist"] == "Tag Artist" and tracks["Tagged Song"]["isrc"] == "QZTST2600001"
    assert tracks["untagged"]["duration"] == 12.0


def test_bad_input_is_reported_not_raised(tmp_path: Path) -> None:
    missing = cli(tmp_path / "c.db", "ingest", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("title,artist\nA,B\n")
    bad_csv = cli(tmp_path / "c.db", "ingest", str(csv_path))
    assert bad_csv.returncode == 2 and "'path' column" in bad_csv.stderr


def test_migrate_brings_a_store_up_to_date_once(empty_store: str) -> None:
    first = cli(empty_store, "migrate")
    assert first.returncode == 0 and first.stdout.count("applied ") == len(MIGRATIONS), first.stderr
    again = cli(empty_store, "migrate")
    assert (
        again.returncode == 0 and again.stdout.strip() == f"schema at version {MIGRATIONS[-1].version} (nothing to do)"
    )


def test_one_clip_identify_loads_the_index_snapshot_and_nothing_of_the_service(
    tmp_path: Path, demo_folder: Path
) -> None:
    """The engine issue's contract: the store from $CLEARED_DB, one JSON line per file, and
    a start that imports no web stack, no service, no API models, no PostgreSQL driver, no
    scipy (a 10 s clip is cheaper with NumPy's FFT than with scipy's import) and no
    pydantic (its import alone is most of numpy and av's), reading the index ingest saved
    rather than every fingerprint."""
    db = tmp_path / "clips.db"
    assert cli(db, "ingest", str(demo_folder / "catalog.csv"), "--json").returncode == 0
    assert (tmp_path / "clips.db.index" / "index.json").exists()
    soundfile.write(tmp_path / "clip.wav", demo_song(2, 24.0)[4 * RATE : 14 * RATE], RATE)
    probe = (
        "import json, sys; from lib.cli.main import main; code = main(['identify', '--json', sys.argv[1]]); "
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr); sys.exit(code)"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "clip.wav")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "CLEARED_DB": str(db)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (line,) = run.stdout.splitlines()
    assert json.loads(line)["matches"][0]["track_id"] == "DEMO03"
    loaded = set(json.loads(run.stderr.splitlines()[-1]))
    heavy_modules = ("flask", "werkzeug", "gen.models", "lib.core.service", "lib.web", "psycopg", "scipy", "loguru")
    for heavy in (*heavy_modules, "pydantic", "pydantic_settings"):
        assert heavy not in loaded
    assert "lib.fingerprint.index" in loaded
