"""Tasks survive a crash, on both backends: the real server (functions-framework,
gunicorn) is killed while it runs an add, restarted, and finishes the task; separate
`python -m lib worker` processes run tasks that a server without in-process workers
queued, never the same one twice, and one killed mid-task loses nothing."""

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
from lib.synth.songs import song
from tests.support.audio import encode
from tests.support.server_process import ROOT, server
from tests.support.stores import store_env

pytestmark = pytest.mark.slow  # server and worker processes, killed and restarted


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
def env(store: str, tmp_path: Path) -> dict[str, str]:
    return {
        **store_env(store),
        "STORE": store,
        "CLEARED_STORAGE": str(tmp_path / "uploads"),
        "CLEARED_TASK_LEASE_SECONDS": "1",
        "WORKERS": "1",
    }


def test_a_task_interrupted_by_a_crash_is_finished_after_the_restart(env: dict[str, str], tmp_path: Path) -> None:
    # 20 minutes of audio: indexing takes long enough to kill the server in the middle
    long = encode(tmp_path / "long.wav", np.tile(song(77, 30.0)[::3], 40), 7350, "pcm_s16le")
    tasks = TaskStore(env["STORE"])
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
    with Catalog(env["STORE"]) as catalog:
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


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "lib", "worker", "--threads", "1"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)


def test_workers_share_the_queue_and_a_killed_one_loses_nothing(env: dict[str, str], tmp_path: Path) -> None:
    """Two worker processes drain six adds; one is killed while it runs a task. Every
    task then succeeds once, only the interrupted one ran twice, and the catalog holds
    each new track exactly once."""
    tasks = TaskStore(env["STORE"])
    with server({**env, "CLEARED_TASK_WORKERS": "0"}) as (base, _):
        # 5 minutes of audio each: long enough to be caught in the middle
        files = [
            encode(tmp_path / f"{i}.wav", np.tile(song(90 + i, 20.0)[::3], 15), 7350, "pcm_s16le") for i in range(6)
        ]
        ids = [_add(base, _upload(base, path)) for path in files]
        first, second = _worker(env), _worker(env)
        try:
            deadline = time.monotonic() + 30
            while len([t for t in map(tasks.get, ids) if t and t.status == "running"]) < 2:
                assert time.monotonic() < deadline, "the workers did not both start a task"
                time.sleep(0.01)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            done = [_wait(base, task_id, timeout=120) for task_id in ids]
        finally:
            for worker in (first, second):
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(timeout=15)
    assert [d["status"] for d in done] == ["success"] * 6
    assert sorted(d["runs"] for d in done) == [1] * 5 + [2]  # only the killed worker's task ran again
    added = [d["result"]["track_id"] for d in done]
    with Catalog(env["STORE"]) as catalog:
        assert len(set(added)) == 6 and all(catalog.get(t) for t in added) and catalog.count() == 12
