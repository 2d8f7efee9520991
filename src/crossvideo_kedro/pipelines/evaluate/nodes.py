"""Nodes of the ``evaluate`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crossvideo_kedro import plots
from crossvideo_kedro.metrics import confusion_matrix, paired_difference_ci
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.configs import StudyConfig, parse

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
HEADLINE = {"action_segmentation": "accuracy", "semantic_segmentation": "miou", "action_recognition": "clip_accuracy"}
#: Metrics the summary reports beside the headline, with their own paired intervals, when the runs produced them
#: (``video_accuracy``: finetune.recognition ``video``).
ALSO = {"action_recognition": ("video_accuracy",)}
KEYS = ["variant", "task", "protocol", "label_fraction"]
REPLICATE = ["pretrain_seed", "seed"]
CONTROL = "scratch"  # every other variant is compared with it, replicate by replicate


def collect_metrics(*variant_metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One tidy table: variant × task × protocol × label fraction × replicate → every metric (also as CSV)."""
    parts = [m for m in variant_metrics if m is not None and len(m)]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*KEYS, *REPLICATE, "metric",
                                                                                    "value"])
    for column in REPLICATE:  # tables written before replicates had one pretraining seed
        if column not in table:
            table[column] = 0
    table = table.sort_values([*KEYS, *REPLICATE, "metric"]).reset_index(drop=True)
    return table, table


def paired_differences(metrics_table: pd.DataFrame, control: str = CONTROL, level: float = 0.95,
                       metric_of: dict[str, str] | None = None) -> pd.DataFrame:
    """Each variant against ``control`` on the headline metric (``metric_of``: task → metric, default HEADLINE), paired by replicate (pretraining, fine-tuning seed).

    The independent units are the pretraining seeds: pairs that share one (several fine-tuning seeds) share an
    encoder, so their differences are averaged per pretraining seed before the t interval
    (:func:`~crossvideo_kedro.metrics.paired_difference_ci` with ``clusters``). With one fine-tuning seed that is the
    plain paired interval.

    Returns one row per variant × task × protocol × label fraction: ``mean_diff``, ``ci_low``, ``ci_high`` (the
    ``level`` t interval of the mean paired difference), ``n`` independent units (pretraining seeds), ``pairs``
    paired replicates, and the two means.
    """
    rows = []
    metric_of = HEADLINE if metric_of is None else metric_of
    headline = metrics_table[metrics_table["metric"] == metrics_table["task"].map(metric_of)]
    base = headline[headline["variant"] == control].set_index(["task", "protocol", "label_fraction", *REPLICATE])
    for (variant, task, protocol, fraction), part in headline.groupby(KEYS, sort=False):
        if variant == control:
            continue
        joined = part.set_index(["task", "protocol", "label_fraction", *REPLICATE])[["value"]].join(
            base[["value"]].rename(columns={"value": "value_control"}), how="inner")
        if joined.empty:
            continue
        ci = paired_difference_ci(joined["value"].to_numpy(), joined["value_control"].to_numpy(), level,
                                  clusters=joined.index.get_level_values("pretrain_seed").to_numpy())
        rows.append({"variant": variant, "task": task, "protocol": protocol, "label_fraction": fraction,
                     "metric": metric_of[task], "mean": float(joined["value"].mean()),
                     "control_mean": float(joined["value_control"].mean()), "mean_diff": ci["mean"],
                     "ci_low": ci["low"], "ci_high": ci["high"], "n": ci["n"], "pairs": ci["pairs"]})
    return pd.DataFrame(rows, columns=["variant", "task", "protocol", "label_fraction", "metric", "mean",
                                       "control_mean", "mean_diff", "ci_low", "ci_high", "n", "pairs"])


def count_class_points(point_cloud_videos: dict[str, Callable[[], Arrays]], sequence_index: pd.DataFrame,
                       params: dict[str, Any]) -> pd.DataFrame:
    """Mean points per frame of each semantic class over the test split's frames (``class``, ``points_per_frame``,
    ``frames``); empty when no test sequence has ``point_labels``.

    Shape:
        each video's ``point_labels``: (T, N) int (−1 unlabelled, not counted).
    """
    test = parse(StudyConfig, params, "evaluate").test_split
    names = sequence_index.loc[sequence_index["split"] == test, "sequence"]
    counts, frames = np.zeros(0, dtype=np.int64), 0
    for name in sorted(n for n in names if n in point_cloud_videos):
        video = materialise(point_cloud_videos[name])
        if "point_labels" not in video:
            continue
        labels = np.asarray(video["point_labels"]).ravel()
        found = np.bincount(labels[labels >= 0])
        counts = np.pad(counts, (0, max(0, len(found) - len(counts))))
        counts[: len(found)] += found
        frames += len(video["point_labels"])
    return pd.DataFrame({"class": np.arange(len(counts)), "points_per_frame": counts / max(frames, 1),
                         "frames": frames})


