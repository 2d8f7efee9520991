"""Figures saved through the catalog and shown in notebooks.

Every figure is built with matplotlib's object API (:class:`matplotlib.figure.Figure`): nothing here touches the
global backend or pyplot's figure registry, so notebooks keep their inline backend and Kedro saves the figures under
any backend. A function whose plot does not apply (no semantic task, nothing labelled…) logs one line and returns
``None`` (contract 5 of the brief; :class:`crossvideo_kedro.datasets.plots.FigureDataset` then writes nothing).

Shape letters: T frames, N points, C classes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from crossvideo_kedro.synth.config import BASE_SEMANTIC_CLASSES

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
UNKNOWN_GREY = 0.6


def label_colors(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """RGB in [0, 1] for integer labels (−1 → grey), from a qualitative colour map (tab20, cycling).

    Shape:
        labels: (...,) int. Returns (..., 3) float.
    """
    labels = np.asarray(labels)
    colors = np.asarray(mpl.colormaps["tab20"](np.mod(labels, 20)))[..., :3]
    return np.where((labels < 0)[..., None], UNKNOWN_GREY, colors)


def class_name(classes: Sequence[str] | None, label: int) -> str:
    """The name of class ``label``, or ``class <id>`` when the source names no classes (−1: unknown)."""
    if label < 0:
        return "unknown"
    return classes[label] if classes and label < len(classes) else f"class {label}"


def class_handles(labels: Sequence[int], classes: Sequence[str] | None) -> tuple[list[Patch], list[str]]:
    """Legend patches and names for ``labels`` (sorted, unknown last)."""
    labels = sorted({int(c) for c in labels}, key=lambda c: (c < 0, c))
    return ([Patch(color=label_colors(np.array(c))) for c in labels], [class_name(classes, c) for c in labels])


def _present(*arrays: np.ndarray) -> list[int]:
    return sorted({int(v) for a in arrays for v in np.unique(a)})


# ------------------------------------------------------------------------------------------------ building blocks


def plot_action_timeline(ax: Axes, rows: dict[str, np.ndarray], classes: Sequence[str] | None,
                         legend: bool = True) -> list[int]:
    """Draw one coloured band per frame-label sequence (e.g. ground truth and predictions).

    Args:
        ax: where to draw.
        rows: ``{row name: int (T,) labels}``, drawn top to bottom.
        classes: action class names (legend), or None.
        legend: put a legend of every class that appears in any row to the right of ``ax``.

    Returns:
        The class ids that appear (−1 included when present), for a shared legend.
    """
    names = list(rows)
    for i, name in enumerate(names):
        labels = np.asarray(rows[name])
        top = len(names) - i  # first row on top
        ax.imshow(label_colors(labels)[None], extent=(0, len(labels), top - 0.9, top - 0.1), aspect="auto",
                  interpolation="nearest")
    ax.set_ylim(0, len(names))
    ax.set_xlim(0, max(len(np.asarray(r)) for r in rows.values()))
    ax.set_yticks(len(names) - np.arange(len(names)) - 0.5, names, fontsize=8)
    ax.set_xlabel("frame")
    present = _present(*rows.values())
    if legend:
        handles, names_ = class_handles(present, classes)
        ax.legend(handles, names_, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="action", title_fontsize=7, ncol=1 + len(handles) // 8)
    return present


def plot_points(ax: Axes, points: np.ndarray, colors: np.ndarray, title: str) -> None:
    """Scatter a point cloud frame seen from the camera (x right, y down), axes fitted to the points.

    Shape:
        points: (N, 3); colors: (N, 3) in [0, 1].
    """
    order = np.argsort(-points[:, 2])  # far points first so near ones stay visible
    size = float(np.clip(2500 / max(len(points), 1), 3, 30))  # dots stay visible for 64 … 8192 points
    ax.scatter(points[order, 0], -points[order, 1], c=colors[order], s=size, linewidths=0)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _depth_colors(z: np.ndarray) -> tuple[np.ndarray, Normalize]:
    norm = Normalize(float(z.min()), max(float(z.max()), float(z.min()) + 1e-6))
    return np.asarray(mpl.colormaps["viridis"](norm(z)))[:, :3], norm


def _depth_panel(fig: Figure, ax: Axes, points: np.ndarray, title: str, label: str = "depth z (m)") -> None:
    colors, norm = _depth_colors(points[:, 2])
    plot_points(ax, points, colors, title)
    fig.colorbar(ScalarMappable(norm, "viridis"), ax=ax, label=label, shrink=0.8)


# ------------------------------------------------------------------------------------------------ ingest / augment


def plot_sequence_preview(
    name: str, point_video: Arrays, image_video: Arrays | None, class_names: dict[str, list[str] | None],
    source: str | None = None,
) -> Figure:
    """The middle frame of a sequence: its image (sources with colour only), points by depth, points by semantic
    label (labelled sources only, with a legend), and the action timeline (when frames are labelled)."""
    points_all = point_video["points"]
    t = points_all.shape[0] // 2
    points = points_all[t]
    point_labels = point_video["point_labels"][t]
    frame_labels = point_video["frame_labels"]
    panels = ["image"] if image_video is not None else []
    panels.append("depth")
    if (point_labels >= 0).any():
        panels.append("labels")
    has_timeline = bool((frame_labels >= 0).any())
    skipped = [what for what, missing in (("image", image_video is None), ("semantic labels", "labels" not in panels),
                                          ("action timeline", not has_timeline)) if missing]
    if skipped:
        logger.info("ingest preview of %s: no %s in this source; those panels are left out", name, ", ".join(skipped))
    fig = Figure(figsize=(4.4 * len(panels) + 1.6, 5.0 if has_timeline else 4.0), layout="constrained")
    grid = fig.add_gridspec(2 if has_timeline else 1, len(panels), height_ratios=[4, 1] if has_timeline else [1])
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        if panel == "image":
            ax.imshow(image_video["frames"][t])
            ax.set_title("colour image", fontsize=9)
            ax.axis("off")
        elif panel == "depth":
            _depth_panel(fig, ax, points, f"{points.shape[0]} points by depth")
        else:
            plot_points(ax, points, label_colors(point_labels), "points by semantic label")
            handles, names = class_handles(_present(point_labels), class_names.get("semantic"))
            ax.legend(handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                      title="semantic", title_fontsize=7)
    if has_timeline:
        ax = fig.add_subplot(grid[1, :])
        plot_action_timeline(ax, {"actions": frame_labels}, class_names.get("action"))
        ax.axvline(t + 0.5, color="k", lw=1, ls="--")
    origin = f" ({source})" if source else ""
    fig.suptitle(f"{name}{origin}: frame {t} of {points_all.shape[0]}", fontsize=10)
    return fig


def plot_view_pair(clip: str, point_video: Arrays, views: Arrays) -> Figure:
    """The original clip's first frame next to the first frame of each view of pair 0 (points, then images)."""
    has_images = "images" in views
    rows = 2 if has_images else 1
    fig = Figure(figsize=(12, 3.8 * rows), layout="constrained")
    axes = fig.subplots(rows, 3, squeeze=False)
    frame_ids = views["frame_ids"][0]  # (2, T)
    original = point_video["points"][frame_ids[0, 0]]
    original = original - original.mean(axis=0)
    panels = [("clip (centred)", original, frame_ids[0, 0])] + [
        (f"view {v + 1}", views["points"][0, v, 0], frame_ids[v, 0]) for v in range(2)
    ]
    for ax, (title, points, frame) in zip(axes[0], panels, strict=True):
        _depth_panel(fig, ax, points, f"{title}: frame {frame}", label="z from the clip centre (m)")
    if has_images:
        axes[1, 0].axis("off")
        axes[1, 0].text(0.0, 0.5, f"{clip}\nframes of view 1: {frame_ids[0].tolist()}\n"
                        f"frames of view 2: {frame_ids[1].tolist()}", fontsize=8, va="center", wrap=True)
        for v in range(2):
            axes[1, v + 1].imshow(views["images"][0, v, 0])
            axes[1, v + 1].set_title(f"view {v + 1}: image of frame {frame_ids[v, 0]}", fontsize=9)
            axes[1, v + 1].axis("off")
    fig.suptitle(f"Augmented view pair of {clip}", fontsize=10)
    return fig


