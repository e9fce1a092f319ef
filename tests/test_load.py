"""`make load`'s harness (bench/load.py) end to end, on a tiny load: the real server, media
server and Locust, a few seconds each.

The load test's figures are not checked here (they belong to `make load`, on a quiet
machine): only that the harness runs its scenarios, that every call got the expected
answer, that the report has each scenario's table and verdict, that a criterion that
fails makes it exit 1, and that nothing it started is left running.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # Locust and server processes

ROOT = Path(__file__).resolve().parent.parent
TINY = {"rate": 5, "users": 5, "ramp_seconds": 1, "duration_seconds": 3}


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """load_test.json's scenario at 5 calls/s for 3 s, with criteria any run meets but
    errors; and the same once more with a rate criterion it cannot meet."""
    config = json.loads((ROOT / "load_test.json").read_text())
    scenario = config["scenarios"][0]
    easy = {**scenario, "load": TINY, "pass": {"min_rps": 0, "max_p99_ms": 60_000, "max_errors": 0}}
    unmet = {**easy, "name": "unmet_rate", "load": {**TINY, "ramp_seconds": 0, "duration_seconds": 1},
             "pass": {**easy["pass"], "min_rps": 1000}}  # fmt: skip
    config["scenarios"] = [easy, unmet]
    path = tmp_path / "load_test.json"
    path.write_text(json.dumps(config))
    return path


def table(report: str, scenario: str) -> dict[str, list[str]]:
    """A scenario's table in the report: figure -> [measured, criterion, verdict]."""
    section = report.split(f"### {scenario}:", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| (.+?) \|(.*)\|$", section, re.MULTILINE)
    return {figure: [cell.strip() for cell in rest.split("|")] for figure, rest in rows}


def left_running(marker: str) -> list[str]:
    """Processes whose command line or environment mentions `marker` (the work folder)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker.encode() in text:
            found.append(f"{proc.name}: {text[:200]!r}")
    return found


def test_the_harness_measures_each_scenario_and_stops_everything(
    tiny_config: Path, demo_folder: Path, tmp_path: Path
) -> None:
    work, out = tmp_path / "work", tmp_path / "LOAD.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "--config", str(tiny_config), "--demo", str(demo_folder),
         "--work", str(work), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the unmet rate, and only it
    report = out.read_text()

    easy = table(report, "identify_url_mp3_10s")
    assert "### identify_url_mp3_10s: PASS" in report
    assert set(easy) >= {"figure", "requests", "requests/s", "p50", "p95", "p99", "max", "errors"}
    assert int(easy["requests"][0]) > 0
    assert easy["errors"] == ["0", "≤ 0", "pass"]  # every answer named DEMO03 where the excerpt was cut
    assert re.fullmatch(r"\d+ ms", easy["p99"][0])

    unmet = table(report, "unmet_rate")
    assert "### unmet_rate: FAIL" in report
    assert unmet["requests/s"][1:] == ["≥ 1000", "**FAIL**"]
    assert unmet["errors"][0] == "0"

    assert not left_running(str(work))
