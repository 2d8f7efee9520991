"""Figures saved through the catalog (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

Arrays = dict[str, np.ndarray]


def label_colors(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """RGB in [0, 1] for integer labels (−1 → grey), from a qualitative colour map.

    Shape:
        labels: (...,) int. Returns (..., 3) float.
    """
    cmap = plt.get_cmap("tab20")
    colors = np.asarray(cmap(np.mod(labels, 20)))[..., :3]
    return np.where((labels < 0)[..., None], 0.6, colors)


def plot_action_timeline(ax: plt.Axes, rows: dict[str, np.ndarray], classes: list[str] | None) -> None:
    """Draw one coloured band per labelled frame sequence (e.g. ground truth and prediction).

    Shape:
        rows: {row name: int (T,) labels}.
    """
    for i, (row_name, labels) in enumerate(rows.items()):
        ax.imshow(label_colors(labels)[None], extent=(0, len(labels), i, i + 0.8), aspect="auto",
                  interpolation="nearest")
    ax.set_ylim(0, len(rows))
    ax.set_yticks(np.arange(len(rows)) + 0.4, list(rows))
    ax.set_xlabel("frame")
    present = sorted({int(v) for labels in rows.values() for v in np.unique(labels) if v >= 0})
    if classes:
        handles = [plt.Rectangle((0, 0), 1, 1, color=label_colors(np.array(c))) for c in present]
        ax.legend(handles, [classes[c] for c in present], ncol=min(len(present), 6), fontsize=7,
                  loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)


def plot_points(ax: plt.Axes, points: np.ndarray, colors: np.ndarray, title: str) -> None:
    """Scatter a point cloud frame seen from the camera (x right, y down).

    Shape:
        points: (N, 3); colors: (N, 3) in [0, 1].
    """
    order = np.argsort(-points[:, 2])  # far points first so near ones stay visible
    ax.scatter(points[order, 0], -points[order, 1], c=colors[order], s=4, linewidths=0)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_sequence_preview(
    name: str, point_video: Arrays, image_video: Arrays | None, class_names: dict[str, list[str] | None]
) -> Figure:
    """Middle frame of a sequence: image, points by depth, points by label; and the action timeline."""
    t = point_video["points"].shape[0] // 2
    points = point_video["points"][t]
    fig = plt.figure(figsize=(12, 4.5), layout="constrained")
    grid = fig.add_gridspec(2, 3, height_ratios=[4, 1])
    ax = fig.add_subplot(grid[0, 0])
    if image_video is not None:
        ax.imshow(image_video["frames"][t])
    ax.set_title(f"{name}: image, frame {t}", fontsize=9)
    ax.axis("off")
    depth = points[:, 2]
    span = max(float(depth.max() - depth.min()), 1e-6)
    plot_points(fig.add_subplot(grid[0, 1]), points, plt.get_cmap("viridis")((depth - depth.min()) / span)[:, :3],
                "points by depth")
    plot_points(fig.add_subplot(grid[0, 2]), points, label_colors(point_video["point_labels"][t]),
                "points by semantic label")
    plot_action_timeline(fig.add_subplot(grid[1, :]), {"actions": point_video["frame_labels"]},
                         class_names.get("action"))
    return fig


def plot_view_pair(clip: str, point_video: Arrays, views: Arrays) -> Figure:
    """The original clip's first frame next to the first frame of each view of pair 0 (points, then images)."""
    has_images = "images" in views
    rows = 2 if has_images else 1
    fig, axes = plt.subplots(rows, 3, figsize=(11, 3.6 * rows), layout="constrained", squeeze=False)
    frame_ids = views["frame_ids"][0]  # (2, T)
    original = point_video["points"][frame_ids[0, 0]]
    original = original - original.mean(axis=0)
    depth_colors = plt.get_cmap("viridis")
    panels = [("clip", original, frame_ids[0, 0])] + [
        (f"view {v + 1}", views["points"][0, v, 0], frame_ids[v, 0]) for v in range(2)
    ]
    for ax, (title, points, frame) in zip(axes[0], panels, strict=True):
        z = points[:, 2]
        plot_points(ax, points, depth_colors((z - z.min()) / max(float(np.ptp(z)), 1e-6))[:, :3],
                    f"{title}: frame {frame}")
    if has_images:
        axes[1, 0].axis("off")
        axes[1, 0].text(0.0, 0.5, f"{clip}\nview frames\n1: {frame_ids[0].tolist()}\n2: {frame_ids[1].tolist()}",
                        fontsize=7, va="center", wrap=True)
        for v in range(2):
            axes[1, v + 1].imshow(views["images"][0, v, 0])
            axes[1, v + 1].set_title(f"view {v + 1} image", fontsize=9)
            axes[1, v + 1].axis("off")
    return fig


def plot_history(history, title: str, x: str = "step") -> Figure:
    """Loss curves of a training history table: ``loss`` and every term column, plus ``lr`` on a second axis.

    Columns other than step/epoch/lr/grad_norm/clips_per_s and accuracy-like ones are treated as loss terms.
    """
    skip = {"step", "epoch", "lr", "grad_norm", "clips_per_s", "seconds"}
    terms = [c for c in history.columns if c not in skip and history[c].dtype.kind == "f"]
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    for term in terms:
        values = history[term].to_numpy()
        smooth = np.convolve(values, np.ones(5) / 5, mode="valid") if len(values) > 10 else values
        ax.plot(history[x].to_numpy()[len(values) - len(smooth):], smooth, label=term, lw=2 if term == "loss" else 1)
    ax.set_xlabel(x)
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if "lr" in history:
        lr_ax = ax.twinx()
        lr_ax.plot(history[x], history["lr"], color="grey", ls=":", lw=1)
        lr_ax.set_ylabel("learning rate", color="grey")
    return fig


