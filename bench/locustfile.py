"""The Locust user that `python -m bench.load` runs, headless, in a process of its own.

Locust runs on gevent and patches the standard library where it is imported, so it
stays out of the harness's process (which runs the media server in threads and the API
as a child). The harness writes what one scenario sends and expects to a JSON file and
names it in LOAD_SCENARIO: the request, the API key's header, each user's pace (the
scenario's rate over its users) and the answer every call must give. A call is a
success only when it is a 2xx whose result names the expected track where the excerpt
was cut from; anything else is a failure, and Locust counts it as an error.

Each user paces itself as Locust's constant_throughput does (a call every 1/pace
seconds from the start of the last one, at once when the last took longer), but from a
random moment of its first interval. Locust spawns users in batches (spawn-rate users a
second), and constant_throughput keeps each user's calls in step with its spawn: at one
call per user per second, every batch would call in the same instant, each second, and
the API would see bursts of all the users at once instead of a steady rate.

Locust's --csv files are rewritten every second or so while it runs, and not at the end;
when Locust quits, this writes the final figures with the same code to
<csv prefix>_final_stats.csv and _final_failures.csv, which the harness reads.
"""

from __future__ import annotations

import csv
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV


def _scenario() -> dict[str, Any]:
    path = os.environ.get("LOAD_SCENARIO")
    if not path:  # locust imports this file before it starts users: say what is missing
        raise SystemExit("LOAD_SCENARIO names the scenario file that bench/load.py writes")
    scenario: dict[str, Any] = json.loads(Path(path).read_text())
    return scenario


SCENARIO = _scenario()


def problem(status: int, body: bytes | None, expect: dict[str, Any]) -> str | None:
    """Why this answer is not the expected one, or None when it is."""
    if not 200 <= status < 300:
        return f"HTTP {status}"
    try:
        songs = json.loads(body or b"")["result"][0]["songs"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "2xx without an identify result"
    hits = [s for s in songs if s.get("track_id") == expect["track_id"]]
    if not hits:
        return f"2xx without {expect['track_id']}: {[s.get('track_id') for s in songs]}"
    # where the match starts in the reference, less where it starts in the media: the cut's offset
    offset_ms = hits[0]["ref_start"] - hits[0]["start_offset"]
    if abs(offset_ms - expect["ref_offset_ms"]) > expect["ref_tolerance_ms"]:
        return f"{expect['track_id']} at {offset_ms} ms in the reference, not {expect['ref_offset_ms']} ms"
    return None


class ApiClient(FastHttpUser):
    """One client calling the scenario's request over and over at a steady pace."""

    interval = 1 / SCENARIO["per_user_rate"]
    next_call = 0.0  # when the next call is due (time.monotonic())

    def on_start(self) -> None:
        self.next_call = time.monotonic() + random.uniform(0, self.interval)
        gevent.sleep(max(self.next_call - time.monotonic(), 0.0))

    def wait_time(self) -> float:
        now = time.monotonic()
        self.next_call = max(self.next_call + self.interval, now)
        return self.next_call - now

    @task
    def call(self) -> None:
        request = SCENARIO["request"]
        with self.client.request(
            request["method"],
            request["path"],
            name=SCENARIO["name"],
            json=request.get("json"),
            headers=SCENARIO["headers"],
            catch_response=True,
        ) as response:
            why = problem(response.status_code, response.content, SCENARIO["expect"])
            if why:
                response.failure(why)
            else:
                response.success()


@events.init.add_listener
def _final_csv(environment: Environment, **_kwargs: Any) -> None:
    prefix = environment.parsed_options.csv_prefix if environment.parsed_options else None

    def write(**_kwargs: Any) -> None:  # on quit: every user stopped, every call counted
        stats = StatsCSV(environment, PERCENTILES_TO_REPORT)
        with open(f"{prefix}_final_stats.csv", "w", newline="") as f:
            stats.requests_csv(csv.writer(f))
        with open(f"{prefix}_final_failures.csv", "w", newline="") as f:
            stats.failures_csv(csv.writer(f))

    if prefix:
        environment.events.quit.add_listener(write)
