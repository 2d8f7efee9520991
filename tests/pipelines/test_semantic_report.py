"""The semantic-segmentation part of the study summary (per-class IoU, points per class) and the showcase headline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossvideo_kedro import plots
from crossvideo_kedro.pipelines.evaluate.nodes import count_class_points, summarise_study

STUDY = {
    "variants": {"scratch": {"init": "scratch"}, "crossvideo": {"init": "pretrained"}},
    "include": ["scratch", "crossvideo"],
    "runs": [{"task": "semantic_segmentation", "protocol": "full", "label_fractions": [0.1]}],
    "seeds": [0],
    "showcase": {"protocol": "full", "label_fraction": 0.1, "seed": 0},
    "plots": {"compare": ["scratch"]},
}
CLASSES = {"semantic": ["background", "table", "hand", "distractor", "mug", "cone"]}


def semantic_metrics() -> pd.DataFrame:
    """Two pretraining seeds per variant; scratch mug IoU 10 and 30, crossvideo 20 and 40; cone only in seed 0."""
    rows = []
    for variant, base in (("scratch", 0.0), ("crossvideo", 10.0)):
        for seed, values in enumerate([{"miou": 40.0, "iou_2": 80.0, "iou_4": 10.0, "iou_5": 2.0},
                                       {"miou": 50.0, "iou_2": 90.0, "iou_4": 30.0}]):
            rows += [{"variant": variant, "task": "semantic_segmentation", "protocol": "full", "label_fraction": 0.1,
                      "pretrain_seed": seed, "seed": 0, "metric": m, "value": v + base} for m, v in values.items()]
    return pd.DataFrame(rows)


def test_count_class_points_averages_over_test_frames_only() -> None:
    videos = {"a": {"point_labels": np.array([[0, 0, 2, 4], [0, 2, 2, -1]])},     # 2 frames
              "b": {"point_labels": np.array([[1, 1, 1, 4], [1, 0, 5, 5], [0, 0, 0, 0]])},  # 3 frames
              "c": {"point_labels": np.full((4, 4), 5)}}                           # train: not counted
    index = pd.DataFrame({"sequence": ["a", "b", "c"], "split": ["test", "test", "train"]})
    counts = count_class_points(videos, index, STUDY).set_index("class")
    assert counts["points_per_frame"].to_list() == pytest.approx([8 / 5, 4 / 5, 3 / 5, 0.0, 2 / 5, 2 / 5])
    assert counts["frames"].iloc[0] == 5


def test_count_class_points_without_point_labels_is_empty() -> None:
    index = pd.DataFrame({"sequence": ["a"], "split": ["test"]})
    assert count_class_points({"a": {"frame_labels": np.zeros(3)}}, index, STUDY).empty


def test_summary_has_per_class_iou_and_points_per_class() -> None:
    points = pd.DataFrame({"class": range(6), "points_per_frame": [150.0, 60.0, 30.0, 4.0, 12.5, 0.0],
                           "frames": 90})
    _, summary = summarise_study(semantic_metrics(), STUDY, CLASSES, points)
    lines = summary.splitlines()
    assert "| variant, protocol, labels | mIoU | hand | mug | cone |" in lines
    assert "| scratch, full 10% | 45.0 | 85.0 | 20.0 | 2.0 |" in lines      # cone: seed 0 only
    assert "| crossvideo, full 10% | 55.0 | 95.0 | 30.0 | 12.0 |" in lines
    assert lines.index("| scratch, full 10% | 45.0 | 85.0 | 20.0 | 2.0 |") < lines.index(
        "| crossvideo, full 10% | 55.0 | 95.0 | 30.0 | 12.0 |")             # the study's variant order
    assert "Points per class per frame in the test split (mean over 90 frames):" in lines
    assert "| points per frame | 150.0 | 60.0 | 30.0 | 4.0 | 12.5 | 0.0 |" in lines


def test_summary_without_semantic_results_has_no_class_table() -> None:
    metrics = semantic_metrics().assign(task="action_segmentation", metric="accuracy")
    _, summary = summarise_study(metrics, STUDY, CLASSES, None)
    assert "Per-class IoU" not in summary and "Points per class" not in summary


def test_showcase_headline_reports_the_object_not_the_frame() -> None:
    truth = np.array([0] * 90 + [5] * 10)           # 90 background points right, the 10 cone points all wrong
    pred = np.array([0] * 90 + [4] * 10)
    headline = plots.object_headline(pred, truth, CLASSES["semantic"])
    assert headline == "predicted: object 0% of its 10 points correct (frame 90%)"
    pred[-3:] = 5
    assert "object 30% of its 10 points" in plots.object_headline(pred, truth, CLASSES["semantic"])
    assert plots.object_headline(pred, truth, None) == "predicted (93% of points correct)"
    assert plots.object_headline(pred[:90], truth[:90], CLASSES["semantic"]) == "predicted (100% of points correct)"