def semantic_class_section(table: pd.DataFrame, class_names: dict | None, class_points: pd.DataFrame | None,
                           order: list[str]) -> list[str]:
    """Markdown lines: per-class IoU (mean over replicates) beside mIoU per variant × protocol × label fraction,
    and the test split's mean points per class per frame. No lines without semantic segmentation results."""
    part = table[(table["task"] == "semantic_segmentation")
                 & (table["metric"].str.startswith("iou_") | (table["metric"] == "miou"))]
    if part.empty:
        return []
    names = list((class_names or {}).get("semantic") or [])
    label = {f"iou_{i}": name for i, name in enumerate(names)} | {"miou": "mIoU"}
    ids = sorted({int(m.removeprefix("iou_")) for m in part["metric"] if m != "miou"})
    columns = ["mIoU", *(label.get(f"iou_{i}", f"class {i}") for i in ids)]
    part = part.assign(column=[label.get(m, f"class {m.removeprefix('iou_')}") for m in part["metric"]],
                       rank=part["variant"].map({v: k for k, v in enumerate(order)}).fillna(len(order)))
    part = part.sort_values(["rank", "variant", "protocol", "label_fraction"])
    part["row"] = [f"{v}, {p} {f:.0%}" for v, p, f in zip(part["variant"], part["protocol"],
                                                           part["label_fraction"], strict=True)]
    wide = part.pivot_table(index="row", columns="column", values="mean", aggfunc="first", sort=False)
    wide = wide.reindex(columns=columns).map(lambda v: f"{v:.1f}")
    lines = ["Per-class IoU (mean over replicates; a class absent from the test labels has no IoU):", "",
             markdown_table(wide.rename_axis("variant, protocol, labels")), ""]
    if class_points is not None and len(class_points):
        counts = class_points.assign(column=[names[c] if c < len(names) else f"class {c}"
                                             for c in class_points["class"]])
        row = pd.DataFrame([counts["points_per_frame"].map(lambda v: f"{v:.1f}").to_numpy()],
                           columns=counts["column"].to_list(), index=["points per frame"])
        lines += [f"Points per class per frame in the test split (mean over {int(counts['frames'].iloc[0])} "
                  "frames):", "", markdown_table(row), ""]
    return lines


def summarise_study(metrics: pd.DataFrame, params: dict[str, Any], class_names: dict | None = None,
                    class_points: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str]:
    """Mean ± std over replicates of every metric, and a Markdown summary per task of the headline metric (and of the
    metrics in ``ALSO`` the runs produced, e.g. ``video_accuracy`` next to ``clip_accuracy``) with the supervised
    upper bound and each variant's paired difference to scratch (95 % t interval); for semantic segmentation also
    the per-class IoU and points per class (:func:`semantic_class_section`).

    Always returns (an empty study gives a summary that says so), so a missing task never stops the report.

    Returns:
        ``ablation_table`` (keys, metric, mean, std, replicates) and ``ablation_summary`` (Markdown).
    """
    study = parse(StudyConfig, params, "evaluate")
    if metrics.empty:
        logger.info("summarise_study: the study produced no metrics (every task or variant was skipped)")
        return pd.DataFrame(columns=[*KEYS, "metric", "mean", "std", "replicates"]), \
            "# CrossVideo study\n\nNo runs: every task or variant was skipped for this source.\n"
    grouped = metrics.groupby([*KEYS, "metric"])["value"]
    table = grouped.agg(mean="mean", std="std", replicates="count").reset_index()
    table["std"] = table["std"].fillna(0.0)
    order = study.selected_variants() or sorted(table["variant"].unique())
    reps = metrics[REPLICATE].drop_duplicates()
    per_cell = table.loc[table["metric"] == table["task"].map(HEADLINE), "replicates"]  # cells may have own seeds
    low, high = (int(per_cell.min()), int(per_cell.max())) if len(per_cell) else (len(reps), len(reps))
    count = f"{low}" if low == high else f"{low}–{high}"
    lines = [f"# CrossVideo study (mean ± std over {count} replicates: pretraining seeds "
             f"{sorted(reps['pretrain_seed'].unique().tolist())} × fine-tuning seeds "
             f"{sorted(reps['seed'].unique().tolist())})", ""]
    for task, metric in [(t, m) for t, headline in HEADLINE.items() for m in (headline, *ALSO.get(t, ()))]:
        section = task_section(table, paired_differences(metrics, metric_of={task: metric}), task, metric, order)
        lines += section
        if section and task == "semantic_segmentation" and metric == HEADLINE[task]:
            lines += semantic_class_section(table, class_names, class_points, order)
    return table, "\n".join(lines + timing_lines(metrics))