# ------------------------------------------------------------------------------------------------ training


def plot_history(history, title: str, x: str = "step") -> Figure:
    """Loss curves of a training history table: ``loss`` and every term column, plus ``lr`` on a second axis.

    Columns other than step/epoch/lr/grad_norm/clips_per_s/seconds are float loss terms; curves of more than ten
    points are smoothed over five.
    """
    skip = {"step", "epoch", "lr", "grad_norm", "clips_per_s", "seconds"}
    terms = [c for c in history.columns if c not in skip and history[c].dtype.kind == "f"]
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for term in terms:
        values = history[term].to_numpy()
        smooth = np.convolve(values, np.ones(5) / 5, mode="valid") if len(values) > 10 else values
        ax.plot(history[x].to_numpy()[len(values) - len(smooth):], smooth, label=term, lw=2 if term == "loss" else 1)
    ax.set_xlabel(x)
    ax.set_ylabel("loss")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if "lr" in history:
        lr_ax = ax.twinx()
        (line,) = lr_ax.plot(history[x], history["lr"], color="grey", ls=":", lw=1)
        lr_ax.set_ylabel("learning rate", color="grey")
        handles, labels = [*handles, line], [*labels, "learning rate"]
    fig.legend(handles, labels, fontsize=8, loc="outside right upper", frameon=False)
    return fig