def plot_label_efficiency(metrics, headline: dict[str, str]) -> Figure:
    """Headline metric (mean ± std over seeds) against label fraction; one panel per task × protocol."""
    panels = [(t, p) for t in headline for p in sorted(metrics.loc[metrics["task"] == t, "protocol"].unique())]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6), layout="constrained", squeeze=False)
    for ax, (task, protocol) in zip(axes[0], panels, strict=True):
        part = metrics[(metrics["task"] == task) & (metrics["protocol"] == protocol)
                       & (metrics["metric"] == headline[task])]
        for variant, rows in part.groupby("variant", sort=False):
            stats = rows.groupby("label_fraction")["value"].agg(["mean", "std"]).fillna(0.0)
            ax.errorbar(stats.index * 100, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=variant,
                        lw=2.5 if variant == "crossvideo" else 1.2)
        ax.set_xscale("log")
        ax.set_xlabel("labelled training sequences (%)")
        ax.set_ylabel(headline[task])
        ax.set_title(f"{task.replace('_', ' ')} ({protocol})", fontsize=9)
    axes[0, -1].legend(fontsize=7)
    return fig


def plot_timelines(rows: list[tuple[str, dict[str, np.ndarray]]], classes: list[str] | None) -> Figure:
    """One action timeline panel per sequence (ground truth and each variant's prediction as bands)."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.4 + 0.9 * len(rows) * max(len(r) for _, r in rows) / 2),
                             layout="constrained", squeeze=False)
    for ax, (name, bands) in zip(axes[:, 0], rows, strict=True):
        plot_action_timeline(ax, bands, classes if ax is axes[-1, 0] else None)
        ax.set_title(name, fontsize=9)
    return fig


def plot_confusion(matrix: np.ndarray, classes: list[str]) -> Figure:
    """Row-normalised confusion matrix (rows: ground truth) with counts."""
    norm = matrix / matrix.sum(axis=1, keepdims=True).clip(1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(classes), 1 + 0.5 * len(classes)), layout="constrained")
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(j, i, str(value), ha="center", va="center", fontsize=6, color="white" if norm[i, j] > 0.5 else "k")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig


def plot_per_class_iou(metrics, classes: list[str], variants: list[str]) -> Figure:
    """Per-class IoU of semantic segmentation, full protocol at the lowest label fraction, mean over seeds."""
    part = metrics[(metrics["task"] == "semantic_segmentation") & metrics["metric"].str.startswith("iou_")]
    if "full" in set(part["protocol"]):
        part = part[part["protocol"] == "full"]
    part = part[part["label_fraction"] == part["label_fraction"].min()]
    variants = [v for v in variants if v in set(part["variant"])] or sorted(part["variant"].unique())
    ids = sorted({int(m.removeprefix("iou_")) for m in part["metric"]})
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * len(ids), 3.6), layout="constrained")
    width = 0.8 / max(len(variants), 1)
    for k, variant in enumerate(variants):
        values = part[part["variant"] == variant].groupby("metric")["value"].mean()
        ax.bar(np.arange(len(ids)) + k * width, [values.get(f"iou_{c}", np.nan) for c in ids], width, label=variant)
    ax.set_xticks(np.arange(len(ids)) + width * (len(variants) - 1) / 2, [classes[c] for c in ids], rotation=30,
                  ha="right", fontsize=8)
    ax.set_ylabel("IoU (%)")
    ax.legend(fontsize=8)
    return fig


def plot_tsne(xy: np.ndarray, labels: np.ndarray, classes: list[str] | None) -> Figure:
    """2-D embedding of clip features coloured by class."""
    fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    for label in np.unique(labels):
        keep = labels == label
        name = classes[label] if classes is not None and label >= 0 else str(label)
        ax.scatter(xy[keep, 0], xy[keep, 1], s=12, color=label_colors(np.array(label)), label=name)
    ax.legend(fontsize=7, markerscale=1.5, ncol=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("t-SNE of pretrained point video features (colour: majority action)", fontsize=9)
    return fig


def plot_semantic_frame(name: str, video: Arrays, pred: np.ndarray, classes: list[str]) -> Figure:
    """The middle frame of a sequence coloured by true and by predicted semantic label."""
    t = video["points"].shape[0] // 2
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    plot_points(axes[0], video["points"][t], label_colors(video["point_labels"][t]), f"{name} frame {t}: true")
    accuracy = float((pred[t] == video["point_labels"][t]).mean() * 100)
    plot_points(axes[1], video["points"][t], label_colors(pred[t]), f"predicted ({accuracy:.0f}% correct)")
    present = sorted(set(np.unique(video["point_labels"][t])) | set(np.unique(pred[t])))
    handles = [plt.Rectangle((0, 0), 1, 1, color=label_colors(np.array(c))) for c in present if c >= 0]
    fig.legend(handles, [classes[c] for c in present if c >= 0], loc="lower center", ncol=min(len(handles), 8),
               fontsize=8)
    return fig