def task_section(table: pd.DataFrame, diffs: pd.DataFrame, task: str, metric: str, order: list[str]) -> list[str]:
    """Markdown of one task's ``metric``: mean ± std per variant and protocol x fraction, the supervised upper
    bound, and each variant's paired difference to scratch (``diffs`` of that metric); none without runs."""
    part = table[(table["task"] == task) & (table["metric"] == metric)]
    if part.empty:
        return []
    part = part.assign(cell=[f"{m:.1f} ± {s:.1f}" for m, s in zip(part["mean"], part["std"], strict=True)])
    wide = part.pivot_table(index="variant", columns=["protocol", "label_fraction"], values="cell",
                            aggfunc="first").reindex([v for v in order if v in set(part["variant"])])
    wide.columns = [f"{p} {f:.0%}" for p, f in wide.columns]
    lines = [f"## {task.replace('_', ' ')}: {metric}", "", markdown_table(wide), ""]
    upper = part[(part["variant"] == CONTROL) & (part["protocol"] == "full") & np.isclose(part["label_fraction"], 1.0)]
    if len(upper):
        lines += ["Supervised upper bound (scratch, full fine-tuning, 100 % labels): "
                  f"**{upper['cell'].iloc[0]}**", ""]
    task_diffs = diffs[diffs["task"] == task]
    if len(task_diffs):
        view = task_diffs.assign(
            cell=[f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]" + (" *" if lo > 0 or hi < 0 else "")
                  for d, lo, hi in zip(task_diffs["mean_diff"], task_diffs["ci_low"], task_diffs["ci_high"],
                                       strict=True)])
        wide = view.pivot_table(index="variant", columns=["protocol", "label_fraction"], values="cell",
                                aggfunc="first").reindex([v for v in order if v in set(view["variant"])])
        wide.columns = [f"{p} {f:.0%}" for p, f in wide.columns]
        units, pairs = int(task_diffs["n"].max()), int(task_diffs["pairs"].max())
        over = (f"{units} replicates" if units == pairs else f"{units} pretraining seeds ({pairs} pairs; "
                "each seed's differences averaged over its fine-tuning seeds)")
        lines += [f"Paired difference to scratch (mean, 95 % t interval over {over}; * = interval excludes 0):",
                  "", markdown_table(wide), ""]
    return lines


