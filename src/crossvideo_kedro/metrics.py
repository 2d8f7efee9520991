"""Evaluation metrics for 4D action segmentation and 4D semantic segmentation (docs/design.md §6). Pure NumPy.

Action segmentation (MS-TCN definitions, Farha & Gall, CVPR 2019, ``eval.py`` of github.com/yabufarha/ms-tcn,
itself adapted from Lea et al.'s TCN metrics):

- framewise accuracy over all frames of all videos;
- segmental edit score, 1 − Levenshtein(segment labels of prediction, of ground truth) / max(lengths), per video,
  averaged over videos;
- F1@k: predicted segments matched greedily to ground-truth segments of the same label at IoU ≥ k; tp, fp, fn
  summed over videos before precision and recall.

All action-segmentation scores are percentages. ``bg_class`` labels (MS-TCN's "background") form no segment.

Semantic segmentation: per-class IoU and mIoU over the classes present in the ground truth, point accuracy, all from
one confusion matrix (so a dataset is scored by summing the confusion matrices of its parts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Segment = tuple[int, int, int]  # (label, start, end), end exclusive
OVERLAPS = (0.10, 0.25, 0.50)


# ---------------------------------------------------------------- action segmentation


def _check_videos(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predicted videos but {len(gts)} ground-truth videos")
    pairs = []
    for k, (p, g) in enumerate(zip(preds, gts, strict=True)):
        p, g = np.asarray(p).ravel(), np.asarray(g).ravel()
        if p.shape != g.shape:
            raise ValueError(f"video {k}: prediction has {p.size} frames, ground truth {g.size}")
        pairs.append((p, g))
    return pairs


def framewise_accuracy(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], ignore: int | None = -1) -> float:
    """Percentage of correctly labelled frames over all frames of all videos.

    Frames whose ground truth equals ``ignore`` are left out (``None`` keeps every frame). NaN when no frame is left.

    Args:
        preds: per-video predicted labels, each (T_k,).
        gts: per-video ground-truth labels, each (T_k,).
        ignore: ground-truth label of unlabelled frames.
    """
    correct = total = 0
    for p, g in _check_videos(preds, gts):
        keep = np.ones(g.shape, bool) if ignore is None else g != ignore
        correct += int(np.count_nonzero(p[keep] == g[keep]))
        total += int(np.count_nonzero(keep))
    return 100.0 * correct / total if total else float("nan")


def segments(labels: np.ndarray, bg_class: Iterable[int] = ()) -> list[Segment]:
    """Runs of equal labels as ``(label, start, end)`` with ``end`` exclusive; runs of ``bg_class`` are dropped.

    >>> segments(np.array([0, 0, 1, 1, 1, 0]))
    [(0, 0, 2), (1, 2, 5), (0, 5, 6)]
    """
    labels = np.asarray(labels).ravel()
    if labels.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # first frame of each run
    ends = np.r_[starts[1:], labels.size]
    bg = set(bg_class)
    return [(labels[s].item(), int(s), int(e)) for s, e in zip(starts, ends, strict=True) if labels[s].item() not in bg]


def _levenshtein(p: Sequence, y: Sequence) -> int:
    """Edit distance (insertions, deletions, substitutions at cost 1) between two label sequences."""
    row = np.arange(len(y) + 1)
    y = np.asarray(y)
    for i, label in enumerate(p, start=1):
        prev, row = row, np.empty_like(row)
        row[0] = i
        sub = prev[:-1] + (y != label)  # diagonal: substitution (0 when the labels match)
        dele = prev[1:] + 1
        best = np.minimum(sub, dele)
        for j in range(1, len(row)):  # insertion depends on the cell to the left
            row[j] = min(best[j - 1], row[j - 1] + 1)
    return int(row[-1])


def edit_score(pred: np.ndarray, gt: np.ndarray, bg_class: Iterable[int] = ()) -> float:
    """Segmental edit score of one video: (1 − Levenshtein(P, Y) / max(|P|, |Y|)) · 100.

    P and Y are the label sequences of the segments of ``pred`` and ``gt`` (background runs dropped). Two empty
    sequences score 100 (MS-TCN divides by zero there).
    """
    p = [label for label, _, _ in segments(pred, bg_class)]
    y = [label for label, _, _ in segments(gt, bg_class)]
    if not p and not y:
        return 100.0
    return (1.0 - _levenshtein(p, y) / max(len(p), len(y))) * 100.0


def mean_edit_score(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], bg_class: Iterable[int] = ()) -> float:
    """:func:`edit_score` averaged over videos (NaN for no video)."""
    pairs = _check_videos(preds, gts)
    bg = tuple(bg_class)
    return float(np.mean([edit_score(p, g, bg) for p, g in pairs])) if pairs else float("nan")


def _f_counts(pred: np.ndarray, gt: np.ndarray, overlap: float, bg_class: Iterable[int]) -> tuple[int, int, int]:
    """MS-TCN's ``f_score`` for one video: (tp, fp, fn)."""
    bg = tuple(bg_class)
    p_seg, y_seg = segments(pred, bg), segments(gt, bg)
    if not y_seg:
        return 0, len(p_seg), 0
    y_label = np.array([s[0] for s in y_seg])
    y_start, y_end = np.array([s[1] for s in y_seg]), np.array([s[2] for s in y_seg])
    hits = np.zeros(len(y_seg), bool)
    tp = fp = 0
    for label, start, end in p_seg:  # in temporal order
        intersection = np.minimum(end, y_end) - np.maximum(start, y_start)
        union = np.maximum(end, y_end) - np.minimum(start, y_start)
        iou = intersection / union * (y_label == label)  # other labels score 0 (disjoint ones score < 0)
        best = int(iou.argmax())  # the best-overlapping ground-truth segment, first on ties
        if iou[best] >= overlap and not hits[best]:
            tp += 1
            hits[best] = True
        else:
            fp += 1
    return tp, fp, int(len(y_seg) - hits.sum())


