"""Downstream runs in worker processes give exactly the numbers of the same runs in one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.pipelines.finetune.nodes import finetune_variant
from crossvideo_kedro.training.finetune import FinetuneConfig
from crossvideo_kedro.training.model import CrossVideoModel
from crossvideo_kedro.training.runpool import DownstreamRun, Shared, resolve_workers, run_groups
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
    config = ModelConfig.from_dict(TINY_MODEL)
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


def _run(task: str) -> DownstreamRun:
    config = FinetuneConfig.from_dict({k: v for k, v in FINETUNE.items() if k != "lr_grid"})
    return DownstreamRun(task, "full", ("s0", "s1"), ("s5",), 3, None, config, (0, 0))


def test_a_failing_run_in_a_worker_raises_here():
    videos, _, _ = source()
    shared = Shared(videos, None, ModelConfig.from_dict(TINY_MODEL), fusion=False)
    with pytest.raises(ValueError, match="task must be one of"):
        run_groups([[_run("action_segmentation")], [_run("dancing")]], shared, workers=2, threads=1)


def test_on_done_sees_every_group_and_results_keep_their_order(keep_threads):
    videos, _, _ = source()
    shared = Shared(videos, None, ModelConfig.from_dict(TINY_MODEL), fusion=False)
    seen = []
    groups = [[_run("action_segmentation")], [_run("semantic_segmentation"), _run("action_segmentation")]]
    results = run_groups(groups, shared, workers=2, threads=1, on_done=lambda i, rs: seen.append((i, len(rs))))
    assert sorted(seen) == [(0, 1), (1, 2)]
    assert [len(r) for r in results] == [1, 2]
    assert "miou" in results[1][0].scores and "accuracy" in results[1][1].scores
    assert results[0][0].scores == results[1][1].scores  # the same run, in another worker: the same numbers
    assert results[0][0].predictions is None and results[0][0].state_dict is None  # only `keep` runs send models


def test_runs_in_this_process_leave_its_thread_count_as_they_found_it(keep_threads):
    """A study node with no lr choice calls ``run_groups([], ..., workers=2)``: that went down the in-process path
    and set this process to the workers' 1 thread, so the pretraining that ran next in a full ``kedro run`` took
    1 thread (slower, and other numbers than ``kedro run --pipelines pretrain``)."""
    videos, _, _ = source()
    shared = Shared(videos, None, ModelConfig.from_dict(TINY_MODEL), fusion=False)
    torch.set_num_threads(2)
    assert run_groups([], shared, workers=2, threads=1) == []
    assert torch.get_num_threads() == 2
    seen = []
    real = torch.get_num_threads
    run_groups([[_run("action_segmentation")]], shared, workers=2, threads=1,
               on_done=lambda i, rs: seen.append(real()))
    assert seen == [1] and torch.get_num_threads() == 2  # the run took the workers' count; the process got its own back


def test_resolve_workers():
    assert resolve_workers(1, None, cpus=2) == (1, None)  # one worker: torch's default threads, in process
    assert resolve_workers(2, None, cpus=2) == (2, 1)
    assert resolve_workers(2, None, cpus=8) == (2, 4)
    assert resolve_workers(3, None, cpus=2) == (3, 1)
    assert resolve_workers(2, 2, cpus=2) == (2, 2)
    with pytest.raises(ValueError, match="finetune.workers must be >= 1"):
        resolve_workers(0, None)
    with pytest.raises(ValueError, match="finetune.num_threads must be >= 1"):
        resolve_workers(2, 0)


@pytest.mark.slow
def test_a_worker_that_cannot_start_is_an_error_not_a_hang(tmp_path):
    """A script without a ``__main__`` guard: its spawned workers re-run it and die while starting. The parent must
    fail with a message saying so (it hung before the start-up data went through files)."""
    script = tmp_path / "study.py"
    script.write_text(
        "from crossvideo_kedro.training.runpool import Shared, run_groups\n"
        "from crossvideo_kedro.models.presets import ModelConfig\n"
        "from tests.training.test_runpool import _run, source\n"
        "from tests.training.pretrain_worker import TINY_MODEL\n"
        "shared = Shared(source()[0], None, ModelConfig.from_dict(TINY_MODEL), fusion=False)\n"
        "run_groups([[_run('action_segmentation')], [_run('action_segmentation')]], shared, workers=2, threads=1)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0
    assert "guard its code with `if __name__ == '__main__':`" in proc.stderr and "finetune.workers: 1" in proc.stderr
