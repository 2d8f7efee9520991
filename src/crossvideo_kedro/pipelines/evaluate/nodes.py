"""Nodes of the ``evaluate`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crossvideo_kedro import plots
from crossvideo_kedro.metrics import confusion_matrix
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.study import StudyConfig

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
HEADLINE = {"action_segmentation": "accuracy", "semantic_segmentation": "miou", "action_recognition": "clip_accuracy"}
KEYS = ["variant", "task", "protocol", "label_fraction"]


def collect_metrics(*variant_metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One tidy table: variant × task × protocol × label fraction × seed → every metric (also as CSV)."""
    table = pd.concat(variant_metrics, ignore_index=True)
    table = table.sort_values([*KEYS, "seed", "metric"]).reset_index(drop=True)
    return table, table


def summarise_study(metrics: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """Mean ± std over seeds of every metric, and a Markdown summary of the headline metric of each task.

    Returns:
        ``ablation_table`` (keys, metric, mean, std, seeds) and ``ablation_summary`` (Markdown).
    """
    study = StudyConfig.from_dict(params)
    grouped = metrics.groupby([*KEYS, "metric"])["value"]
    table = grouped.agg(mean="mean", std="std", seeds="count").reset_index()
    table["std"] = table["std"].fillna(0.0)
    order = list(study.variants) or sorted(table["variant"].unique())
    lines = [f"# CrossVideo study (mean ± std over seeds {list(study.seeds)})", ""]
    for task, metric in HEADLINE.items():
        part = table[(table["task"] == task) & (table["metric"] == metric)]
        if part.empty:
            continue
        part = part.assign(cell=[f"{m:.1f} ± {s:.1f}" for m, s in zip(part["mean"], part["std"], strict=True)])
        wide = part.pivot_table(index="variant", columns=["protocol", "label_fraction"], values="cell",
                                aggfunc="first").reindex([v for v in order if v in set(part["variant"])])
        wide.columns = [f"{p} {f:.0%}" for p, f in wide.columns]
        lines += [f"## {task.replace('_', ' ')}: {metric}", "", markdown_table(wide), ""]
    return table, "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of a DataFrame with its index as the first column (no extra dependency)."""
    header = [frame.index.name or "", *map(str, frame.columns)]
    rows = [[str(i), *("" if pd.isna(v) else str(v) for v in row)] for i, row in zip(frame.index, frame.values,
                                                                                      strict=True)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def plot_label_efficiency(metrics: pd.DataFrame) -> Figure:
    """Headline metric against label fraction, one line per variant, one panel per task × protocol."""
    return plots.plot_label_efficiency(metrics, HEADLINE)


def _sequences(predictions: dict, task: str) -> list[str]:
    return sorted(name.split("__", 1)[1] for name in predictions if name.startswith(f"{task}__"))


def plot_action_timelines(
    point_cloud_videos: dict[str, Callable[[], Arrays]], class_names: dict, params: dict[str, Any],
    *variant_predictions: dict[str, Callable[[], Arrays]],
) -> Figure:
    """Ground truth vs predicted actions over time for a few test sequences, for the compared variants."""
    study = StudyConfig.from_dict(params)
    compare = study.plots.get("compare", [])
    names = _sequences(variant_predictions[0], "action_segmentation")[: study.plots.get("timeline_sequences", 3)]
    rows = []
    for name in names:
        row = {"ground truth": materialise(point_cloud_videos[name])["frame_labels"]}
        for variant, preds in zip(compare, variant_predictions, strict=True):
            row[variant] = materialise(preds[f"action_segmentation__{name}"])["pred"]
        rows.append((name, row))
    return plots.plot_timelines(rows, class_names.get("action"))


def plot_action_confusion(
    point_cloud_videos: dict[str, Callable[[], Arrays]], class_names: dict,
    predictions: dict[str, Callable[[], Arrays]],
) -> Figure:
    """Confusion matrix of frame-wise action predictions on the test sequences (showcase run)."""
    classes = class_names["action"]
    names = _sequences(predictions, "action_segmentation")
    pred = np.concatenate([materialise(predictions[f"action_segmentation__{n}"])["pred"] for n in names])
    gt = np.concatenate([materialise(point_cloud_videos[n])["frame_labels"] for n in names])
    keep = gt >= 0
    return plots.plot_confusion(confusion_matrix(pred[keep], gt[keep], len(classes)), classes)


def plot_per_class_iou(metrics: pd.DataFrame, class_names: dict, params: dict[str, Any]) -> Figure:
    """Per-class IoU bars of the compared variants (full protocol, lowest label fraction, mean over seeds)."""
    compare = StudyConfig.from_dict(params).plots.get("compare", [])
    return plots.plot_per_class_iou(metrics, class_names["semantic"], compare)


def plot_embedding_tsne(
    clip_embeddings: dict[str, Callable[[], Arrays]], point_cloud_videos: dict[str, Callable[[], Arrays]],
    class_names: dict, params: dict[str, Any],
) -> Figure:
    """t-SNE of the pretrained point video features of every clip, coloured by its majority action."""
    from sklearn.manifold import TSNE  # noqa: PLC0415

    feats, labels = [], []
    for name in sorted(clip_embeddings):
        emb = materialise(clip_embeddings[name])
        frame_labels = materialise(point_cloud_videos[name])["frame_labels"][emb["frame_ids"]]  # (C, T)
        feats.append(emb["point_video"])
        labels.append([np.bincount(row[row >= 0]).argmax() if (row >= 0).any() else -1 for row in frame_labels])
    x = np.concatenate(feats)
    perplexity = min(StudyConfig.from_dict(params).plots.get("tsne_perplexity", 15), max(2, len(x) // 4))
    xy = TSNE(n_components=2, perplexity=perplexity, random_state=0, init="pca").fit_transform(x)
    return plots.plot_tsne(xy, np.concatenate(labels), class_names.get("action"))


def plot_semantic_frame(
    point_cloud_videos: dict[str, Callable[[], Arrays]], class_names: dict,
    predictions: dict[str, Callable[[], Arrays]],
) -> Figure:
    """A test point cloud frame coloured by true and by predicted semantic label."""
    name = _sequences(predictions, "semantic_segmentation")[0]
    video = materialise(point_cloud_videos[name])
    pred = materialise(predictions[f"semantic_segmentation__{name}"])["pred"]
    return plots.plot_semantic_frame(name, video, pred, class_names["semantic"])