def _f1(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 200.0 * precision * recall / (precision + recall) if precision + recall else 0.0


def f1_at_overlap(
    preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], overlap: float, bg_class: Iterable[int] = ()
) -> float:
    """Segmental F1 at IoU threshold ``overlap`` (a fraction, e.g. 0.5 for F1@50), in percent.

    For each video, each predicted segment in temporal order takes the ground-truth segment of the same label with
    the highest IoU; it is a true positive if that IoU ≥ ``overlap`` and the segment is not matched yet, otherwise a
    false positive; unmatched ground-truth segments are false negatives. tp, fp and fn are summed over videos, then
    F1 = 2PR / (P + R) · 100 with P = tp / (tp + fp), R = tp / (tp + fn); 0 where undefined.
    """
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap is an IoU fraction in [0, 1] (0.5 for F1@50), got {overlap}")
    tp = fp = fn = 0
    for p, g in _check_videos(preds, gts):
        t, f, n = _f_counts(p, g, overlap, bg_class)
        tp, fp, fn = tp + t, fp + f, fn + n
    return _f1(tp, fp, fn)


def action_segmentation_metrics(
    preds: Sequence[np.ndarray],
    gts: Sequence[np.ndarray],
    ignore: int | None = -1,
    bg_class: Iterable[int] = (),
) -> dict[str, float]:
    """Accuracy, edit score and F1@{10,25,50} (percent) of per-frame predictions over a set of videos.

    Frames whose ground truth is ``ignore`` (unlabelled) are dropped from both sequences before any metric, so they
    count neither as correct nor as segments; without such frames this is exactly MS-TCN's evaluation. Videos with
    no labelled frame are skipped.

    Returns:
        ``{"accuracy", "edit", "f1@10", "f1@25", "f1@50"}``.
    """
    pairs = _check_videos(preds, gts)
    if ignore is not None:
        pairs = [(p[g != ignore], g[g != ignore]) for p, g in pairs]
    pairs = [(p, g) for p, g in pairs if g.size]
    p, g = [p for p, _ in pairs], [g for _, g in pairs]
    bg = tuple(bg_class)
    result = {"accuracy": framewise_accuracy(p, g, ignore=None), "edit": mean_edit_score(p, g, bg)}
    for overlap in OVERLAPS:
        result[f"f1@{round(overlap * 100)}"] = f1_at_overlap(p, g, overlap, bg)
    return result


