"""edgesim.tasks.spawn: a background task that crashes is logged, never silent."""

from __future__ import annotations

import asyncio
import logging

import pytest

from edgesim.tasks import spawn


async def _crash() -> None:
    raise RuntimeError("the pump broke")


async def _sleep_forever() -> None:
    await asyncio.Event().wait()


def test_a_crashing_task_is_logged_with_its_exception(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> set[asyncio.Task[None]]:
        tasks: set[asyncio.Task[None]] = set()
        task = spawn(_crash(), "hub:pump:sink", tasks)
        assert task in tasks
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # done callbacks run on the next loop iteration
        return tasks

    with caplog.at_level(logging.ERROR, logger="edgesim.tasks"):
        left = asyncio.run(main())
    assert left == set()  # a finished task leaves its owner's set
    [record] = [r for r in caplog.records if r.name == "edgesim.tasks"]
    assert record.levelno == logging.ERROR
    assert "hub:pump:sink" in record.getMessage()
    assert "the pump broke" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


def test_a_cancelled_or_finished_task_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        sleeper = spawn(_sleep_forever(), "sleeper")
        finished = spawn(asyncio.sleep(0), "finished")
        await finished
        sleeper.cancel()
        await asyncio.gather(sleeper, return_exceptions=True)
        await asyncio.sleep(0)

    with caplog.at_level(logging.DEBUG, logger="edgesim.tasks"):
        asyncio.run(main())
    assert not [r for r in caplog.records if r.name == "edgesim.tasks"]
