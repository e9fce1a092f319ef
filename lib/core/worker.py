"""Threads that run queued tasks, deliver webhooks (tasks' and monitored streams'), and
watch the monitored streams (lib/core/streams.py).

The same loop runs inside each server process (`CLEARED_TASK_WORKERS` threads, started
with the first request the process serves: gunicorn forks its workers after importing
the app, and threads do not survive a fork) and in `python -m lib worker` processes. All
of them share the store, where a lease decides who runs what (lib/store/tasks.py), so
any number of them can run side by side.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace

from loguru import logger

from lib.core import tasks, webhooks
from lib.core.service import Service
from lib.core.streams import Watching
from lib.errors import ClearedError
from lib.store.tasks import Delivery, Task

_IDLE_POLL = 0.5  # seconds between looks at the store when there is nothing to do


class Workers:
    def __init__(self, service: Service, threads: int) -> None:
        self.service = service
        self.threads = threads
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: set[str] = set()  # task ids this process holds leases on
        self._lock = threading.Lock()
        self._started: list[threading.Thread] = []
        self._pid = 0  # the process whose threads `_started` are
        self.watching: Watching | None = None  # the monitored streams it watches (lib/core/streams.py)

    def start(self) -> None:
        """Start the threads, once per process (a forked child has none of its parent's)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._started = [
                threading.Thread(target=self._work, name=f"cleared-task-{i}", daemon=True) for i in range(self.threads)
            ]
            self._started.append(threading.Thread(target=self._heartbeat, name="cleared-heartbeat", daemon=True))
            for thread in self._started:
                thread.start()
            if self.service.settings.stream_capacity:
                self.watching = Watching(self.service)
                self.watching.start()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self.watching is not None:
            self.watching.stop(timeout)
        for thread in self._started:
            thread.join(timeout)

    def run_once(self) -> bool:
        """Run one due task or deliver one due webhook; False if there was nothing to do."""
        return self._run_task() or self._deliver() or self._deliver_event()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a store error must not kill the thread; the lease brings the task back
                logger.exception("task worker failed")
                busy = False
            if not busy:
                self._wake.wait(_IDLE_POLL)
                self._wake.clear()

    def _heartbeat(self) -> None:
        lease = self.service.settings.task_lease_seconds
        while not self._stop.wait(lease / 3):
            with self._lock:
                held = list(self._running)
            if held:
                self.service.tasks.renew(held, lease)

    def _run_task(self) -> bool:
        store = self.service.tasks
        task = store.claim(self.service.settings.task_lease_seconds)
        if task is None:
            return False
        with self._lock:
            self._running.add(task.task_id)
        started = time.perf_counter()
        log = logger.bind(task_id=task.task_id, task=task.task_name, run=task.runs)
        try:
            result, error = tasks.run(self.service, task), None
        except ClearedError as failure:
            result, error = None, {"code": failure.code, "message": failure.message}
        except Exception:
            log.exception("task failed")
            result, error = None, {"code": "internal_error", "message": "the task failed on our side"}
        finally:
            with self._lock:
                self._running.discard(task.task_id)
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        log.bind(latency_ms=latency_ms, error=error and error["code"]).info("task finished")
        if store.finish(task.task_id, result, error) and task.callback_url:
            self._wake.set()  # its webhook is due now
        return True

    def _deliver(self) -> bool:
        settings = self.service.settings
        claimed = self.service.tasks.claim_delivery(settings.webhook_timeout * 3)
        if claimed is None:
            return False
        task, attempt = claimed
        outcome = self._post(task, attempt)
        retry = outcome.error is not None and attempt < settings.webhook_max_attempts
        retry_in = webhooks.backoff(attempt, settings.webhook_backoff_seconds) if retry else None
        self.service.tasks.record_delivery(task.task_id, attempt, outcome, retry_in)
        # the error's code only: its message may quote the callback URL, which can carry a token
        error = outcome.error.split(":")[0] if outcome.error else None
        log = logger.bind(task_id=task.task_id, attempt=attempt, status=outcome.status_code, error=error)
        if error:
            log.warning("webhook failed")
        else:
            log.bind(latency_ms=outcome.duration_ms).info("webhook delivered")
        return True

    def _deliver_event(self) -> bool:
        """One due webhook of a monitored stream's event (lib/core/streams.py)."""
        settings = self.service.settings
        event = self.service.streams.claim_event(settings.webhook_timeout * 3)
        if event is None:
            return False
        limits = replace(self.service.limits, connect_timeout=settings.webhook_timeout)
        secrets = self.service.signing_secrets(event.owner)
        outcome = webhooks.deliver(
            event.callback_url, event.body.encode(), secrets, event.event_id, event.attempts, limits
        )
        retry = outcome.error is not None and event.attempts < settings.webhook_max_attempts
        retry_in = webhooks.backoff(event.attempts, settings.webhook_backoff_seconds) if retry else None
        self.service.streams.delivered(event.event_id, outcome.error, retry_in)
        error = outcome.error.split(":")[0] if outcome.error else None
        log = logger.bind(stream_id=event.stream_id, attempt=event.attempts, status=outcome.status_code, error=error)
        (log.warning if error else log.info)("stream webhook " + ("failed" if error else "delivered"))
        return True

    def _post(self, task: Task, attempt: int) -> Delivery:
        assert task.callback_url is not None
        limits = replace(self.service.limits, connect_timeout=self.service.settings.webhook_timeout)
        body = json.dumps(tasks.payload(task)).encode()
        secrets = self.service.signing_secrets(task.owner)
        return webhooks.deliver(task.callback_url, body, secrets, task.task_id, attempt, limits)