# ------------------------------------------------------------------------------------------------ study


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, int]:
    """Mean, half-width of the Student-t confidence interval of the mean, and count (half-width 0 for one value)."""
    from scipy import stats  # noqa: PLC0415 (scikit-learn's dependency; only the study plots need it)

    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float(values.mean()), 0.0, n
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return float(values.mean()), half, n


def _variant_colors(variants: Sequence[str]) -> dict[str, np.ndarray]:
    cmap = mpl.colormaps["tab10"]
    return {v: np.asarray(cmap(i % 10)) for i, v in enumerate(variants)}


def _label_efficiency_panel(ax, part, title: str, metric: str, present: list[str], colors: dict[str, np.ndarray],
                            level: float) -> None:
    """One panel of :func:`plot_label_efficiency`: the rows ``part`` of one task and protocol, one series a variant."""
    fractions = sorted(part["label_fraction"].unique())
    for k, variant in enumerate(present):
        stats = [mean_ci(g["value"].to_numpy(), level) for _, g in
                 part[part["variant"] == variant].groupby("label_fraction")]
        rows = sorted(part.loc[part["variant"] == variant, "label_fraction"].unique())
        mean, half = np.array([s[0] for s in stats]), np.array([s[1] for s in stats])
        dodge = 1 + 0.05 * (k - (len(present) - 1) / 2)  # overlapping error bars stay apart
        x = np.array(rows) * 100 * dodge if len(fractions) > 1 else np.array([k])
        ax.errorbar(x, mean, yerr=half, marker="o", ms=4, capsize=3, color=colors[variant],
                    lw=2.4 if variant == "crossvideo" else 1.2, label=variant)
    if len(fractions) > 1:
        ax.set_xscale("log")
        ax.set_xticks([f * 100 for f in fractions], [f"{f:.0%}" for f in fractions])
        ax.minorticks_off()
        ax.set_xlabel("labelled training sequences")
        ax.set_title(title, fontsize=9)
    else:
        ax.set_xticks(range(len(present)), present, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(present) - 0.4)
        ax.set_title(f"{title}, {fractions[0]:.0%} labels", fontsize=9)
    ax.set_ylabel(f"{metric} (%)")
    ax.grid(alpha=0.3)
    means = part.groupby(["variant", "label_fraction"])["value"].mean()
    pad = max(5.0, 0.15 * float(means.max() - means.min()))  # CIs of few seeds may reach past the axis
    ax.set_ylim(max(0.0, float(means.min()) - pad), min(100.0, float(means.max()) + pad))