def timing_lines(metrics: pd.DataFrame) -> list[str]:
    """Markdown lines on the summed and median fine-tuning time (none without a ``seconds`` metric)."""
    seconds = metrics[metrics["metric"] == "seconds"]
    if seconds.empty:
        return []
    return [f"Fine-tuning time: {seconds['value'].sum():.0f} s summed over {len(seconds)} runs (median "
            f"{seconds['value'].median():.1f} s per run; runs in parallel workers overlap, finetune.workers).", ""]


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of a DataFrame with its index as the first column (no extra dependency)."""
    header = [frame.index.name or "", *map(str, frame.columns)]
    rows = [[str(i), *("" if pd.isna(v) else str(v) for v in row)] for i, row in zip(frame.index, frame.values,
                                                                                      strict=True)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def plot_label_efficiency(metrics: pd.DataFrame) -> Figure | None:
    """Headline metric against label fraction, one line per variant, one panel per task × protocol."""
    if metrics.empty:
        logger.info("plot_label_efficiency: no metrics (every run was skipped); no plot")
        return None
    return plots.plot_label_efficiency(metrics, HEADLINE)


def _showcase(params: dict[str, Any]) -> tuple[str, str]:
    """The variant whose predictions the plots show and its run (protocol, label fraction, seed), for titles."""
    study = parse(StudyConfig, params, "evaluate")
    compare = study.plots.get("compare", [])
    showcase = {"protocol": "full", "label_fraction": None, "seed": study.seeds[0], **study.showcase}
    fraction = showcase["label_fraction"]
    run = (f"{showcase['protocol']}, {'largest fraction' if fraction is None else f'{fraction:.0%}'} labels, "
           f"seed {showcase['seed']}")
    return (compare[-1] if compare else "showcase"), run


def _sequences(predictions: dict, task: str) -> list[str]:
    return sorted(name.split("__", 1)[1] for name in predictions if name.startswith(f"{task}__"))


def plot_action_timelines(
    point_cloud_videos: dict[str, Callable[[], Arrays]], class_names: dict, params: dict[str, Any],
    *variant_predictions: dict[str, Callable[[], Arrays]],
) -> Figure | None:
    """Ground truth vs predicted actions over time for a few test sequences, for the compared variants."""
    study = parse(StudyConfig, params, "evaluate")
    compare = study.plots.get("compare", [])
    if not variant_predictions or not _sequences(variant_predictions[0], "action_segmentation"):
        logger.info("plot_action_timelines: no action-segmentation predictions (task not run); no plot")
        return None
    names = _sequences(variant_predictions[0], "action_segmentation")[: study.plots.get("timeline_sequences", 3)]
    rows = []
    for name in names:
        row = {"ground truth": materialise(point_cloud_videos[name])["frame_labels"]}
        for variant, preds in zip(compare, variant_predictions, strict=True):
            row[variant] = materialise(preds[f"action_segmentation__{name}"])["pred"]
        rows.append((name, row))
    return plots.plot_timelines(rows, class_names.get("action"),
                                title=f"Action segmentation on test sequences ({_showcase(params)[1]})")


def plot_action_confusion(
    point_cloud_videos: dict[str, Callable[[], Arrays]], class_names: dict,
    predictions: dict[str, Callable[[], Arrays]], params: dict[str, Any],
) -> Figure | None:
    """Confusion matrix of frame-wise action predictions on the test sequences (showcase run)."""
    names = _sequences(predictions, "action_segmentation")
    if not names:
        logger.info("plot_action_confusion: no action-segmentation predictions (task not run); no plot")
        return None
    classes = class_names["action"]
    pred = np.concatenate([materialise(predictions[f"action_segmentation__{n}"])["pred"] for n in names])
    gt = np.concatenate([materialise(point_cloud_videos[n])["frame_labels"] for n in names])
    keep = gt >= 0
    variant, run = _showcase(params)
    return plots.plot_confusion(confusion_matrix(pred[keep], gt[keep], len(classes)), classes,
                                title=f"{variant}: action segmentation, {len(names)} test sequences ({run})")


def plot_per_class_iou(metrics: pd.DataFrame, class_names: dict, params: dict[str, Any]) -> Figure | None:
    """Per-class IoU bars of the compared variants (full protocol, lowest label fraction, mean over seeds)."""
    compare = parse(StudyConfig, params, "evaluate").plots.get("compare", [])
    if metrics.empty or not (metrics["task"] == "semantic_segmentation").any() or not class_names.get("semantic"):
        logger.info("plot_per_class_iou: no semantic-segmentation runs; no plot")
        return None
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
    perplexity = min(parse(StudyConfig, params, "evaluate").plots.get("tsne_perplexity", 15), max(2, len(x) // 4))
    xy = TSNE(n_components=2, perplexity=perplexity, random_state=0, init="pca").fit_transform(x)
    return plots.plot_tsne(xy, np.concatenate(labels), class_names.get("action"))


def plot_semantic_frame(
    point_cloud_videos: dict[str, Callable[[], Arrays]], class_names: dict,
    predictions: dict[str, Callable[[], Arrays]], params: dict[str, Any],
) -> Figure | None:
    """A test point cloud frame coloured by true and by predicted semantic label (None without that task)."""
    names = _sequences(predictions, "semantic_segmentation")
    if not names:
        logger.info("plot_semantic_frame: no semantic-segmentation predictions (task not run); no plot")
        return None
    name = names[0]
    video = materialise(point_cloud_videos[name])
    pred = materialise(predictions[f"semantic_segmentation__{name}"])["pred"]
    variant, run = _showcase(params)
    return plots.plot_semantic_frame(name, video, pred, class_names["semantic"],
                                     title=f"{variant}: semantic segmentation of test sequence {name} ({run})")
