"""Plots as a reader sees them, the figure dataset that skips plots that do not apply, kedro-viz previews and layers,
and the point cloud / 3-D view outputs of ``predict``."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kedro.io import DatasetError, Version
from matplotlib.figure import Figure
from scipy import stats

from crossvideo_kedro import plots
from crossvideo_kedro.datasets.checkpoint import TorchCheckpointDataset
from crossvideo_kedro.datasets.npz import NpzPartitionsDataset
from crossvideo_kedro.datasets.plots import FigureDataset
from crossvideo_kedro.datasets.ply import PointCloudFramesDataset, read_ply

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ["rest", "reach", "grasp", "lift", "carry", "place"]
SEMANTIC = ["background", "table", "hand", "mug"]


def _metrics() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for variant in ("scratch", "crossvideo"):
        for task, metric, runs in (("action_segmentation", "accuracy", {"full": [0.1], "linear": [0.1, 0.3, 1.0]}),
                                   ("semantic_segmentation", "miou", {"full": [0.1]}),
                                   ("action_recognition", "clip_accuracy", {"linear": [0.1, 1.0]})):
            for protocol, fractions in runs.items():
                for fraction in fractions:
                    for seed in range(3):
                        rows.append({"variant": variant, "task": task, "protocol": protocol,
                                     "label_fraction": fraction, "seed": seed, "metric": metric,
                                     "value": 30 + 20 * fraction + rng.normal(0, 2)})
                        if task == "semantic_segmentation":
                            rows += [{"variant": variant, "task": task, "protocol": protocol,
                                      "label_fraction": fraction, "seed": seed, "metric": f"iou_{c}",
                                      "value": 10.0 * c + seed} for c in range(4)]
    return pd.DataFrame(rows)


def _panels(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_importing_plots_leaves_the_backend_and_pyplot_alone():
    """The old module called matplotlib.use("Agg") on import, which switched notebooks' inline backend off."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        importlib.reload(plots)
        assert matplotlib.get_backend() == "svg"
        figures = plt.get_fignums()
        plots.plot_confusion(np.eye(3, dtype=int) * 5, ["a", "b", "c"])
        assert plt.get_fignums() == figures  # object API: nothing registered with pyplot
    finally:
        matplotlib.use(before)


def test_label_efficiency_is_a_grid_of_tasks_by_protocols_with_t_intervals():
    metrics = _metrics()
    fig = plots.plot_label_efficiency(metrics, {"action_segmentation": "accuracy",
                                                "semantic_segmentation": "miou",
                                                "action_recognition": "clip_accuracy"})
    titles = [ax.get_title() for ax in _panels(fig)]
    # 3 task rows; protocols that a task did not run leave no empty panel
    assert titles == ["action segmentation, full, 10% labels", "action segmentation, linear",
                      "semantic segmentation, full, 10% labels", "action recognition, linear"]
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == ["scratch", "crossvideo"]
    assert all(ax.get_legend() is None for ax in fig.axes)  # the legend is outside the data
    # the error bar of crossvideo, linear, 30 %: the 95 % Student-t interval over the 3 seeds
    values = metrics.query("variant == 'crossvideo' and protocol == 'linear' and label_fraction == 0.3 "
                           "and metric == 'accuracy'")["value"].to_numpy()
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    linear = _panels(fig)[1]
    bars = [c for c in linear.collections if c.get_segments()]
    tops = {round(float(s[1, 1] - s[0, 1]) / 2, 6) for c in bars for s in c.get_segments()}
    assert round(half, 6) in tops


def test_label_efficiency_without_headline_metrics_is_skipped(caplog):
    with caplog.at_level(logging.INFO, logger="crossvideo_kedro.plots"):
        assert plots.plot_label_efficiency(_metrics().assign(metric="edit"), {"action_segmentation": "accuracy"}) \
            is None
    assert "label efficiency plot skipped" in caplog.text


def test_confusion_is_row_normalised_with_a_colour_bar_and_a_title():
    matrix = np.array([[8, 2, 0], [1, 1, 0], [0, 0, 0]])
    fig = plots.plot_confusion(matrix, ["rest", "reach", "grasp"], title="crossvideo, full, 10% labels")
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(image[0], [80, 20, 0])
    np.testing.assert_allclose(image[1], [50, 50, 0])
    assert np.ma.getmaskarray(image)[2].all() or np.isnan(np.asarray(image[2], dtype=float)).all()  # no frames
    assert len(fig.axes) == 2 and "% of the true class" in fig.axes[1].get_ylabel()
    assert fig.axes[0].get_title() == "crossvideo, full, 10% labels"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["rest (10)", "reach (2)", "grasp (0)"]


