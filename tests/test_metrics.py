"""Action and semantic segmentation metrics: hand-worked examples, naive references and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, jaccard_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from crossvideo_kedro.metrics import (
    action_segmentation_metrics,
    clip_accuracy,
    confusion_matrix,
    edit_score,
    f1_at_overlap,
    framewise_accuracy,
    iou_per_class,
    mean_edit_score,
    scores_from_confusion,
    segments,
    semantic_segmentation_metrics,
)

A, B, C, D = 0, 1, 2, 3


def seq(text: str) -> np.ndarray:
    """'AABC' -> array([0, 0, 1, 2])."""
    return np.array(["ABCDEFGH".index(ch) for ch in text])


# ---------------------------------------------------------------- naive references (MS-TCN's definitions, as loops)


def naive_segments(labels, bg=()):
    out = []
    for t, label in enumerate(labels):
        if t == 0 or label != labels[t - 1]:
            out.append([label, t, t + 1])
        else:
            out[-1][2] = t + 1
    return [tuple(s) for s in out if s[0] not in bg]


def naive_levenshtein(p, y):
    d = np.zeros((len(p) + 1, len(y) + 1))
    d[:, 0], d[0, :] = np.arange(len(p) + 1), np.arange(len(y) + 1)
    for i in range(1, len(p) + 1):
        for j in range(1, len(y) + 1):
            d[i, j] = d[i - 1, j - 1] if p[i - 1] == y[j - 1] else 1 + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
    return d[-1, -1]


def naive_counts(pred, gt, overlap, bg=()):
    ps, ys = naive_segments(list(pred), bg), naive_segments(list(gt), bg)
    hits = [False] * len(ys)
    tp = fp = 0
    for label, s, e in ps:
        ious = [(min(e, ye) - max(s, ys_)) / (max(e, ye) - min(s, ys_)) * (label == yl) for yl, ys_, ye in ys]
        best = int(np.argmax(ious)) if ious else None
        if best is not None and ious[best] >= overlap and not hits[best]:
            tp, hits[best] = tp + 1, True
        else:
            fp += 1
    return tp, fp, len(ys) - sum(hits)


def random_labels(rng, length, num_classes):
    """Label sequences with runs (piecewise constant), like action segmentation outputs."""
    changes = rng.random(length) < 0.25
    return rng.integers(0, num_classes, length)[np.maximum.accumulate(np.where(changes | (np.arange(length) == 0),
                                                                               np.arange(length), 0))]


# ---------------------------------------------------------------- action segmentation: hand-worked examples


def test_segments():
    assert segments(seq("AAABBBCC")) == [(A, 0, 3), (B, 3, 6), (C, 6, 8)]
    assert segments(seq("ABA")) == [(A, 0, 1), (B, 1, 2), (A, 2, 3)]
    assert segments(seq("AABBA"), bg_class=(A,)) == [(B, 2, 4)]
    assert segments(np.array([], dtype=int)) == []


def test_near_miss_boundary():
    gt, pred = seq("AAABBBCC"), seq("AABBBBCC")
    # accuracy: only frame 2 is wrong (B for A) -> 7/8 = 87.5 %
    assert framewise_accuracy([pred], [gt]) == pytest.approx(87.5)
    # edit: segment labels A B C vs A B C -> distance 0 -> 100
    assert edit_score(pred, gt) == pytest.approx(100.0)
    # IoUs with the same-label gt segment: A [0,2) vs [0,3) = 2/3; B [2,6) vs [3,6) = 3/4; C [6,8) = 1
    # -> at 0.10, 0.25, 0.50 all three are tp: P = R = 1 -> F1 = 100
    metrics = action_segmentation_metrics([pred], [gt])
    assert metrics == pytest.approx({"accuracy": 87.5, "edit": 100.0, "f1@10": 100.0, "f1@25": 100.0,
                                     "f1@50": 100.0})
    # at 0.70 A (0.667) fails: tp 2, fp 1, fn 1 -> P = R = 2/3 -> F1 = 66.67; at 0.80 only C: tp 1, fp 2, fn 2 -> 33.3
    assert f1_at_overlap([pred], [gt], 0.70) == pytest.approx(200 / 3)
    assert f1_at_overlap([pred], [gt], 0.80) == pytest.approx(100 / 3)


def test_over_segmentation():
    gt, pred = seq("AAAAAAAA"), seq("ABABABAA")
    # accuracy: frames 0, 2, 4, 6, 7 are right -> 5/8 = 62.5 %
    # edit: 7 predicted segments A B A B A B A vs 1 -> delete 6 -> (1 - 6/7) * 100 = 14.29
    # F1@10: A[0,1) IoU 1/8 = 0.125 -> tp (gt hit); Bs: IoU 0 -> fp; A[2,3), A[4,5): 0.125 but hit -> fp;
    #        A[6,8): 0.25, hit -> fp. tp 1, fp 6, fn 0 -> P = 1/7, R = 1 -> F1 = 2 (1/7) / (8/7) = 25
    # F1@25: A[0,1) 0.125 < 0.25 -> fp ... A[6,8) 0.25 >= 0.25, unmatched -> tp. tp 1, fp 6, fn 0 -> 25
    # F1@50: no segment reaches 0.5: tp 0, fp 7, fn 1 -> 0
    metrics = action_segmentation_metrics([pred], [gt])
    assert metrics == pytest.approx({"accuracy": 62.5, "edit": 100 * (1 - 6 / 7), "f1@10": 25.0, "f1@25": 25.0,
                                     "f1@50": 0.0})


def test_label_never_in_ground_truth():
    gt, pred = seq("AAABBB"), seq("AAADDD")
    # edit: A D vs A B -> one substitution -> (1 - 1/2) * 100 = 50
    # F1: A tp (IoU 1); D has no same-label gt segment (IoU 0) -> fp; gt B unmatched -> fn
    #     tp 1, fp 1, fn 1 -> P = R = 1/2 -> F1 = 50 at every threshold
    metrics = action_segmentation_metrics([pred], [gt])
    assert metrics == pytest.approx({"accuracy": 50.0, "edit": 50.0, "f1@10": 50.0, "f1@25": 50.0, "f1@50": 50.0})


def test_f1_sums_counts_over_videos():
    # video 1: perfect, tp 1 fp 0 fn 0 (F1 100); video 2: gt A B C D (2 frames each), pred all E: tp 0 fp 1 fn 4
    # (F1 0). Per-video mean would be 50; summed: tp 1, fp 1, fn 4 -> P = 1/2, R = 1/5 -> F1 = 0.2 / 0.7 = 28.57
    preds = [seq("AAAA"), seq("EEEEEEEE")]
    gts = [seq("AAAA"), seq("AABBCCDD")]
    assert f1_at_overlap(preds, gts, 0.5) == pytest.approx(100 * 0.2 / 0.7)
    # accuracy also over all frames: 4 + 0 of 12 -> 33.3 (the mean of per-video accuracies would be 50)
    assert framewise_accuracy(preds, gts) == pytest.approx(100 / 3)
    # edit is averaged per video: (100 + (1 - 4/4) * 100) / 2 = 50
    assert mean_edit_score(preds, gts) == pytest.approx(50.0)


def test_background_class():
    gt, pred = np.array([0, 0, 1, 1, 0, 0, 2, 2]), np.array([0, 1, 1, 1, 0, 2, 2, 2])
    # without background: pred 0 1 0 2 vs gt 0 1 0 2 -> edit 100; with bg 0: segments 1 [1,4) vs [2,4) = 2/3,
    # 2 [5,8) vs [6,8) = 2/3 -> F1@50 = 100, F1 at 0.7 = 0 (tp 0, fp 2, fn 2)
    assert edit_score(pred, gt, bg_class=(0,)) == 100.0
    assert f1_at_overlap([pred], [gt], 0.5, bg_class=(0,)) == pytest.approx(100.0)
    assert f1_at_overlap([pred], [gt], 0.7, bg_class=(0,)) == 0.0
    # only background in both: no segments -> edit 100 (identical empty sequences), F1 0 (undefined)
    assert edit_score(np.zeros(4, int), np.zeros(4, int), bg_class=(0,)) == 100.0
    assert f1_at_overlap([np.zeros(4, int)], [np.zeros(4, int)], 0.5, bg_class=(0,)) == 0.0


def test_ignored_frames_are_dropped():
    gt, pred = np.array([0, 0, -1, -1, 0, 0]), np.array([0, 0, 1, 1, 0, 0])
    # frames 2, 3 are unlabelled: what is left is 0000 vs 0000 -> every score 100
    assert action_segmentation_metrics([pred], [gt]) == pytest.approx(
        {"accuracy": 100.0, "edit": 100.0, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 100.0})
    assert framewise_accuracy([pred], [gt]) == 100.0
    assert framewise_accuracy([pred], [gt], ignore=None) == pytest.approx(100 * 4 / 6)
    assert np.isnan(framewise_accuracy([pred], [np.full(6, -1)]))


@pytest.mark.parametrize("seed", range(5))
def test_matches_naive_references(seed):
    rng = np.random.default_rng(seed)
    preds, gts = [], []
    for _ in range(4):
        length = int(rng.integers(5, 60))
        preds.append(random_labels(rng, length, 4))
        gts.append(random_labels(rng, length, 4))
    for bg in ((), (0,)):
        for p, g in zip(preds, gts, strict=True):
            ps, ys = [s[0] for s in naive_segments(list(p), bg)], [s[0] for s in naive_segments(list(g), bg)]
            assert segments(p, bg) == naive_segments(list(p), bg)
            if ps or ys:
                assert edit_score(p, g, bg) == pytest.approx((1 - naive_levenshtein(ps, ys) / max(len(ps), len(ys)))
                                                             * 100)
        for overlap in (0.1, 0.25, 0.5):
            tp, fp, fn = np.sum([naive_counts(p, g, overlap, bg) for p, g in zip(preds, gts, strict=True)], axis=0)
            precision, recall = tp / (tp + fp), tp / (tp + fn)
            expected = np.nan_to_num(2 * precision * recall / (precision + recall)) * 100
            assert f1_at_overlap(preds, gts, overlap, bg) == pytest.approx(expected)
    flat_p, flat_g = np.concatenate(preds), np.concatenate(gts)
    assert framewise_accuracy(preds, gts) == pytest.approx(100 * accuracy_score(flat_g, flat_p))


def test_action_metric_errors():
    with pytest.raises(ValueError, match="frames"):
        framewise_accuracy([np.zeros(3)], [np.zeros(4)])
    with pytest.raises(ValueError, match="videos"):
        f1_at_overlap([np.zeros(3)], [], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        f1_at_overlap([np.zeros(3)], [np.zeros(3)], 50)


def test_clip_accuracy():
    assert clip_accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 75.0
    with pytest.raises(ValueError):
        clip_accuracy(np.array([1]), np.array([1, 2]))


# ---------------------------------------------------------------- semantic segmentation


def test_semantic_hand_worked():
    # classes 0 (ignored), 1, 2, 3; class 3 is predicted but never in the ground truth
    gt = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    pred = np.array([2, 1, 1, 1, 3, 2, 2, 1])
    # ignored points (gt 0) are dropped, so their predictions 2 and 1 are no false positives
    # class 1: tp 2, fn 1 (-> 3), fp 1 (from a gt-2 point) -> IoU 2/4 = 0.5
    # class 2: tp 2, fn 1 (-> 1), fp 0 -> IoU 2/3
    # class 3: absent from gt -> not averaged (NaN); mIoU = (0.5 + 0.667) / 2 = 58.33 %; accuracy 4/6 = 66.67 %
    iou = iou_per_class(pred, gt, 4, ignore_ids=(0,))
    np.testing.assert_allclose(iou, [np.nan, 0.5, 2 / 3, np.nan])
    metrics = semantic_segmentation_metrics(pred, gt, 4, ignore_ids=(0,))
    assert metrics["miou"] == pytest.approx(100 * (0.5 + 2 / 3) / 2)
    assert metrics["accuracy"] == pytest.approx(100 * 4 / 6)
    assert metrics["iou_per_class"] == pytest.approx({1: 50.0, 2: 200 / 3})


@pytest.mark.parametrize("seed", range(4))
def test_semantic_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    num_classes, ignore = 9, (0, 1)
    gt = rng.integers(0, num_classes - 1, size=(6, 500))  # class 8 never in the ground truth
    gt[rng.random(gt.shape) < 0.05] = 5  # keep class 5 rare but present
    gt[gt == 6] = 7  # class 6 absent from the ground truth too
    pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, num_classes, size=gt.shape))
    keep = ~np.isin(gt, ignore)
    g, p = gt[keep], pred[keep]

    cm = confusion_matrix(pred, gt, num_classes, ignore)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, sk_confusion_matrix(g, p, labels=np.arange(num_classes)))

    present = np.setdiff1d(np.unique(g), ignore)
    iou = iou_per_class(pred, gt, num_classes, ignore)
    np.testing.assert_allclose(iou[present], jaccard_score(g, p, labels=present, average=None))
    assert np.isnan(np.delete(iou, present)).all()

    metrics = semantic_segmentation_metrics(pred, gt, num_classes, ignore)
    assert metrics["accuracy"] == pytest.approx(100 * accuracy_score(g, p))
    assert metrics["miou"] == pytest.approx(100 * jaccard_score(g, p, labels=present, average="macro"))
    assert sorted(metrics["iou_per_class"]) == present.tolist()
    # a dataset scored chunk by chunk: summed confusion matrices give the same numbers
    summed = sum(confusion_matrix(pred[k], gt[k], num_classes, ignore) for k in range(len(gt)))
    chunked = scores_from_confusion(summed, ignore)
    assert chunked["miou"] == pytest.approx(metrics["miou"]) and chunked["accuracy"] == pytest.approx(
        metrics["accuracy"])
    assert chunked["iou_per_class"] == pytest.approx(metrics["iou_per_class"])


def test_semantic_errors():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="gt"):
        confusion_matrix(np.array([0, 1]), np.array([0, -1]), 3)
    # a gt label outside [0, C) is fine when ignored
    assert confusion_matrix(np.array([0, 1]), np.array([0, -1]), 3, ignore_ids=(-1,)).sum() == 1
    # ... and an ignore id outside [0, C) does not hide the last class
    metrics = semantic_segmentation_metrics(np.array([2, 2]), np.array([2, -1]), 3, ignore_ids=(-1,))
    assert metrics["iou_per_class"] == {2: 100.0}


def test_paired_difference_ci_against_a_hand_worked_example():
    from crossvideo_kedro.metrics import paired_difference_ci

    # differences 1, 2, 3, 4: mean 2.5, s = sqrt(5/3) = 1.290994, se = s / 2 = 0.645497,
    # t_{0.975, 3} = 3.182446 (tables) -> half width 2.054260 -> [0.445740, 4.554260]
    ci = paired_difference_ci([11.0, 22.0, 33.0, 44.0], [10.0, 20.0, 30.0, 40.0])
    assert ci["n"] == 4 and ci["mean"] == 2.5
    assert ci["std"] == pytest.approx(1.290994, abs=1e-6)
    assert ci["low"] == pytest.approx(0.445740, abs=1e-5) and ci["high"] == pytest.approx(4.554260, abs=1e-5)
    wider = paired_difference_ci([11.0, 22.0, 33.0, 44.0], [10.0, 20.0, 30.0, 40.0], level=0.99)
    assert wider["low"] < ci["low"] and wider["high"] > ci["high"]  # t_{0.995, 3} = 5.840909
    assert wider["high"] == pytest.approx(2.5 + 5.840909 * 0.645497, abs=1e-4)
    one = paired_difference_ci([3.0], [1.0])
    assert one["mean"] == 2.0 and np.isnan(one["low"]) and np.isnan(one["high"])
    with pytest.raises(ValueError, match="two 1-D arrays of equal length"):
        paired_difference_ci([1.0, 2.0], [1.0])


def test_paired_difference_ci_over_clusters_against_a_hand_worked_example():
    """Pairs that share a pretraining seed are one unit: 3 seeds x 2 fine-tuning seeds are n = 3, not 6."""
    from crossvideo_kedro.metrics import paired_difference_ci

    # differences per pretraining seed: {0.5, 1.5} -> 1, {2, 4} -> 3, {6, 4} -> 5: mean 3, s = 2, se = 2 / sqrt(3)
    # = 1.154701, t_{0.975, 2} = 4.302653 (tables) -> half width 4.968275 -> [-1.968275, 7.968275]
    control = [10.0] * 6
    treatment = [10.5, 11.5, 12.0, 14.0, 16.0, 14.0]
    seeds = [0, 0, 1, 1, 2, 2]
    ci = paired_difference_ci(treatment, control, clusters=seeds)
    assert (ci["n"], ci["pairs"]) == (3, 6) and ci["mean"] == 3.0 and ci["std"] == pytest.approx(2.0)
    assert ci["low"] == pytest.approx(-1.968275, abs=1e-5) and ci["high"] == pytest.approx(7.968275, abs=1e-5)
    # the 6 pairs taken as independent: s = sqrt(20.5 / 5) = 2.024846, t_{0.975, 5} = 2.570582 -> half width 2.124945
    # -> [0.875055, 5.124945]: an interval that excludes 0 although 3 independent units do not support it
    naive = paired_difference_ci(treatment, control)
    assert (naive["n"], naive["pairs"]) == (6, 6)
    assert naive["low"] == pytest.approx(0.875055, abs=1e-5) and naive["high"] == pytest.approx(5.124945, abs=1e-5)
    # one pair per cluster is the plain interval; cluster labels need not be sorted or numbers
    plain = paired_difference_ci([11.0, 22.0, 33.0, 44.0], [10.0, 20.0, 30.0, 40.0], clusters=["d", "b", "c", "a"])
    assert plain["low"] == pytest.approx(0.445740, abs=1e-5) and plain["n"] == 4
    with pytest.raises(ValueError, match="clusters must label every pair"):
        paired_difference_ci([1.0, 2.0], [1.0, 1.0], clusters=[0])
