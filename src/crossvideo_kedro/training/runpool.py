"""Independent downstream runs, in this process or spread over worker processes (``finetune.workers``).

A study node runs tens of short fine-tuning runs. On a 2-core CPU one run with 2 threads keeps the cores busy only
part of the time (small ops, Python between kernels), so the runs go to ``workers`` spawned processes with
``threads`` torch threads each. Measured on 2 cores (bf16): one semantic-segmentation run (150 steps) takes 28.8 s
with 2 threads, two concurrent 1-thread runs 36–37 s each (1.56× the throughput); one pretraining seed's whole
scratch grid (14 runs) 226 s in one process, 190 s with 2 workers (1.19×: action-segmentation runs use the second
thread better, and each worker spends ~7 s starting).

A run's numbers depend on its parameters and its thread count only — not on the process it runs in, the worker
count or the order runs finish in (tested): every run seeds itself (:func:`~crossvideo_kedro.training.finetune.
run_downstream`), and results come back in submission order.

Runs are submitted in **groups**: the runs of a group execute one after another in one process and share one
frozen-feature cache (linear probes of one encoder), so that cache is computed once, as in a single process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.training.finetune import FinetuneConfig, run_downstream
from crossvideo_kedro.training.precision import set_threads
from crossvideo_kedro.training.predict import spec_dict

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class DownstreamRun:
    """The arguments of one :func:`run_downstream` call that differ between runs of a node.

    ``keep``: return the run's predictions and model state (the showcase runs), not just its scores.
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
    """What every run of a node shares (sent once to each worker): the data and the model configuration."""

    videos: dict[str, Arrays]
    images: dict[str, Arrays] | None
    model_config: ModelConfig
    fusion: bool


def execute_group(runs: Sequence[DownstreamRun], shared: Shared) -> list[RunResult]:
    """Run ``runs`` one after another in this process, sharing one frozen-feature cache."""
    cache: dict = {}
    out = []
    for run in runs:
        tick = time.perf_counter()
        scores, predictions, history, model = run_downstream(
            run.task, run.protocol, shared.videos, shared.images, list(run.train), list(run.test), run.num_classes,
            shared.model_config, run.state, shared.fusion, run.config, run.seed, cache=cache, lr=run.lr,
            val_names=list(run.val) if run.val else None)
        result = RunResult(scores, history, time.perf_counter() - tick)
        if run.keep:
            result.predictions = predictions
            result.state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            result.spec = spec_dict(model.spec)
        out.append(result)
    return out


_SHARED: Shared | None = None


def _write_shared(shared: Shared, folder: Path) -> None:
    """``shared`` as files a worker reads back without unpickling anything: one npz per sequence and modality,
    the model configuration as JSON. (A spawned worker gets its start-up arguments through a pipe the parent writes
    in full before the worker runs; tens of MB there would hang the parent if the worker died first.)"""
    names = {}
    for kind, data in (("points", shared.videos), ("images", shared.images or {})):
        (folder / kind).mkdir()
        names[kind] = list(data)
        for i, arrays in enumerate(data.values()):
            np.savez(folder / kind / f"{i:06d}.npz", **arrays)
    (folder / "shared.json").write_text(json.dumps({
        "model_config": dataclasses.asdict(shared.model_config), "fusion": shared.fusion,
        "images": shared.images is not None, "names": names}))


def _read_shared(folder: Path) -> Shared:
    meta = json.loads((folder / "shared.json").read_text())
    data: dict[str, dict[str, Arrays]] = {}
    for kind, names in meta["names"].items():
        data[kind] = {}
        for i, name in enumerate(names):
            with np.load(folder / kind / f"{i:06d}.npz", allow_pickle=False) as z:
                data[kind][name] = {k: z[k] for k in z.files}
    return Shared(data["points"], data["images"] if meta["images"] else None,
                  ModelConfig.from_dict(meta["model_config"]), bool(meta["fusion"]))


def _init_worker(folder: str, threads: int) -> None:
    global _SHARED
    _SHARED = _read_shared(Path(folder))
    set_threads(threads)


def _worker_group(runs: Sequence[DownstreamRun]) -> list[RunResult]:
    assert _SHARED is not None, "worker not initialised"
    return execute_group(runs, _SHARED)


def resolve_workers(workers: int, threads: int | None, cpus: int | None = None) -> tuple[int, int | None]:
    """(worker processes, torch threads per run). ``threads=None``: the cores divided among the workers (at least
    1); with one worker, None keeps torch's default in this process."""
    if workers < 1:
        raise ValueError(f"finetune.workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"finetune.num_threads must be >= 1 or null, got {threads}")
    if workers == 1:
        return 1, threads
    return workers, threads or max(1, (cpus or os.cpu_count() or 1) // workers)


def run_groups(groups: Sequence[Sequence[DownstreamRun]], shared: Shared, workers: int = 1,
               threads: int | None = None,
               on_done: Callable[[int, list[RunResult]], None] | None = None) -> list[list[RunResult]]:
    """Every group's results, in the order of ``groups``.

    ``workers == 1``: in this process (``threads`` set if not None). Otherwise ``workers`` spawned processes (never
    more than there are groups) with ``threads`` torch threads each; groups are handed out as workers free up, in
    the order given (put the long ones first). ``on_done(index, results)`` is called in this process as each group
    finishes (progress, logging). A run that raises stops the rest and re-raises here.
    """
    workers, threads = resolve_workers(workers, threads)
    results: list[list[RunResult] | None] = [None] * len(groups)
    if workers == 1 or len(groups) <= 1:
        # in this process, at the runs' thread count (their numbers depend on it), then back to the caller's: the
        # nodes that follow in this process (pretraining after a scratch node) must not inherit a worker's count
        previous = torch.get_num_threads()
        try:
            if threads is not None and groups:
                set_threads(threads)
            for i, group in enumerate(groups):
                results[i] = execute_group(group, shared)
                if on_done:
                    on_done(i, results[i])
        finally:
            torch.set_num_threads(previous)
        return results  # type: ignore[return-value]
    with tempfile.TemporaryDirectory(prefix="crossvideo-runpool-") as folder, \
            ProcessPoolExecutor(min(workers, len(groups)), mp_context=get_context("spawn"), initializer=_init_worker,
                                initargs=(_staged(shared, Path(folder)), threads)) as pool:
        pending: dict[Future, int] = {pool.submit(_worker_group, list(g)): i for i, g in enumerate(groups)}
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
                "start: workers are spawned and re-import the main module, so a script that runs the study must "
                "guard its code with `if __name__ == '__main__':`); set finetune.workers: 1 to run in this "
                "process") from err
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results  # type: ignore[return-value]


def _staged(shared: Shared, folder: Path) -> str:
    _write_shared(shared, folder)
    return str(folder)


def quiet(config: FinetuneConfig) -> FinetuneConfig:
    """``config`` without per-run progress bars (runs in workers, or under a node's own bar)."""
    return replace(config, progress=False)
