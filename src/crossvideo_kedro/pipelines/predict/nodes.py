"""Nodes of the ``predict`` pipeline: trained downstream models applied to a new recording."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crossvideo_kedro import metrics, plots
from crossvideo_kedro.configs import PredictConfig, parse
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.pipelines.generate.nodes import generate_raw_sequences
from crossvideo_kedro.pipelines.ingest.nodes import ingest_sequences
from crossvideo_kedro.sequences import RawSequence
from crossvideo_kedro.training.embed import embed_sequence
from crossvideo_kedro.training.model import CrossVideoModel, encoder_runs

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
Partitions = dict[str, Callable[[], Arrays] | Arrays]


def model_tasks(downstream_models: dict[str, Any]) -> list[str]:
    """The tasks a ``downstream_models`` checkpoint holds a model for."""
    if not isinstance(downstream_models, dict) or "state_dicts" not in downstream_models:
        raise ValueError("not a downstream_models object (written by finetune): expected a 'state_dicts' key")
    return sorted(downstream_models["state_dicts"])


def _classes(downstream_models: dict[str, Any], class_names: dict | None, config: PredictConfig) -> dict:
    """Class names of the models: stored with them, else the ingest ``class_names``, else ``predict.classes``."""
    stored = downstream_models.get("class_names") or {}
    given = class_names or {}
    return {key: stored.get(key) or given.get(key) or config.classes.get(key) for key in ("action", "semantic")}


def generate_unseen_sequences(generate_params: dict[str, Any], params: dict[str, Any]) -> dict[str, RawSequence]:
    """Generated sequences the models never saw: the ``generate`` settings with ``predict.unseen`` overrides (another
    seed), named ``unseen_<k>`` so they cannot be mistaken for the study's sequences."""
    config = parse(PredictConfig, params, "predict")
    if config.unseen.get("seed", generate_params.get("seed")) == generate_params.get("seed"):
        raise ValueError("predict.unseen.seed must differ from generate.seed: the unseen sequences would repeat the "
                         "study's own sequences")
    loaders = generate_raw_sequences({**generate_params, **config.unseen})
    renamed = [dataclasses.replace(load(), name=f"unseen_{k:04d}") for k, load in enumerate(loaders.values())]
    return {seq.name: seq for seq in renamed}


def preprocess_recording(predict_sequences: dict[str, Any], params: dict[str, Any]
                         ) -> tuple[dict[str, Arrays], dict[str, Arrays]]:
    """The recording through ingest's own node (same preprocessing as the study's data; nothing copied).

    Returns:
        ``point_videos`` and ``image_videos`` (recordings with colour only), as ``ingest`` makes them.
    """
    point_videos, image_videos, *_ = ingest_sequences(predict_sequences, {}, params)
    return point_videos, image_videos


def predict_labels(downstream_models: dict[str, Any], point_videos: Partitions, image_videos: Partitions,
                   params: dict[str, Any]) -> dict[str, Arrays]:
    """Per-frame action ids and per-point semantic ids of every recorded sequence.

    Args:
        downstream_models: ``<variant>.downstream_models`` (``finetune``'s showcase models, one per task).
        point_videos, image_videos: the recording after ingest's preprocessing (image videos: sources with colour).
        params: ``predict`` parameters.

    Returns:
        ``{sequence: {"action": (L,) int16, "semantic": (L, N) int16}}`` (the tasks asked for).
    """
    config = parse(PredictConfig, params, "predict")
    if downstream_models.get("variant") not in (None, config.variant):
        raise ValueError(f"predict.variant is {config.variant!r} but the downstream_models given are those of "
                         f"variant {downstream_models['variant']!r}")
    missing = sorted(set(config.tasks) - set(model_tasks(downstream_models)))
    if missing:
        raise ValueError(f"predict.tasks asks for {missing}, but variant {config.variant!r} has models for "
                         f"{model_tasks(downstream_models)} only")
    from crossvideo_kedro.training.predict import load_task_model, predict_sequence  # noqa: PLC0415

    models = {task: load_task_model(downstream_models, task) for task in config.tasks}
    result = {}
    for name in sorted(point_videos):
        video = materialise(point_videos[name])
        image = materialise(image_videos[name]) if name in image_videos else None
        key = {"action_segmentation": "action", "semantic_segmentation": "semantic"}
        result[name] = {key[task]: predict_sequence(models[task], task, video, image,
                                                    batch_size=config.batch_size).astype(np.int16)
                        for task in config.tasks}
        logger.info("predicted %s: %d frames x %d points (%s)", name, *video["points"].shape[:2],
                    "with colour" if image is not None else "depth only")
    return result


