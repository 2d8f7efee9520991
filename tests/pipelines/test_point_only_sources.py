"""Point-only sources (HOI4D's HDF5 benchmarks, depth-only captures) go through ingest and every downstream task."""

from __future__ import annotations

import pandas as pd
import pytest

from crossvideo_kedro.datasets import HOI4DH5Dataset
from crossvideo_kedro.pipelines.finetune.nodes import finetune_variant_from_scratch
from crossvideo_kedro.pipelines.ingest.nodes import build_sequence_index, ingest_sequences
from tests.datasets.conftest import write_h5
from tests.training.pretrain_worker import TINY_MODEL

INGEST = {"num_points": 32, "target_fps": None, "split": {"train": 0.5, "test": 0.5}, "seed": 0}
FINETUNE = {"steps": 1, "linear_steps": 1, "batch_size": 4, "clip_frames": 4, "progress": False, "device": "cpu",
            "temporal": {"stages": 1, "layers": 2, "channels": 8}}


def study(task: str, protocol: str) -> dict:
    return {"variants": {}, "runs": [{"task": task, "protocol": protocol, "label_fractions": [1.0]}], "seeds": [0],
            "showcase": {"protocol": protocol, "label_fraction": 1.0, "seed": 0}}


def ingest_h5(tmp_path, task: str):
    path = tmp_path / f"{task}.h5"
    write_h5(path, task=task, clips=4, frames=8, points=64)
    classes = {"action_classes": [f"a{i}" for i in range(19)]} if task == "action_segmentation" else {
        "semantic_classes": [f"s{i}" for i in range(49)]}
    raw = HOI4DH5Dataset(filepath=str(path), task=task, **classes).load()
    videos, images, table, class_names, skipped = ingest_sequences(raw, {}, INGEST)
    return videos, images, build_sequence_index(table, {}, skipped, INGEST), class_names


@pytest.mark.parametrize(
    ("source_task", "task", "protocol"),
    [
        ("action_segmentation", "action_segmentation", "full"),
        ("action_segmentation", "action_recognition", "linear"),
        ("semantic_segmentation", "semantic_segmentation", "full"),
    ],
)
def test_hdf5_benchmarks_serve_every_downstream_task(tmp_path, source_task, task, protocol):
    videos, images, index, class_names = ingest_h5(tmp_path, source_task)
    assert images == {} and not index["has_images"].any()
    metrics, predictions, models = finetune_variant_from_scratch(
        videos, images, index, class_names, {"model": TINY_MODEL}, FINETUNE, study(task, protocol), {"init": "scratch"},
        variant_name="scratch",
    )
    headline = {"action_segmentation": "accuracy", "action_recognition": "clip_accuracy",
                "semantic_segmentation": "miou"}[task]
    assert set(metrics["task"]) == {task}
    assert metrics.loc[metrics["metric"] == headline, "value"].between(0, 100).all()
    assert task in models["state_dicts"] and predictions


def test_fusion_on_a_point_only_source_is_skipped_with_one_line(tmp_path, caplog):
    videos, images, index, class_names = ingest_h5(tmp_path, "action_segmentation")
    with caplog.at_level("INFO"):
        metrics, predictions, models = finetune_variant_from_scratch(
            videos, images, index, class_names, {"model": TINY_MODEL}, FINETUNE, study("action_segmentation", "full"),
            {"init": "scratch", "fusion": True}, variant_name="fusion")
    assert metrics.empty and predictions == {} and models["state_dicts"] == {}
    assert sum("fuses image features, but" in r.getMessage() for r in caplog.records) == 1
