"""Tasks survive a crash: the real server (functions-framework, gunicorn) is killed while
it runs an add, restarted, and finishes the task; a separate `python -m lib worker`
process runs tasks that a server without in-process workers queued."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lib.store import Catalog
from lib.store.tasks import TaskStore
from lib.synth import song
from tests.conftest import encode, private_copy
from tests.server_process import ROOT, server


def _call(method: str, url: str, body: bytes | None = None, content_type: str = "application/json") -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _upload(base: str, path: Path) -> str:
    boundary = "cleared-test-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n\r\n'
    body = head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    music_id: str = _call("POST", base + "/api/v1/music", body, f"multipart/form-data; boundary={boundary}")["musicId"]
    return music_id


def _add(base: str, music_id: str) -> str:
    task_id: str = _call("POST", base + "/api/v1/fingerprint/add", json.dumps({"musicId": music_id}).encode())["taskId"]
    return task_id


def _wait(base: str, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = _call("GET", f"{base}/api/v1/tasks/{task_id}")
        if task["status"] in ("success", "failure"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


@pytest.fixture
def env(catalog_path: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "CLEARED_DB": str(private_copy(catalog_path, tmp_path)),
        "CLEARED_STORAGE": str(tmp_path / "uploads"),
        "CLEARED_TASK_LEASE_SECONDS": "1",
        "WORKERS": "1",
    }


def test_a_task_interrupted_by_a_crash_is_finished_after_the_restart(env: dict[str, str], tmp_path: Path) -> None:
    # 20 minutes of audio: indexing takes long enough to kill the server in the middle
    long = encode(tmp_path / "long.wav", np.tile(song(77, 30.0)[::3], 40), 7350, "pcm_s16le")
    tasks = TaskStore(env["CLEARED_DB"])
    with server(env) as (base, process):
        task_id = _add(base, _upload(base, long))
        deadline = time.monotonic() + 30
        while (task := tasks.get(task_id)) is not None and task.status == "queued" and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    interrupted = tasks.get(task_id)
    assert interrupted is not None and interrupted.status == "running" and interrupted.runs == 1
    with server(env) as (base, _):
        done = _wait(base, task_id)
    assert done["status"] == "success" and done["runs"] == 2
    assert done["result"]["already_indexed"] is False
    with Catalog(env["CLEARED_DB"]) as catalog:
        assert catalog.get(done["result"]["track_id"]) is not None and catalog.count() == 7


def test_a_separate_worker_process_runs_the_queued_tasks(env: dict[str, str], tmp_path: Path) -> None:
    short = encode(tmp_path / "short.flac", song(78, 12.0), 22050, "flac")
    with server({**env, "CLEARED_TASK_WORKERS": "0"}) as (base, _):
        task_id = _add(base, _upload(base, short))
        time.sleep(1.0)
        assert _call("GET", f"{base}/api/v1/tasks/{task_id}")["status"] == "queued"  # nobody runs it here
        worker = subprocess.Popen([sys.executable, "-m", "lib", "worker"], cwd=ROOT, env={**os.environ, **env})
        try:
            done = _wait(base, task_id)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=15) == 0
    assert done["status"] == "success" and done["runs"] == 1
