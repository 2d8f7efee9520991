"""``kedro run --env msr_action3d`` end to end on a handful of tiny MSR-Action3D files (raw ``.bin`` and ``.npz``)
built from known arrays: the benchmark's split has no val, the environment alone chooses the study, and the summary
reports video accuracy. Sizes are overridden with ``--params`` so the run takes seconds, not hours."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "ingest.num_points": 32, "ingest.min_points": 16,
    "augment.clip_frames": 4, "augment.clip_span": 4, "augment.preview_clips": 1,
    "pretrain.steps": 2, "pretrain.batch_size": 2, "pretrain.warmup_steps": 1, "pretrain.embed_clip_frames": 4,
    "pretrain.progress": "false", "pretrain.model.point.num_points": 32, "pretrain.model.point.num_anchors": 8,
    "pretrain.model.point.k": 8, "pretrain.model.point.conv_channels": "[16]", "pretrain.model.point.dim": 32,
    "pretrain.model.point.depth": 1, "pretrain.model.point.heads": 2, "pretrain.model.head.hidden_dim": 32,
    "pretrain.model.head.out_dim": 16,
    "finetune.steps": 2, "finetune.linear_steps": 2, "finetune.clip_frames": 4, "finetune.batch_size": 4,
    "finetune.progress": "false", "finetune.workers": 1,
    "evaluate.val_from_train": 0.25,
}


def moving_square(action: int, frames: int = 10, height: int = 24, width: int = 32) -> np.ndarray:
    """Depth (T, H, W) in mm: an 8 x 8 square at 2 m moving down the image (action 1) or up (action 2)."""
    depth = np.zeros((frames, height, width), dtype=np.uint32)
    for t in range(frames):
        row = 2 + t if action == 1 else 14 - t
        depth[t, row : row + 8, 12:20] = 2000 + 10 * t
    return depth


def write_msr(folder: Path) -> dict[str, str]:
    """Two actions x subjects 1, 2 (train) and 6, 7 (test); subjects 2 and 7 as preprocessed ``.npz`` points."""
    folder.mkdir(parents=True)
    split = {}
    for action in (1, 2):
        for subject in (1, 2, 6, 7):
            name = f"a{action:02d}_s{subject:02d}_e01_sdepth"
            depth = moving_square(action)
            if subject in (1, 6):  # raw: header (frames, width, height), then the depth values
                header = [depth.shape[0], depth.shape[2], depth.shape[1]]
                np.concatenate([header, depth.ravel()]).astype("<u4").tofile(folder / f"{name}.bin")
            else:  # preprocessed: an object array of per-frame (N_t, 3) points in mm
                t, v, u = np.nonzero(depth)
                frames = np.empty(depth.shape[0], dtype=object)
                frames[:] = [np.stack([u[t == i] - 16.0, v[t == i] - 12.0, depth[t, v, u][t == i]], -1)
                             for i in range(depth.shape[0])]
                np.savez(folder / f"{name}.npz", point_clouds=frames)
            split[name] = "train" if subject <= 5 else "test"
    return split


def latest(path: Path) -> Path:
    return sorted(path.iterdir())[-1] / path.name


@pytest.mark.slow
def test_kedro_run_env_msr_action3d_reaches_a_summary_with_video_accuracy(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "conf", project / "conf")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, project / name)
    (project / "src").mkdir()
    split = write_msr(project / "data" / "01_raw" / "MSRAction3D")
    monkeypatch.delenv("KEDRO_ENV", raising=False)  # --env alone chooses the catalog and the study's variants
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    params = ",".join(f"{key}={value}" for key, value in TINY.items())
    result = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "msr_action3d", "--params", params],
                            cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"

    reporting = project / "data" / "08_reporting"
    index = pd.read_parquet(latest(project / "data" / "02_intermediate" / "sequence_index.parquet"))
    assert dict(zip(index["sequence"], index["split"], strict=True)) == split  # train and test only
    assert (index["num_points"] == 32).all() and not index["has_images"].any()
    metrics = pd.read_parquet(latest(reporting / "metrics.parquet"))
    assert set(metrics["variant"]) == {"scratch", "pretrained_intra"} and set(metrics["task"]) == {
        "action_recognition"}
    assert set(metrics["protocol"]) == {"full", "linear"} and set(metrics["pretrain_seed"]) == {0, 1, 2}
    assert set(metrics["num_train_sequences"]) == {3}  # of 4 training videos, one was carved as val (0.25)
    video = metrics[metrics["metric"] == "video_accuracy"]["value"]
    assert len(video) == 12 and video.isin([0.0, 25.0, 50.0, 75.0, 100.0]).all()  # 4 test videos per run
    summary = latest(reporting / "ablation_summary.md").read_text()
    assert "## action recognition: clip_accuracy" in summary and "## action recognition: video_accuracy" in summary
    assert "pretrained_intra" in summary
