"""What a view needs of its process: the `Service` and the task `Workers` the app holds,
reached the way Flask code reaches `current_app`, and the 202 that hands work to them."""

from __future__ import annotations

from flask import Response, current_app, jsonify, url_for

from lib.core.service import Service
from lib.core.worker import Workers
from lib.store.tasks import Task


def current() -> Service:
    service: Service = current_app.extensions["cleared"]
    return service


def workers() -> Workers:
    found: Workers = current_app.extensions["cleared_workers"]
    return found


def accepted(task: Task) -> Response:
    """202 with the queued task's id, followed at `Location`; this process's workers look now."""
    workers().wake()
    response = jsonify(taskId=task.task_id)
    response.status_code = 202
    response.headers["Location"] = url_for("index_api.get_task", task_id=task.task_id)
    return response