def action_table(predicted_labels: Partitions, point_videos: Partitions, downstream_models: dict[str, Any],
                 class_names: dict | None, params: dict[str, Any]) -> pd.DataFrame:
    """One row per frame: sequence, frame, source frame (the frame number in the recording's files), time (s),
    predicted action (and the true one when known)."""
    classes = _classes(downstream_models, class_names, parse(PredictConfig, params, "predict"))["action"]
    tables = []
    for name in sorted(predicted_labels):
        pred = materialise(predicted_labels[name])
        if "action" not in pred:
            continue
        video = materialise(point_videos[name])
        table = pd.DataFrame({"sequence": name, "frame": np.arange(len(pred["action"])),
                              "source_frame": _source_frames(video),
                              "time_s": np.round(video["timestamps"], 4), "action_id": pred["action"],
                              "action": [plots.class_name(classes, int(c)) for c in pred["action"]]})
        if (video["frame_labels"] >= 0).any():
            table["true_action_id"] = video["frame_labels"]
            table["true_action"] = [plots.class_name(classes, int(c)) for c in video["frame_labels"]]
        tables.append(table)
    if not tables:
        logger.info("no action predictions (action_segmentation not in predict.tasks): the action table is empty")
        return pd.DataFrame(columns=["sequence", "frame", "source_frame", "time_s", "action_id", "action"])
    return pd.concat(tables, ignore_index=True)


def _source_frames(video: Arrays) -> np.ndarray:
    """(T,) frame number of each frame in the recording's own files (a reader's and ingest's frame steps undone)."""
    if "source_frames" in video:
        return video["source_frames"]
    return video.get("frame_indices", np.arange(len(video["timestamps"])))


def labelled_point_clouds(predicted_labels: Partitions, point_videos: Partitions) -> dict[str, Arrays]:
    """One point cloud per frame, coloured by predicted semantic label: ``{<sequence>__<frame:05d>: frame}``."""
    frames = {}
    for name in sorted(predicted_labels):
        pred = materialise(predicted_labels[name])
        if "semantic" not in pred:
            continue
        points = materialise(point_videos[name])["points"]  # (L, N, 3)
        colors = (plots.label_colors(pred["semantic"]) * 255).round().astype(np.uint8)  # (L, N, 3)
        frames |= {f"{name}__{t:05d}": {"points": points[t], "colors": colors[t], "labels": pred["semantic"][t]}
                   for t in range(len(points))}
    if not frames:
        logger.info("no semantic predictions (semantic_segmentation not in predict.tasks): no point cloud files")
    return frames


def embed_clips(pretrained_encoders: dict[str, Any], point_videos: Partitions, image_videos: Partitions,
                params: dict[str, Any]) -> dict[str, Arrays]:
    """Backbone and projected clip embeddings of the recording from the pretrained encoders (one seed's run)."""
    config = parse(PredictConfig, params, "predict")
    runs = encoder_runs(pretrained_encoders)
    if not 0 <= config.embed_run < len(runs):
        raise ValueError(f"predict.embed_run is {config.embed_run}, but pretrained_encoders hold {len(runs)} run(s)")
    model = CrossVideoModel.from_state(runs[config.embed_run]).eval()
    return {name: embed_sequence(model, materialise(point_videos[name]),
                                 materialise(image_videos[name]) if name in image_videos else None,
                                 config.clip_frames, config.batch_size)
            for name in sorted(point_videos)}


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 3)


