"""Downstream runs give the same numbers on every executor: this process, local worker processes, a Dask cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.pipelines.finetune.nodes import finetune_variant
from crossvideo_kedro.configs import FinetuneConfig, parse
from crossvideo_kedro.training.model import CrossVideoModel
from crossvideo_kedro.training.run_executor import (
    DownstreamRun,
    InlineExecutor,
    Shared,
    assign_devices,
    map_groups,
    open_executor,
    resolve_workers,
    visible_devices,
)
from tests.training.pretrain_worker import TINY_MODEL
from tests.training.test_finetune import NUM_FRAMES, toy_videos

STUDY = {
    "variants": {"intra_only": {"init": "pretrained"}},
    "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.5, 1.0]},
             {"task": "semantic_segmentation", "protocol": "full", "label_fractions": [1.0]},
             {"task": "action_segmentation", "protocol": "linear", "label_fractions": [0.5, 1.0]},
             {"task": "semantic_segmentation", "protocol": "linear", "label_fractions": [1.0]}],
    "seeds": [0, 1],
    "showcase": {"protocol": "full", "label_fraction": 1.0, "seed": 0},
    "plots": {"compare": ["intra_only"]},
}
ROOT = Path(__file__).resolve().parents[2]
FINETUNE = {"steps": 3, "linear_steps": 3, "batch_size": 4, "sequence_batch": 2, "clip_frames": 4, "progress": False,
            "device": "cpu", "val_every": 2, "lr_grid": [0.001, 0.003],
            "temporal": {"stages": 1, "layers": 2, "channels": 8}}


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def source():
    videos, _ = toy_videos(6)
    index = pd.DataFrame({"sequence": sorted(videos), "split": ["train"] * 4 + ["val", "test"],
                          "num_frames": NUM_FRAMES, "has_images": False, "has_frame_labels": True,
                          "has_point_labels": True})
    return videos, index, {"action": ["rest", "up", "down"], "semantic": ["still", "moving"]}


def test_workers_reproduce_one_process_run_for_run(keep_threads):
    """lr chosen on val, full and linear runs (one shared frozen-feature cache per encoder), showcase predictions
    and models: all equal, with 2 worker processes of 1 thread and with the node's own process at 1 thread."""
    videos, index, classes = source()
    config = parse(ModelConfig, TINY_MODEL, "model")
    torch.manual_seed(0)
    runs = [{**CrossVideoModel(config, use_images=False, terms={"intra_video": 1.0}).encoder_state(),
             "pretrain_seed": seed} for seed in (0, 1)]
    out = {}
    for workers in (1, 2):
        out[workers] = finetune_variant({"runs": runs}, videos, {}, index, classes, {"seeds": [0, 1]},
                                        {**FINETUNE, "workers": workers, "num_threads": 1}, STUDY,
                                        STUDY["variants"]["intra_only"], variant_name="intra_only")
    (m1, p1, s1), (m2, p2, s2) = out[1], out[2]
    assert len(m1) == len(m2) and len(m1[m1.metric == "miou"]) == 2 * 2 * 2  # 2 protocols x 2 x 2 replicates
    assert set(m1.metric[m1.metric.str.startswith("val_accuracy@lr=")]) == {"val_accuracy@lr=0.001",
                                                                            "val_accuracy@lr=0.003"}
    keep = m1.metric != "seconds"
    pd.testing.assert_frame_equal(m1[keep].reset_index(drop=True), m2[m2.metric != "seconds"].reset_index(drop=True))
    assert sorted(p1) == sorted(p2) == ["action_segmentation__s5", "semantic_segmentation__s5"]
    for key in p1:
        np.testing.assert_array_equal(p1[key]["pred"], p2[key]["pred"])
    assert s1["specs"] == s2["specs"] and sorted(s1["state_dicts"]) == ["action_segmentation", "semantic_segmentation"]
    for task, state in s1["state_dicts"].items():
        for name, value in state.items():
            torch.testing.assert_close(value, s2["state_dicts"][task][name], rtol=0, atol=0)


def _run(task: str, threads: int | None = 1) -> DownstreamRun:
    config = parse(FinetuneConfig, {k: v for k, v in FINETUNE.items() if k != "lr_grid"}, "finetune")
    return DownstreamRun(task, "full", ("s0", "s1"), ("s5",), 3, None, config, (0, 0), threads=threads)