def plot_label_efficiency(metrics, headline: dict[str, str], level: float = 0.95) -> Figure | None:
    """Headline metric against label fraction: one row of panels per task, one column per protocol.

    Each point is the mean over seeds with a ``level`` Student-t confidence interval. A panel with several label
    fractions draws one line per variant over them (log axis at the fractions run); a panel with one fraction
    compares the variants at that fraction side by side. One legend for all panels, outside them.
    """
    tasks = [t for t in headline if ((metrics["task"] == t) & (metrics["metric"] == headline[t])).any()]
    if not tasks:
        logger.info("label efficiency plot skipped: the metrics table holds no headline metric %s", headline)
        return None
    protocols = sorted(metrics.loc[metrics["task"].isin(tasks), "protocol"].unique())
    headline_rows = metrics[[headline.get(t) == m for t, m in zip(metrics["task"], metrics["metric"], strict=True)]]
    columns = int(headline_rows.groupby("task")["protocol"].nunique().max())
    variants = list(dict.fromkeys(metrics["variant"]))
    colors = _variant_colors(variants)
    replicates = headline_rows.groupby(["variant", "task", "protocol", "label_fraction"]).size()  # runs per point
    fig = Figure(figsize=(max(7.0, 1.8 + 4.0 * columns), 1.0 + 3.0 * len(tasks)), layout="constrained")
    axes = fig.subplots(len(tasks), columns, squeeze=False)
    for r, task in enumerate(tasks):
        rows_of_task = metrics[(metrics["task"] == task) & (metrics["metric"] == headline[task])]
        run = [p for p in protocols if (rows_of_task["protocol"] == p).any()]
        for ax in axes[r, len(run):]:
            ax.remove()  # this task was not run with every protocol: its panels stay left-aligned, none empty
        for c, protocol in enumerate(run):
            part = rows_of_task[rows_of_task["protocol"] == protocol]
            _label_efficiency_panel(axes[r, c], part, f"{task.replace('_', ' ')}, {protocol}", headline[task],
                                    [v for v in variants if v in set(part["variant"])], colors, level)
    handles = [mpl.lines.Line2D([], [], color=colors[v], marker="o", lw=2.4 if v == "crossvideo" else 1.2)
               for v in variants]
    fig.legend(handles, variants, loc="outside right upper", fontsize=8, frameon=False, title="variant")
    n = "/".join(map(str, sorted(set(replicates.to_numpy().tolist()))))
    what = "runs (pretraining × fine-tuning seeds)" if "pretrain_seed" in metrics else "seeds"
    fig.suptitle(f"Label efficiency: mean over {n} {what}\nbars: {level:.0%} Student-t CI of the mean (clipped to "
                 "the axis)", fontsize=10)
    return fig


