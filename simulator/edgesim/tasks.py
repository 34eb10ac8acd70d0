"""Background tasks that cannot die silently.

``asyncio`` keeps a task's exception until someone awaits the task; a loop nobody awaits (a
delivery pump, a sweep) that crashes would otherwise vanish without a word. ``spawn`` creates the
task and logs its exception when it ends with one. Every background task in ``edgesim`` is made here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TypeVar

log = logging.getLogger("edgesim.tasks")

T = TypeVar("T")


def _log_crash(task: asyncio.Task[object]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s crashed: %r", task.get_name(), exc, exc_info=exc)


def spawn(
    coro: Coroutine[object, object, T], name: str | None = None, tasks: set[asyncio.Task[T]] | None = None
) -> asyncio.Task[T]:
    """``asyncio.create_task`` whose exception, if it ends with one, is logged (``edgesim.tasks``, ERROR).

    With ``tasks`` the task is kept in that set while it runs (the owner cancels them on stop).
    """
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_log_crash)
    if tasks is not None:
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return task