def clip_accuracy(pred: np.ndarray, gt: np.ndarray) -> float:
    """Percentage of clips whose predicted label equals the ground truth (NaN for no clip)."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"got {pred.size} predictions for {gt.size} clips")
    return 100.0 * float(np.mean(pred == gt)) if gt.size else float("nan")


# ---------------------------------------------------------------- semantic segmentation


def confusion_matrix(
    pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_ids: Iterable[int] = ()
) -> np.ndarray:
    """(C, C) int64 counts, rows ground truth, columns prediction (scikit-learn's layout).

    Points whose ground truth is in ``ignore_ids`` are dropped entirely. Labels must lie in [0, C).

    Shape:
        pred, gt: any shape, the same (e.g. (T, N) points of a video); flattened.
    """
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"pred has {pred.size} labels, gt {gt.size}")
    ignore = list(ignore_ids)
    if ignore:
        keep = ~np.isin(gt, ignore)
        pred, gt = pred[keep], gt[keep]
    for name, x in (("pred", pred), ("gt", gt)):
        if x.size and (x.min() < 0 or x.max() >= num_classes):
            raise ValueError(f"{name} labels must lie in [0, {num_classes}) (or gt in ignore_ids), "
                             f"got range [{x.min()}, {x.max()}]")
    flat = gt.astype(np.int64) * num_classes + pred.astype(np.int64)  # one bin per (gt, pred) pair
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _in_range(ids: Iterable[int], num_classes: int) -> list[int]:
    """The ids that are rows of a (C, C) matrix (an ignore id such as -1 is no row)."""
    return [int(i) for i in ids if 0 <= int(i) < num_classes]


def _iou_from_confusion(cm: np.ndarray, ignore_ids: Iterable[int] = ()) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)  # ground-truth points per class
    union = support + cm.sum(axis=0) - tp
    iou = np.full(cm.shape[0], np.nan)
    present = support > 0
    present[_in_range(ignore_ids, cm.shape[0])] = False
    iou[present] = tp[present] / union[present]
    return iou


def iou_per_class(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_ids: Iterable[int] = ()) -> np.ndarray:
    """(C,) IoU = tp / (tp + fp + fn) as a fraction; NaN for classes absent from the ground truth or ignored.

    So ``np.nanmean(iou_per_class(...))`` is the mIoU over classes present in the ground truth. Points whose ground
    truth is in ``ignore_ids`` are dropped first (they add no false positive to the class they were predicted as).
    """
    ignore = tuple(ignore_ids)
    return _iou_from_confusion(confusion_matrix(pred, gt, num_classes, ignore), ignore)


def scores_from_confusion(cm: np.ndarray, ignore_ids: Iterable[int] = ()) -> dict:
    """mIoU, accuracy (percent) and per-class IoU (percent, classes present in the ground truth) from counts.

    ``cm`` is a :func:`confusion_matrix` (or the sum of several, to score a dataset chunk by chunk).
    """
    cm = np.asarray(cm)
    ignore = tuple(ignore_ids)
    if ignore:
        cm = cm.copy()
        cm[_in_range(ignore, cm.shape[0]), :] = 0  # ground truth in ignore_ids never counts
    iou = _iou_from_confusion(cm, ignore)
    present = np.flatnonzero(~np.isnan(iou))
    total = cm.sum()
    return {
        "miou": 100.0 * float(iou[present].mean()) if present.size else float("nan"),
        "accuracy": 100.0 * float(np.trace(cm)) / total if total else float("nan"),
        "iou_per_class": {int(c): 100.0 * float(iou[c]) for c in present},
    }


def semantic_segmentation_metrics(
    pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_ids: Iterable[int] = ()
) -> dict:
    """Semantic segmentation scores (percent) of per-point predictions.

    Points whose ground truth is in ``ignore_ids`` are dropped entirely (also from other classes' false positives).
    ``miou`` averages IoU over the classes present in the remaining ground truth; ``accuracy`` is point accuracy.

    Returns:
        ``{"miou": float, "accuracy": float, "iou_per_class": {class id: IoU}}`` (present classes only).
    """
    ignore = tuple(ignore_ids)
    return scores_from_confusion(confusion_matrix(pred, gt, num_classes, ignore), ignore)


def paired_difference_ci(treatment: Sequence[float], control: Sequence[float], level: float = 0.95,
                         clusters: Sequence[object] | None = None) -> dict:
    """Mean paired difference ``d_r = treatment_r − control_r`` over replicates r and its t confidence interval.

    ``mean ± t_{(1+level)/2, n−1} · s_d / √n`` with ``s_d`` the sample standard deviation (ddof 1) of the
    differences (Student's paired t interval). With one replicate the interval is undefined (NaN bounds).

    ``clusters`` (one label per pair, e.g. the pretraining seed): pairs that share a label are not independent (they
    share a pretrained encoder), so the differences are first averaged within each cluster and the interval is the t
    interval of the ``n`` cluster means — the independent units. One pair per cluster is the plain interval.

    Returns:
        ``{"mean", "low", "high", "std", "n", "pairs"}`` — ``n`` independent units (clusters, else pairs),
        ``pairs`` paired replicates.
    """
    from scipy.stats import t as student_t  # noqa: PLC0415 - scipy comes with scikit-learn

    a, b = np.asarray(treatment, dtype=np.float64), np.asarray(control, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    d = a - b
    pairs = len(d)
    if clusters is not None:
        labels = np.asarray(clusters)
        if labels.shape != d.shape:
            raise ValueError(f"clusters must label every pair: {labels.shape} labels for {d.shape} pairs")
        _, which = np.unique(labels, return_inverse=True)
        d = np.bincount(which, weights=d) / np.bincount(which)
    n = len(d)
    if n == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "std": float("nan"), "n": 0,
                "pairs": 0}
    mean = float(d.mean())
    if n == 1:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "std": float("nan"), "n": 1,
                "pairs": pairs}
    std = float(d.std(ddof=1))
    half = float(student_t.ppf((1 + level) / 2, n - 1)) * std / np.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "std": std, "n": n, "pairs": pairs}
