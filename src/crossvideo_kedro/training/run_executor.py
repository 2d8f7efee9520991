"""Where a study's downstream runs execute: any :class:`concurrent.futures.Executor`.

A run is described once, as a :class:`DownstreamRun` (a frozen run spec), and runs wherever an executor sends it:

* ``inline`` — in this process, one group after another (``finetune.workers: 1``);
* ``local`` — a :class:`~concurrent.futures.ProcessPoolExecutor` of spawned processes on the local host
  (``finetune.workers``; ``auto``: one process per core, one torch thread per run);
* a Dask scheduler address (``tcp://host:8786``) — the cluster's workers, through
  :meth:`distributed.Client.get_executor`.

A run's numbers depend on its spec (parameters, seed, thread count, device) only, never on the executor, the number
of workers or the order runs finish in: every run seeds itself (:func:`~crossvideo_kedro.training.finetune.
run_downstream`) and sets its own thread count. Runs are submitted in **groups**: the runs of a group execute one
after another in one process and share one frozen-feature cache (linear probes of one encoder).

What every run shares (the videos, the model configuration) travels once per worker: as files a spawned process
reads back without unpickling anything (``local``), or scattered to every Dask worker once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.training.downstream import run_downstream
from crossvideo_kedro.configs.finetune import FinetuneConfig
from crossvideo_kedro.training.precision import set_threads
from crossvideo_kedro.training.predict import spec_dict
from crossvideo_kedro.workers import process_pool

Arrays = dict[str, np.ndarray]
Workers = int | Literal["auto"]


@dataclass(frozen=True)
class DownstreamRun:
    """The run spec: the arguments of one :func:`run_downstream` call that differ between runs of a study.

    ``keep``: return the run's predictions and model state (the showcase runs), not just its scores. ``threads``:
    torch threads the run computes with (None: the process's count). ``device``: overrides ``config.device``
    (``cuda:<k>`` when runs share out the GPUs).
    """

    task: str
    protocol: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    num_classes: int
    state: dict[str, Any] | None
    config: FinetuneConfig
    seed: tuple[int, int]
    lr: float | None = None
    val: tuple[str, ...] | None = None
    keep: bool = False
    threads: int | None = None
    device: str | None = None


@dataclass
class RunResult:
    """What a run gives back: scores, history, wall seconds; predictions / model only for ``keep`` runs."""

    scores: dict[str, float]
    history: pd.DataFrame
    seconds: float
    predictions: dict[str, Any] | None = None
    state_dict: dict[str, Any] | None = None
    spec: dict[str, Any] | None = None


@dataclass(frozen=True)
class Shared:
    """What every run of a study shares: the data and the model configuration."""

    videos: dict[str, Arrays]
    images: dict[str, Arrays] | None
    model_config: ModelConfig
    fusion: bool


# ------------------------------------------------------------------------------------------------ one group


def _execute(run: DownstreamRun, shared: Shared, cache: dict) -> RunResult:
    config = run.config if run.device is None else run.config.model_copy(update={"device": run.device})
    tick = time.perf_counter()
    scores, predictions, history, model = run_downstream(
        run.task, run.protocol, shared.videos, shared.images, list(run.train), list(run.test), run.num_classes,
        shared.model_config, run.state, shared.fusion, config, run.seed, cache=cache, lr=run.lr,
        val_names=list(run.val) if run.val else None)
    result = RunResult(scores, history, time.perf_counter() - tick)
    if run.keep:
        result.predictions = predictions
        result.state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        result.spec = spec_dict(model.spec)
    return result


def execute_group(runs: Sequence[DownstreamRun], shared: Shared) -> list[RunResult]:
    """Run ``runs`` one after another in this process, sharing one frozen-feature cache, each at its own thread
    count; the process gets its thread count back afterwards (a node that follows must not inherit a run's)."""
    previous = torch.get_num_threads()
    cache: dict = {}
    try:
        out = []
        for run in runs:
            if run.threads is not None:
                set_threads(run.threads)
            out.append(_execute(run, shared, cache))
        return out
    finally:
        torch.set_num_threads(previous)


_STAGED: dict[str, Shared] = {}  # per process: the shared data read back from its folder, once


def run_group(runs: Sequence[DownstreamRun], shared: Shared | str) -> list[RunResult]:
    """:func:`execute_group` where the shared data is ``shared`` itself or the folder it was staged in."""
    if isinstance(shared, str):
        if shared not in _STAGED:
            _STAGED.clear()
            _STAGED[shared] = read_shared(Path(shared))
        shared = _STAGED[shared]
    return execute_group(runs, shared)


def write_shared(shared: Shared, folder: Path) -> None:
    """``shared`` as files a worker reads back without unpickling anything: one npz per sequence and modality,
    the model configuration as JSON."""
    names = {}
    for kind, data in (("points", shared.videos), ("images", shared.images or {})):
        (folder / kind).mkdir(parents=True)
        names[kind] = list(data)
        for i, arrays in enumerate(data.values()):
            np.savez(folder / kind / f"{i:06d}.npz", **arrays)
    (folder / "shared.json").write_text(json.dumps({
        "model_config": shared.model_config.model_dump(), "fusion": shared.fusion,
        "images": shared.images is not None, "names": names}))


def read_shared(folder: Path) -> Shared:
    """The :class:`Shared` that :func:`write_shared` wrote to ``folder``."""
    meta = json.loads((folder / "shared.json").read_text())
    data: dict[str, dict[str, Arrays]] = {}
    for kind, names in meta["names"].items():
        data[kind] = {}
        for i, name in enumerate(names):
            with np.load(folder / kind / f"{i:06d}.npz", allow_pickle=False) as z:
                data[kind][name] = {k: z[k] for k in z.files}
    return Shared(data["points"], data["images"] if meta["images"] else None,
                  parse(ModelConfig, meta["model_config"], "model"), bool(meta["fusion"]))


# ------------------------------------------------------------------------------------------------ executors


class InlineExecutor(Executor):
    """Runs each submitted call at once, in this process (the ``workers: 1`` executor)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(err)
        return future


def resolve_workers(workers: Workers, threads: int | None, cpus: int | None = None) -> tuple[int, int | None]:
    """(local worker processes, torch threads per run).

    ``auto``: one process per core at ``threads or 1`` threads. An integer: that many processes, at ``threads`` or
    the cores divided among them (at least 1); with one process, None keeps torch's default in this process.
    ``workers`` and ``threads`` are ``finetune.workers`` and ``finetune.num_threads`` of a parsed FinetuneConfig.
    """
    cpus = cpus or os.cpu_count() or 1
    if workers == "auto":
        return cpus, threads or 1
    if workers == 1:
        return 1, threads
    return workers, threads or max(1, cpus // workers)


def assign_devices(groups: Sequence[Sequence[DownstreamRun]], devices: Sequence[str]) -> list[list[DownstreamRun]]:
    """Group ``g``'s runs get ``devices[g % len(devices)]`` (round-robin: several runs share a GPU, every GPU takes
    its share). No devices: the groups as they are."""
    if not devices:
        return [list(group) for group in groups]
    return [[dataclasses.replace(run, device=devices[g % len(devices)]) for run in group]
            for g, group in enumerate(groups)]


def visible_devices(device: str, count: int | None = None) -> list[str]:
    """``cuda:0`` … ``cuda:<count - 1>`` when ``device`` (``finetune.device``) resolves to CUDA, else [] (runs keep
    their configured device). ``count`` defaults to the GPUs this process sees."""
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return []
    if device.startswith("cuda:"):
        return [device]  # one named GPU
    if device not in ("auto", "cuda"):
        raise ValueError(f"finetune.device must be auto, cpu, cuda or cuda:<index>, got {device!r}")
    count = torch.cuda.device_count() if count is None else count
    if count < 1:
        raise ValueError("finetune.device is 'cuda' but no CUDA device is available")
    return [f"cuda:{k}" for k in range(count)]


@contextlib.contextmanager
def open_executor(shared: Shared, executor: str = "local", processes: int = 1,
                  initializer: Callable[[], None] | None = None) -> Iterator[tuple[Executor, Any]]:
    """An executor for the study's groups and the reference to ``shared`` to pass to :func:`run_group` with them.

    ``executor``: ``local`` (``processes`` spawned processes; one: this process) or a Dask scheduler address.
    ``initializer`` runs first in every local worker process (e.g. to make it die with its parent).
    """
    if executor != "local":
        with _dask_executor(executor, shared) as opened:
            yield opened
        return
    if processes <= 1:
        yield InlineExecutor(), shared
        return
    with tempfile.TemporaryDirectory(prefix="crossvideo-runs-") as folder:
        write_shared(shared, Path(folder))
        with process_pool(processes, initializer=initializer) as pool:  # workers exit with this process
            yield pool, folder


@contextlib.contextmanager
def _dask_executor(address: str, shared: Shared) -> Iterator[tuple[Executor, Any]]:
    try:
        from distributed import Client  # noqa: PLC0415 - optional dependency
    except ImportError as err:
        raise ImportError(f"finetune.executor is {address!r}, a Dask scheduler, but dask.distributed is not "
                          "installed: pip install 'crossvideo_kedro[dask]'") from err
    with Client(address, set_as_default=False) as client:
        reference = client.scatter(shared, broadcast=True, hash=False)  # once to every worker
        yield client.get_executor(pure=False), reference


def map_groups(executor: Executor, shared: Any, groups: Sequence[Sequence[DownstreamRun]],
               on_done: Callable[[int, list[RunResult]], None] | None = None) -> list[list[RunResult]]:
    """Every group's results, in the order of ``groups``, whatever the order they finish in.

    Groups are submitted in the order given (put the long ones first). ``on_done(index, results)`` is called here
    as each group finishes (progress, logging). A run that raises cancels the groups not started and re-raises here.
    """
    results: list[list[RunResult] | None] = [None] * len(groups)
    pending: dict[Future, int] = {executor.submit(run_group, list(g), shared): i for i, g in enumerate(groups)}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                results[i] = future.result()
                if on_done:
                    on_done(i, results[i])
    except BrokenProcessPool as err:
        raise RuntimeError(
            "a fine-tuning worker process died before finishing its runs (killed, out of memory, or it could not "
            "start: workers are spawned and re-import the main module, so a script that runs the study must guard "
            "its code with `if __name__ == '__main__':`); set finetune.workers: 1 to run in this process") from err
    finally:
        for future in pending:
            future.cancel()
    return results  # type: ignore[return-value]