def score_predictions(predicted_labels: Partitions, point_videos: Partitions, downstream_models: dict[str, Any],
                      params: dict[str, Any]) -> dict[str, Any]:
    """Accuracy against the recording's own labels where it has them (generated sequences); valid JSON, no NaN.

    Returns:
        ``{"variant", "sequences": {name: {...}}, "overall": {...}}``: action framewise accuracy, edit, F1@k;
        semantic point accuracy and mIoU; ``labelled: false`` for a task whose labels the recording lacks.
    """
    config = parse(PredictConfig, params, "predict")
    num_semantic = None
    if "semantic_segmentation" in downstream_models.get("state_dicts", {}):
        state = downstream_models["state_dicts"]["semantic_segmentation"]
        num_semantic = next(int(v.shape[0]) for k, v in state.items() if k in ("head.fc.weight", "head.weight"))
    preds = {name: materialise(predicted_labels[name]) for name in sorted(predicted_labels)}
    videos = {name: materialise(point_videos[name]) for name in preds}
    report: dict[str, Any] = {"variant": config.variant, "sequences": {}, "overall": {}}
    for task, key, truth_key in (("action_segmentation", "action", "frame_labels"),
                                 ("semantic_segmentation", "semantic", "point_labels")):
        names = [n for n in preds if key in preds[n]]
        if not names:
            continue
        labelled = [n for n in names if (videos[n][truth_key] >= 0).any()]
        for name in names:
            report["sequences"].setdefault(name, {})[task] = {"labelled": name in labelled}
        if not labelled:
            report["overall"][task] = {"labelled": False}
            continue
        if task == "action_segmentation":
            scores = metrics.action_segmentation_metrics([preds[n][key] for n in labelled],
                                                         [videos[n][truth_key] for n in labelled])
            for name in labelled:
                report["sequences"][name][task]["accuracy"] = _finite(metrics.framewise_accuracy(
                    [preds[name][key]], [videos[name][truth_key]]))
        else:
            pred = np.concatenate([preds[n][key].reshape(-1) for n in labelled])
            truth = np.concatenate([videos[n][truth_key].reshape(-1) for n in labelled])
            result = metrics.semantic_segmentation_metrics(pred, truth, num_semantic or int(truth.max()) + 1,
                                                           ignore_ids=(-1,))
            scores = {"point_accuracy": result["accuracy"], "miou": result["miou"]}
            for name in labelled:
                known = videos[name][truth_key] >= 0
                report["sequences"][name][task]["point_accuracy"] = _finite(
                    100 * float((preds[name][key][known] == videos[name][truth_key][known]).mean()))
        report["overall"][task] = {"labelled": True, **{k: _finite(v) for k, v in scores.items()}}
    logger.info("predict scores: %s", report["overall"])
    return report


def plot_predicted_actions(predicted_labels: Partitions, point_videos: Partitions, downstream_models: dict[str, Any],
                           class_names: dict | None, params: dict[str, Any]) -> Figure | None:
    """Timeline of the predicted actions of each sequence (above the true ones when the recording has them)."""
    config = parse(PredictConfig, params, "predict")
    classes = _classes(downstream_models, class_names, config)["action"]
    rows = []
    for name in sorted(predicted_labels):
        pred = materialise(predicted_labels[name])
        if "action" not in pred:
            continue
        truth = materialise(point_videos[name])["frame_labels"]
        bands = {f"predicted ({config.variant})": pred["action"]}
        title = name
        if (truth >= 0).any():
            bands["ground truth"] = truth
            known = truth >= 0
            title = f"{name}: {100 * float((pred['action'][known] == truth[known]).mean()):.0f}% of frames right"
        rows.append((title, bands))
    return plots.plot_timelines(rows, classes, title=f"Predicted actions per frame: {config.variant} models")


def plot_predicted_points(predicted_labels: Partitions, point_videos: Partitions, downstream_models: dict[str, Any],
                          class_names: dict | None, params: dict[str, Any]) -> Figure | None:
    """A few frames of the first sequence coloured by predicted semantic label."""
    config = parse(PredictConfig, params, "predict")
    names = [n for n in sorted(predicted_labels) if "semantic" in materialise(predicted_labels[n])]
    if not names:
        logger.info("predicted points picture skipped: semantic_segmentation is not in predict.tasks")
        return None
    pred = materialise(predicted_labels[names[0]])["semantic"]
    points = materialise(point_videos[names[0]])["points"]
    return plots.plot_predicted_points(names[0], points, pred, _classes(downstream_models, class_names,
                                                                        config)["semantic"],
                                       title=f"{names[0]}: semantic labels predicted by the {config.variant} model",
                                       frames=config.plot_frames)


def view_predicted_points_3d(predicted_labels: Partitions, point_videos: Partitions,
                             downstream_models: dict[str, Any], class_names: dict | None, params: dict[str, Any]):
    """Interactive 3-D view (plotly) of the first sequence's point cloud video, coloured by predicted label."""
    from crossvideo_kedro.plots3d import point_video_figure  # noqa: PLC0415

    config = parse(PredictConfig, params, "predict")
    names = sorted(predicted_labels)
    pred = materialise(predicted_labels[names[0]])
    points = materialise(point_videos[names[0]])["points"]
    if "semantic" in pred:
        labels, classes, what = pred["semantic"], _classes(downstream_models, class_names, config)["semantic"], \
            "semantic labels"
    else:  # actions only: every point of a frame takes the frame's predicted action
        labels = np.broadcast_to(pred["action"][:, None], points.shape[:2])
        classes, what = _classes(downstream_models, class_names, config)["action"], "frame actions"
    return point_video_figure(points, labels, classes, f"{names[0]}: predicted {what} ({config.variant})",
                              max_frames=config.view_3d_frames)