def run_groups(groups, shared, workers, on_done=None):
    with open_executor(shared, "local", workers) as (executor, ref):
        return map_groups(executor, ref, groups, on_done)


def test_a_failing_run_in_a_worker_raises_here():
    videos, _, _ = source()
    shared = Shared(videos, None, parse(ModelConfig, TINY_MODEL, "model"), fusion=False)
    with pytest.raises(ValueError, match="task must be one of"):
        run_groups([[_run("action_segmentation")], [_run("dancing")]], shared, workers=2)


def test_on_done_sees_every_group_and_results_keep_their_order(keep_threads):
    videos, _, _ = source()
    shared = Shared(videos, None, parse(ModelConfig, TINY_MODEL, "model"), fusion=False)
    seen = []
    groups = [[_run("action_segmentation")], [_run("semantic_segmentation"), _run("action_segmentation")]]
    results = run_groups(groups, shared, workers=2, on_done=lambda i, rs: seen.append((i, len(rs))))
    assert sorted(seen) == [(0, 1), (1, 2)]
    assert [len(r) for r in results] == [1, 2]
    assert "miou" in results[1][0].scores and "accuracy" in results[1][1].scores
    assert results[0][0].scores == results[1][1].scores  # the same run, in another worker: the same numbers
    assert results[0][0].predictions is None and results[0][0].state_dict is None  # only `keep` runs send models


def test_runs_in_this_process_leave_its_thread_count_as_they_found_it(keep_threads):
    """A run at 1 thread in the node's process must give the process its own count back: the pretraining that runs
    next in a full ``kedro run`` would otherwise take 1 thread (slower, and other numbers than
    ``kedro run --pipelines pretrain``)."""
    videos, _, _ = source()
    shared = Shared(videos, None, parse(ModelConfig, TINY_MODEL, "model"), fusion=False)
    torch.set_num_threads(2)
    assert map_groups(InlineExecutor(), shared, []) == []
    seen = []
    real = torch.get_num_threads
    map_groups(InlineExecutor(), shared, [[_run("action_segmentation")]], on_done=lambda i, rs: seen.append(real()))
    assert torch.get_num_threads() == 2
    from crossvideo_kedro.training import run_executor

    counts = []
    original = run_executor._execute
    run_executor._execute = lambda *args: (counts.append(real()), original(*args))[1]
    try:
        map_groups(InlineExecutor(), shared, [[_run("action_segmentation", threads=1)]])
    finally:
        run_executor._execute = original
    assert counts == [1] and torch.get_num_threads() == 2  # the run took its 1 thread; the process got its 2 back


def test_resolve_workers():
    assert resolve_workers("auto", None, cpus=2) == (2, 1)  # the default on 2 cores: 2 processes at 1 thread
    assert resolve_workers("auto", None, cpus=16) == (16, 1)  # a bigger machine runs more at once
    assert resolve_workers("auto", 2, cpus=16) == (16, 2)
    assert resolve_workers(1, None, cpus=2) == (1, None)  # one worker: torch's default threads, in process
    assert resolve_workers(2, None, cpus=2) == (2, 1)
    assert resolve_workers(2, None, cpus=8) == (2, 4)
    assert resolve_workers(3, None, cpus=2) == (3, 1)
    assert resolve_workers(2, 2, cpus=2) == (2, 2)
    with pytest.raises(ValueError, match="finetune.workers must be 'auto' or an integer >= 1, got 0"):
        parse(FinetuneConfig, {"workers": 0}, "finetune")  # resolve_workers takes the parsed values
    with pytest.raises(ValueError, match="finetune.num_threads must be an integer >= 1 or null, got 0"):
        parse(FinetuneConfig, {"workers": 2, "num_threads": 0}, "finetune")


def test_finetune_config_takes_auto_workers_and_a_scheduler_address():
    assert parse(FinetuneConfig, {"workers": "auto"}, "finetune").workers == "auto"
    assert parse(FinetuneConfig, {"executor": "tcp://10.0.0.5:8786"}, "finetune").executor == "tcp://10.0.0.5:8786"
    with pytest.raises(ValueError, match="finetune.workers must be"):
        parse(FinetuneConfig, {"workers": "many"}, "finetune")
    with pytest.raises(ValueError, match="finetune.executor must be 'local' or a Dask scheduler address"):
        parse(FinetuneConfig, {"executor": "dask"}, "finetune")


