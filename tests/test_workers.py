"""Worker processes end when the process that started them is killed (``kill -9``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossvideo_kedro.workers import process_pool

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

POOL_SCRIPT = """
import json, sys, time
from multiprocessing import resource_tracker
from crossvideo_kedro.workers import process_pool
pool = process_pool(2)
futures = [pool.submit(time.sleep, 60) for _ in range(4)]
while len(pool._processes) < 2:
    time.sleep(0.05)
print(json.dumps({"workers": list(pool._processes), "tracker": resource_tracker._resource_tracker._pid}), flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_and_watch(script: str, timeout: float = 10.0) -> tuple[list[int], list[int]]:
    """Run ``script`` (it prints ``{"workers": [...], "tracker": pid}``), kill it with SIGKILL, and return
    ``(children it reported, those still alive after timeout)``."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = parent.stdout.readline()
        assert line, "the script printed no pids"
        report = json.loads(line)
        children = [*report["workers"], *([report["tracker"]] if report["tracker"] else [])]
        assert len(report["workers"]) == 2 and all(alive(pid) for pid in children)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in children if alive(pid)]
    for pid in survivors:  # leave nothing behind if the test fails
        os.kill(pid, signal.SIGKILL)
    return children, survivors


def test_pool_workers_and_resource_tracker_exit_when_the_parent_is_killed():
    children, survivors = kill_and_watch(POOL_SCRIPT)
    assert len(children) == 3  # two workers and the resource tracker
    assert survivors == []


def set_flag(value: str) -> None:
    os.environ["WORKER_FLAG"] = value


def worker_state() -> tuple[str | None, int, list[str]]:
    import threading  # noqa: PLC0415

    return os.environ.get("WORKER_FLAG"), os.getppid(), [t.name for t in threading.enumerate()]


def test_pool_runs_the_callers_initializer_after_the_watchdog():
    with process_pool(1, initializer=set_flag, initargs=("set",)) as pool:
        flag, parent, threads = pool.submit(worker_state).result()
    assert (flag, parent) == ("set", os.getpid()) and "exit-with-parent" in threads
