"""Worker processes that die with the process that started them.

A ``ProcessPoolExecutor`` worker does not notice its parent's death: after ``kill -9`` of ``kedro run`` its workers
(and the ``multiprocessing`` resource tracker) are re-parented to pid 1 and keep running. :func:`process_pool` builds
an executor whose workers run :func:`exit_with_parent` first: a daemon thread in each worker polls ``os.getppid()``
and ends the worker (``os._exit``) as soon as the parent is gone. The resource tracker needs no handling of its own:
it exits when the last process holding its pipe (the parent and the workers) is gone, after unlinking what they
left registered.

Polling rather than Linux's ``prctl(PR_SET_PDEATHSIG)``: that signal fires when the *thread* that forked the worker
ends, and executors start workers from whichever thread submits (a runner's thread pool, an executor's manager
thread), so it would kill healthy workers of a live parent.

Use::

    from crossvideo_kedro.workers import process_pool

    with process_pool(4) as pool:           # spawn context by default
        results = list(pool.map(fn, items))

An executor built elsewhere can pass ``initializer=exit_with_parent, initargs=(os.getpid(),)`` itself, or wrap its
own initializer with :func:`process_pool`'s ``initializer``/``initargs``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

POLL_SECONDS = 0.2  # how often a worker checks that its parent is alive


def exit_with_parent(parent_pid: int, interval: float = POLL_SECONDS) -> threading.Thread:
    """Start a daemon thread that ends this process (exit status 1) once ``parent_pid`` is no longer its parent.

    Call it first thing in a worker process (a pool initializer). A worker whose parent already died ends at once.

    Args:
        parent_pid: pid of the process that started this one (``os.getpid()`` in the parent).
        interval: seconds between checks.

    Returns:
        The watchdog thread (already started).
    """
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)  # no cleanup: the parent that would receive results is gone

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def _initialize(parent_pid: int, interval: float, initializer: Callable[..., Any] | None,
                initargs: tuple[Any, ...]) -> None:
    exit_with_parent(parent_pid, interval)
    if initializer is not None:
        initializer(*initargs)


def process_pool(max_workers: int, *, context: str = "spawn", initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = (), interval: float = POLL_SECONDS, **kwargs: Any) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` whose workers exit within ``interval`` seconds of this process's death.

    Args:
        max_workers: number of worker processes.
        context: ``multiprocessing`` start method (``"spawn"``, ``"forkserver"``, ``"fork"``).
        initializer: run in each worker after the watchdog has started, with ``initargs``.
        interval: seconds between a worker's checks of its parent.
        **kwargs: passed to ``ProcessPoolExecutor`` (e.g. ``max_tasks_per_child``).
    """
    return ProcessPoolExecutor(max_workers, mp_context=get_context(context), initializer=_initialize,
                               initargs=(os.getpid(), interval, initializer, tuple(initargs)), **kwargs)