def plot_timelines(rows: list[tuple[str, dict[str, np.ndarray]]], classes: Sequence[str] | None,
                   title: str | None = None) -> Figure | None:
    """One action timeline panel per sequence (ground truth and each variant's prediction as bands) and one legend
    with every class that appears in any panel."""
    if not rows:
        logger.info("action timeline plot skipped: no sequence with action predictions")
        return None
    bands = max(len(r) for _, r in rows)
    fig = Figure(figsize=(12, 0.9 + len(rows) * (0.5 + 0.35 * bands)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    present: set[int] = set()
    for ax, (name, row) in zip(axes, rows, strict=True):
        present |= set(plot_action_timeline(ax, row, classes, legend=False))
        ax.set_title(name, fontsize=9, loc="left")
    handles, names = class_handles(sorted(present), classes)
    fig.legend(handles, names, loc="outside right upper", fontsize=8, frameon=False, title="action")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_confusion(matrix: np.ndarray, classes: Sequence[str], title: str | None = None) -> Figure | None:
    """Row-normalised confusion matrix (rows: ground truth, in % of that class's frames) with a colour bar.

    Shape:
        matrix: (C, C) counts, ``matrix[i, j]`` = frames of true class i predicted as j.
    """
    matrix = np.asarray(matrix)
    if matrix.sum() == 0:
        logger.info("confusion matrix skipped: no labelled frames were predicted")
        return None
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.where(totals > 0, 100 * matrix / np.maximum(totals, 1), np.nan)  # (C, C) %
    size = len(classes)
    fig = Figure(figsize=(2.6 + 0.55 * size, 1.6 + 0.5 * size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    for (i, j), value in np.ndenumerate(share):
        if value >= 0.5:
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6,
                    color="white" if value > 55 else "black")
    ax.set_xticks(range(size), classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(size), [f"{c} ({int(n)})" for c, n in zip(classes, totals[:, 0], strict=True)], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (frames)")
    fig.colorbar(image, ax=ax, label="% of the true class's frames", shrink=0.8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_per_class_iou(metrics, classes: Sequence[str] | None, variants: Sequence[str],
                       level: float = 0.95) -> Figure | None:
    """Per-class IoU of semantic segmentation, full protocol (else linear) at the lowest label fraction, mean and
    ``level`` CI over seeds. ``None`` (with a log line) when no semantic segmentation ran."""
    part = metrics[(metrics["task"] == "semantic_segmentation") & metrics["metric"].str.startswith("iou_")]
    if part.empty:
        logger.info("per-class IoU plot skipped: no semantic segmentation results in the metrics table")
        return None
    protocol = "full" if "full" in set(part["protocol"]) else sorted(part["protocol"].unique())[0]
    part = part[part["protocol"] == protocol]
    fraction = part["label_fraction"].min()
    part = part[part["label_fraction"] == fraction]
    variants = [v for v in variants if v in set(part["variant"])] or sorted(part["variant"].unique())
    ids = sorted({int(m.removeprefix("iou_")) for m in part["metric"]})
    colors = _variant_colors(variants)
    fig = Figure(figsize=(3.0 + 0.75 * len(ids), 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(variants)
    seeds = set()
    for k, variant in enumerate(variants):
        rows = part[part["variant"] == variant]
        stats = [mean_ci(rows.loc[rows["metric"] == f"iou_{c}", "value"].to_numpy(), level)
                 if (rows["metric"] == f"iou_{c}").any() else (np.nan, 0.0, 0) for c in ids]
        seeds |= {s[2] for s in stats if s[2]}
        ax.bar(np.arange(len(ids)) + k * width, [s[0] for s in stats], width, yerr=[s[1] for s in stats],
               capsize=2, color=colors[variant], label=variant)
    ax.set_xticks(np.arange(len(ids)) + width * (len(variants) - 1) / 2, [class_name(classes, c) for c in ids],
                  rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=8, frameon=False, title="variant")
    ax.set_title(f"Semantic segmentation per-class IoU: {protocol}, {fraction:.0%} labels, mean and {level:.0%} CI "
                 f"over {'/'.join(map(str, sorted(seeds)))} runs", fontsize=9)
    return fig


def plot_tsne(xy: np.ndarray, labels: np.ndarray, classes: Sequence[str] | None,
              title: str = "t-SNE of pretrained point video features (colour: majority action of the clip)"
              ) -> Figure:
    """2-D embedding of clip features coloured by class, legend outside the points.

    Shape:
        xy: (M, 2); labels: (M,) int (−1: no labelled frame).
    """
    fig = Figure(figsize=(7.8, 5), layout="constrained")
    ax = fig.add_subplot()
    for label in sorted(np.unique(labels), key=lambda c: (c < 0, c)):
        keep = labels == label
        ax.scatter(xy[keep, 0], xy[keep, 1], s=14, color=label_colors(np.array(label)),
                   label=f"{class_name(classes, int(label))} ({int(keep.sum())})")
    fig.legend(loc="outside right upper", fontsize=7, markerscale=1.5, frameon=False, title="action (clips)")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return fig


def per_class_accuracy(pred: np.ndarray, truth: np.ndarray) -> dict[int, tuple[float, int]]:
    """``{class: (% of its points predicted as it, point count)}`` for every class in ``truth`` (−1 ignored)."""
    return {int(c): (float((pred[truth == c] == c).mean() * 100), int((truth == c).sum()))
            for c in np.unique(truth) if c >= 0}


def object_headline(pred: np.ndarray, truth: np.ndarray, classes: Sequence[str] | None) -> str:
    """The share of the object's points predicted correctly (true class an object category: any class but
    background, table, hand, distractor), then the whole frame's; the frame's alone without named classes or object.

    Shape:
        pred, truth: (N,) int (−1 ignored).
    """
    labelled = truth >= 0
    overall = float((pred[labelled] == truth[labelled]).mean() * 100) if labelled.any() else float("nan")
    scene = [i for i, name in enumerate(classes or []) if name in BASE_SEMANTIC_CLASSES]
    obj = labelled & ~np.isin(truth, scene) if classes else np.zeros_like(labelled)
    if not obj.any():
        return f"predicted ({overall:.0f}% of points correct)"
    hit = float((pred[obj] == truth[obj]).mean() * 100)
    return f"predicted: object {hit:.0f}% of its {int(obj.sum())} points correct (frame {overall:.0f}%)"


def plot_semantic_frame(name: str, video: Arrays, pred: np.ndarray, classes: Sequence[str] | None,
                        title: str | None = None) -> Figure:
    """The middle frame of a sequence coloured by true and by predicted semantic label, and the share of each true
    class's points predicted correctly (so a wrong hand or object is visible next to a high overall accuracy).

    Shape:
        video["points"]: (T, N, 3); video["point_labels"], pred: (T, N) int.
    """
    t = video["points"].shape[0] // 2
    truth, guess = video["point_labels"][t], pred[t]
    per_class = per_class_accuracy(guess, truth)
    fig = Figure(figsize=(14, 4.6), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 0.8])
    plot_points(fig.add_subplot(grid[0, 0]), video["points"][t], label_colors(truth), "true labels")
    plot_points(fig.add_subplot(grid[0, 1]), video["points"][t], label_colors(guess),
                object_headline(guess, truth, classes))
    ax = fig.add_subplot(grid[0, 2])
    ids = sorted(per_class, key=lambda c: per_class[c][0])
    ax.barh(range(len(ids)), [per_class[c][0] for c in ids], color=label_colors(np.array(ids)))
    ax.set_yticks(range(len(ids)), [f"{class_name(classes, c)} ({per_class[c][1]} pts)" for c in ids], fontsize=8)
    for k, c in enumerate(ids):
        ax.text(min(per_class[c][0] + 2, 88), k, f"{per_class[c][0]:.0f}%", va="center", fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("points of the true class predicted correctly (%)")
    ax.set_title("per-class accuracy in this frame", fontsize=9)
    handles, names = class_handles(_present(truth, guess), classes)
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    fig.suptitle(title or f"{name}, frame {t}: semantic segmentation", fontsize=10)
    return fig


# ------------------------------------------------------------------------------------------------ predict


def plot_predicted_points(name: str, points: np.ndarray, pred: np.ndarray, classes: Sequence[str] | None,
                          title: str | None = None, frames: int = 3) -> Figure:
    """``frames`` evenly spaced frames of a predicted point cloud video, coloured by predicted semantic label.

    Shape:
        points: (T, N, 3); pred: (T, N) int.
    """
    picks = np.unique(np.linspace(0, len(points) - 1, min(frames, len(points))).round().astype(int))
    fig = Figure(figsize=(1.5 + 4.2 * len(picks), 4.4), layout="constrained")
    axes = fig.subplots(1, len(picks), squeeze=False)[0]
    for ax, t in zip(axes, picks, strict=True):
        plot_points(ax, points[t], label_colors(pred[t]), f"frame {t}")
    handles, names = class_handles(_present(pred[picks]), classes)
    fig.legend(handles, names, loc="outside right upper", fontsize=8, frameon=False, title="predicted")
    fig.suptitle(title or f"{name}: predicted semantic labels", fontsize=10)
    return fig