def test_timeline_legend_lists_every_class_of_every_panel():
    """The old legend took only the last panel's classes: lift and place went missing."""
    rows = [("seq_a", {"ground truth": np.array([0, 0, 3, 3, 5]), "crossvideo": np.array([0, 1, 1, 3, 5])}),
            ("seq_b", {"ground truth": np.array([0, 2, 2, 2, 2]), "crossvideo": np.array([0, 0, 2, 2, 4])})]
    fig = plots.plot_timelines(rows, ACTIONS, title="crossvideo, full, 10% labels")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["rest", "reach", "grasp", "lift", "carry", "place"]
    assert plots.plot_timelines([], ACTIONS) is None


def test_per_class_iou_without_semantic_task_is_none(caplog):
    metrics = _metrics()
    with caplog.at_level(logging.INFO, logger="crossvideo_kedro.plots"):
        assert plots.plot_per_class_iou(metrics[metrics["task"] != "semantic_segmentation"], SEMANTIC, []) is None
    assert "no semantic segmentation results" in caplog.text
    fig = plots.plot_per_class_iou(metrics, SEMANTIC, ["scratch", "crossvideo"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == SEMANTIC
    heights = [p.get_height() for p in fig.axes[0].patches][:4]  # scratch: mean over seeds 0..2 of 10c + seed
    np.testing.assert_allclose(heights, [1, 11, 21, 31])
    assert "full, 10% labels" in fig.axes[0].get_title()


def _video(frames: int = 4, points: int = 40) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.array([1] * 30 + [2] * 6 + [3] * 4)[None], frames, axis=0).astype(np.int16)
    return {"points": rng.uniform([-0.3, -0.3, 0.5], [0.3, 0.3, 1.0], (frames, points, 3)).astype(np.float32),
            "point_labels": labels, "frame_labels": np.array([0, 1, 1, 2][:frames], dtype=np.int16),
            "timestamps": np.arange(frames, dtype=np.float32) / 7.5}


def test_semantic_frame_reports_per_class_accuracy_next_to_the_overall_one():
    """75% of the points right overall while every hand and mug point is wrong: the headline leads with the object
    (the mug) and the bars show every class."""
    video = _video()
    pred = np.ones_like(video["point_labels"])  # everything predicted "table"
    fig = plots.plot_semantic_frame("seq_a", video, pred, SEMANTIC, title="crossvideo: seq_a (full, 10% labels)")
    assert fig.axes[1].get_title() == "predicted: object 0% of its 4 points correct (frame 75%)"
    bars = fig.axes[2]
    accuracy = dict(zip([t.get_text() for t in bars.get_yticklabels()], [p.get_width() for p in bars.patches],
                        strict=True))
    assert accuracy == {"hand (6 pts)": 0.0, "mug (4 pts)": 0.0, "table (30 pts)": 100.0}
    assert fig.get_suptitle() == "crossvideo: seq_a (full, 10% labels)"


def test_depth_only_preview_has_no_image_panel_and_a_label_legend(caplog):
    video = _video()
    with caplog.at_level(logging.INFO, logger="crossvideo_kedro.plots"):
        fig = plots.plot_sequence_preview("seq_a", video, None, {"action": ACTIONS, "semantic": SEMANTIC})
    titles = [ax.get_title() for ax in fig.axes]
    assert not any("image" in t for t in titles) and "no image" in caplog.text
    labels_ax = next(ax for ax in fig.axes if ax.get_title() == "points by semantic label")
    assert [t.get_text() for t in labels_ax.get_legend().get_texts()] == ["table", "hand", "mug"]
    with_image = plots.plot_sequence_preview("seq_a", video, {"frames": np.zeros((4, 8, 8, 3), np.uint8)},
                                             {"action": ACTIONS, "semantic": SEMANTIC})
    assert "colour image" in [ax.get_title() for ax in with_image.axes]


def test_tsne_legend_is_outside_the_points():
    fig = plots.plot_tsne(np.random.default_rng(0).normal(size=(20, 2)), np.repeat([0, 1, -1, 2], 5), ACTIONS)
    assert fig.axes[0].get_legend() is None
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["rest (5)", "reach (5)", "grasp (5)",
                                                                 "unknown (5)"]


# ------------------------------------------------------------------------------------------------ datasets


def test_figure_dataset_saves_versioned_png_and_skips_none(tmp_path, caplog):
    target = tmp_path / "reporting" / "confusion.png"
    with caplog.at_level(logging.INFO, logger="crossvideo_kedro.datasets.plots"):
        FigureDataset(str(target), version=Version(None, None)).save(None)  # no version exists yet: no crash
    assert not target.exists() and "nothing written" in caplog.text
    fig = plots.plot_confusion(np.eye(3, dtype=int), ["a", "b", "c"])
    FigureDataset(str(target), version=Version(None, "2026-01-01T00.00.00.000Z"), save_args={"dpi": 50}).save(fig)
    data = FigureDataset(str(target), version=Version(None, None))
    assert data.load()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in target.iterdir()] == ["2026-01-01T00.00.00.000Z"]
    data.save(None)  # a later run whose plot does not apply: no new version, no consistency warning
    assert len(list(target.iterdir())) == 1
    assert not [p for p in target.rglob("*") if ".tmp-" in p.name]
    assert data.preview().startswith("iVBOR")  # base64 PNG for kedro-viz
    with pytest.raises(DatasetError, match="matplotlib Figure or None"):
        data.save("not a figure")
    with pytest.raises(DatasetError, match="must end in .png"):
        FigureDataset(str(tmp_path / "x.jpg"))