def test_runs_share_out_the_gpus_round_robin():
    """Group g runs on GPU g mod count: three GPUs take groups 0,3 / 1,4 / 2; one GPU takes every group."""
    groups = [[_run("action_segmentation"), _run("semantic_segmentation")]] + [[_run("action_segmentation")]] * 4
    devices = visible_devices("cuda", count=3)
    assert devices == ["cuda:0", "cuda:1", "cuda:2"]
    placed = assign_devices(groups, devices)
    assert [[run.device for run in group] for group in placed] == [
        ["cuda:0", "cuda:0"], ["cuda:1"], ["cuda:2"], ["cuda:0"], ["cuda:1"]]
    assert placed[0][0].config == groups[0][0].config  # only the device changes
    assert {run.device for group in assign_devices(groups, visible_devices("cuda", count=1)) for run in group} == \
        {"cuda:0"}
    assert visible_devices("cpu") == [] and assign_devices(groups, [])[1][0].device is None  # CPU: as configured
    assert visible_devices("cuda:1") == ["cuda:1"]
    with pytest.raises(ValueError, match="no CUDA device"):
        visible_devices("cuda", count=0)
    with pytest.raises(ValueError, match="finetune.device must be"):
        visible_devices("tpu")


def test_a_dask_cluster_gives_the_numbers_of_the_local_pool(keep_threads):
    """The same study slice (lr chosen on val, full and linear runs, showcase models) on a Dask LocalCluster of
    2 worker processes at 1 thread and on the local pool of 2 processes: equal metrics, predictions and models."""
    distributed = pytest.importorskip("distributed")
    videos, index, classes = source()
    study = {**STUDY, "runs": STUDY["runs"][:1] + STUDY["runs"][2:3], "seeds": [0]}
    runs = [{**CrossVideoModel(parse(ModelConfig, TINY_MODEL, "model"), use_images=False,
                               terms={"intra_video": 1.0}).encoder_state(), "pretrain_seed": 0}]
    out = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster:
        for executor in ("local", cluster.scheduler_address):
            out[executor] = finetune_variant({"runs": runs}, videos, {}, index, classes, {"seeds": [0]},
                                             {**FINETUNE, "workers": 2, "num_threads": 1, "executor": executor}, study,
                                             study["variants"]["intra_only"], variant_name="intra_only")
    (m1, p1, s1), (m2, p2, s2) = out.values()
    assert len(m1[m1.metric == "accuracy"]) == 4  # full and linear, 50 % and 100 % (one linear group)
    keep1, keep2 = m1.metric != "seconds", m2.metric != "seconds"
    pd.testing.assert_frame_equal(m1[keep1].reset_index(drop=True), m2[keep2].reset_index(drop=True))
    assert sorted(p1) == sorted(p2) == ["action_segmentation__s5"]
    np.testing.assert_array_equal(p1["action_segmentation__s5"]["pred"], p2["action_segmentation__s5"]["pred"])
    for name, value in s1["state_dicts"]["action_segmentation"].items():
        torch.testing.assert_close(value, s2["state_dicts"]["action_segmentation"][name], rtol=0, atol=0)


@pytest.mark.slow
def test_a_worker_that_cannot_start_is_an_error_not_a_hang(tmp_path):
    """A script without a ``__main__`` guard: its spawned workers re-run it and die while starting. The parent must
    fail with a message saying so (it hung before the start-up data went through files)."""
    script = tmp_path / "study.py"
    script.write_text(
        "from crossvideo_kedro.training.run_executor import Shared\n"
        "from crossvideo_kedro.configs import ModelConfig, parse\n"
        "from tests.training.test_run_executor import _run, run_groups, source\n"
        "from tests.training.pretrain_worker import TINY_MODEL\n"
        "shared = Shared(source()[0], None, parse(ModelConfig, TINY_MODEL, 'model'), fusion=False)\n"
        "run_groups([[_run('action_segmentation')], [_run('action_segmentation')]], shared, workers=2)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0
    assert "guard its code with `if __name__ == '__main__':`" in proc.stderr and "finetune.workers: 1" in proc.stderr
