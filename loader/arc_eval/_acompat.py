"""The primitives the client is written against, in pairs: an async one that ``aio.py`` uses, and its sync
twin of the same behaviour. ``tools/async_to_sync.py`` writes ``client.py`` from ``aio.py`` by swapping each
async name for its twin's (``ALock`` -> ``Lock``, ``aspawn`` -> ``spawn``, ``asleep`` -> ``sleep``,
``wait_timeout`` -> ``wait`` ...) and by calling ``off_loop``'s function directly.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

Worker = threading.Thread
AWorker = asyncio.Task
Event = threading.Event
sleep = time.sleep


def asleep(seconds: float) -> Coroutine[Any, Any, None]:
    """``asyncio.sleep``; its twin is ``time.sleep``."""
    return asyncio.sleep(seconds)


async def off_loop(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` (an embedder call, which may be slow or remote) in a worker thread, off the event loop.
    The sync client calls ``func`` directly."""
    return await asyncio.to_thread(func, *args, **kwargs)


async def _within(awaitable: Awaitable[Any], timeout: float) -> bool:
    """Whether ``awaitable`` completed within ``timeout`` seconds; if not, it is cancelled."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():
            task.cancel()
    if done:
        task.result()
    return bool(done)


class AEvent(asyncio.Event):
    async def wait_timeout(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the event; returns whether it is set (``Event.wait``)."""
        return await _within(self.wait(), timeout)


class ALock(asyncio.Lock):
    async def acquire_within(self, timeout: float) -> bool:
        """Acquire the lock, waiting at most ``timeout`` seconds; returns whether it is held."""
        return await _within(self.acquire(), timeout)


class Lock:
    """The sync twin of :class:`ALock`: a re-entrant thread lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def acquire_within(self, timeout: float) -> bool:
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        self._lock.release()


class AQueue(asyncio.Queue):
    async def join_within(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for every item to be done; returns whether they are."""
        return await _within(self.join(), timeout)


class Queue(queue.Queue):
    """The sync twin of :class:`AQueue`."""

    def join_within(self, timeout: float) -> bool:
        with self.all_tasks_done:
            if self.unfinished_tasks:
                self.all_tasks_done.wait(timeout)
            return not self.unfinished_tasks


def aspawn(func: Callable[[], Coroutine[Any, Any, None]], name: str) -> asyncio.Task:
    """Run ``func()`` as a task of the running loop; its twin runs it in a daemon thread."""
    return asyncio.create_task(func(), name=name)


def spawn(func: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=func, name=name, daemon=True)
    thread.start()
    return thread


async def agather(workers: list[asyncio.Task], timeout: float) -> None:
    """Wait at most ``timeout`` seconds for the tasks to end (not the calling one); cancel those left."""
    others = [task for task in workers if task is not asyncio.current_task()]
    if not others:
        return
    _, left = await asyncio.wait(others, timeout=timeout)
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left)


def gather(workers: list[threading.Thread], timeout: float) -> None:
    """Wait at most ``timeout`` seconds for each thread to end (not the calling one)."""
    for thread in workers:
        if thread is not threading.current_thread():
            thread.join(timeout)