def test_npz_partitions_preview_lists_sequences_and_shapes(tmp_path):
    data = NpzPartitionsDataset(str(tmp_path / "videos"), version=Version(None, None))
    data.save({"seq_a": {"points": np.zeros((5, 8, 3), np.float32), "frame_labels": np.zeros(5, np.int16)},
               "seq_b": {"points": np.zeros((7, 8, 3), np.float32)}})
    preview = data.preview()
    assert preview["columns"] == ["partition", "points", "frame_labels"]
    assert preview["data"] == [["seq_a", "(5, 8, 3) float32", "(5,) int16"], ["seq_b", "(7, 8, 3) float32", ""]]


def test_checkpoint_preview_summarises_state_dicts_and_configs(tmp_path):
    data = TorchCheckpointDataset(str(tmp_path / "models.pt"), version=Version(None, None))
    data.save({"variant": "crossvideo", "model_config": {"point": {"dim": 32, "depth": 1}},
               "state_dicts": {"action_segmentation": {"w": torch.zeros(3, 4), "b": torch.zeros(3)}}})
    rows = dict(map(tuple, data.preview()["data"]))
    assert rows == {"variant": "'crossvideo'", "model_config.point": "dim=32, depth=1",
                    "state_dicts.action_segmentation": "state dict: 2 tensors, 15 values"}


def test_point_cloud_frames_round_trip_and_open_in_open3d(tmp_path):
    from crossvideo_kedro._open3d import open3d  # noqa: PLC0415

    rng = np.random.default_rng(0)
    frame = {"points": rng.normal(size=(30, 3)).astype(np.float32),
             "colors": rng.integers(0, 256, (30, 3)).astype(np.uint8), "labels": rng.integers(0, 5, 30)}
    data = PointCloudFramesDataset(str(tmp_path / "clouds"), version=Version(None, None))
    data.save({"seq_a__00000": frame})
    back = data.load()["seq_a__00000"]()
    np.testing.assert_array_equal(back["points"], frame["points"])
    np.testing.assert_array_equal(back["colors"], frame["colors"])
    np.testing.assert_array_equal(back["labels"], frame["labels"])
    path = next((tmp_path / "clouds").rglob("*.ply"))
    cloud = open3d().io.read_point_cloud(str(path))
    np.testing.assert_allclose(np.asarray(cloud.points), frame["points"], atol=1e-6)
    np.testing.assert_allclose(np.asarray(cloud.colors) * 255, frame["colors"], atol=0.51)
    tensor = open3d().t.io.read_point_cloud(str(path))
    np.testing.assert_array_equal(tensor.point["label"].numpy()[:, 0], frame["labels"])
    with pytest.raises(DatasetError, match="not a PLY file"):
        (tmp_path / "bad.ply").write_bytes(b"nope")
        read_ply(tmp_path / "bad.ply")


def test_point_video_3d_view_has_a_trace_per_class_and_a_frame_per_video_frame():
    from crossvideo_kedro.plots3d import point_video_figure  # noqa: PLC0415

    video = _video(frames=4)
    fig = point_video_figure(video["points"], video["point_labels"], SEMANTIC, "seq_a", max_frames=3)
    assert [trace.name for trace in fig.data] == ["table", "hand", "mug"]
    assert len(fig.frames) == 3 and [len(f.data) for f in fig.frames] == [3, 3, 3]
    assert sum(len(trace.x) for trace in fig.data) == 40


def test_every_catalog_entry_names_its_kedro_viz_layer():
    catalog = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())
    missing = [name for name, entry in catalog.items()
               if not (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")]
    assert not missing
    layers = {entry["metadata"]["kedro-viz"]["layer"] for entry in catalog.values()}
    assert layers <= {"01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
                      "07_model_output", "08_reporting"}
    assert catalog["{plot}_plot"]["type"] == "crossvideo_kedro.datasets.plots.FigureDataset"
