"""Validation-only check of a generated benchmark: scratch, full fine-tuning, 100 % labels, scored on the val split.

Generates the labelled sequences of ``generate`` (``--env``, ``--set``), ingests them with ``ingest``, splits them
with ``ingest.split`` and trains the study's scratch model (``finetune`` and ``pretrain.model`` parameters, the same
run spec and replicate seeding as the study's scratch variant) on the train split; it never reads the test split.
Prints, per configuration:

- points per class per frame in the val split (mean over frames), and the manipulated object's (classes from 4 on);
- per replicate and task: the headline metric on val and, for semantic segmentation, the IoU of every class;
- the cost: points per frame x frames per sequence, the element count every encoder pass scales with;
- for semantic segmentation, where the object classes are lost (``object_breakdown``): finding the object or naming
  its category, on val (and on train with ``--score-train``);
- with ``--oracle``, how well the category can be named from the labelled object points alone (``oracle_naming``).

    OMP_NUM_THREADS=1 python benchmarks/bench_semantic_val.py --env twins
    OMP_NUM_THREADS=1 python benchmarks/bench_semantic_val.py --set ingest.plane_share=0.6 \\
        --tasks semantic_segmentation action_segmentation --seeds 0 1

``--extra-val K`` adds K held-out sequences to val: those the generator makes after the data set's last index (never
train, val or test of the run; K = 32 gives every category 4 more). ``--set section.key=value`` overrides a parameter
(YAML value) after the environment, like ``kedro run --params``; ``--steps`` replaces ``finetune.steps``;
``--sequences`` replaces ``generate.num_sequences``. Each run generates and ingests in two threads, then trains in one.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import yaml

from crossvideo_kedro.framework.build_parameters import load_build_parameters
from crossvideo_kedro.configs import FinetuneConfig, GeneratorConfig, IngestConfig, PretrainConfig, parse
from crossvideo_kedro.preprocess import assign_splits, ingest_raw_sequence
from crossvideo_kedro.synth.generator import generate_sequence
from crossvideo_kedro.training.downstream import run_downstream
from crossvideo_kedro.training.finetune import pick_label_fraction, score

CONF = Path(__file__).resolve().parents[1] / "conf"
HEADLINE = {"semantic_segmentation": "miou", "action_segmentation": "accuracy"}


def parameters(env: str | None, overrides: list[str]) -> dict[str, dict]:
    """``generate``, ``ingest``, ``finetune`` and ``pretrain`` as ``kedro run --env env --params ...`` sees them."""
    params = {key: load_build_parameters(key, conf_source=CONF, env=env)
              for key in ("generate", "ingest", "finetune", "pretrain")}
    for item in overrides:
        key, value = item.split("=", 1)
        *path, last = key.split(".")
        node = params
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return params


def ingest_all(params: dict[str, dict], extra: int) -> tuple[dict[str, dict], dict[str, str], list[str]]:
    """Every labelled sequence generated and ingested, plus ``extra`` sequences after them (split ``val``: indices
    the data set never reaches, so no train, val or test sequence of the run): (point videos, split per name,
    semantic class names)."""
    generator = parse(GeneratorConfig, params["generate"], "generate")
    total = generator.num_sequences
    ingest = parse(IngestConfig, {**params["ingest"], "num_workers": 1}, "ingest")

    def one(index: int):
        seq = generate_sequence(generator, index)
        return seq.name, ingest_raw_sequence(seq, ingest)[0], seq.semantic_classes

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(one, range(total + extra)))
    videos = {name: video for name, video, _ in done}
    splits = assign_splits(sorted(videos)[:total], ingest.split, ingest.seed)
    return videos, {**splits, **{name: "val" for name in sorted(videos)[total:]}}, done[0][2]


def points_per_class(videos: dict[str, dict], names: list[str], num_classes: int) -> np.ndarray:
    """Mean number of points of each class per frame over the frames of ``names``."""
    labels = np.concatenate([videos[n]["point_labels"] for n in names])  # (F, N)
    return np.stack([(labels == c).sum(axis=1) for c in range(num_classes)], axis=1).mean(axis=0)


def object_breakdown(predictions: dict[str, np.ndarray], videos: dict[str, dict], names: list[str]) -> dict[str, float]:
    """Where the object classes (ids 4 on) are lost: finding the object or naming it.

    ``found``: IoU of "any object class" predicted against labelled; ``named``: of the object points predicted as
    some object class, the share with the right category; ``voted``: share of sequences whose most-predicted object
    class over all frames is the sequence's category; ``as_hand`` / ``as_distractor``: share of object points
    predicted hand / distractor.
    """
    pred = np.concatenate([predictions[n].reshape(-1) for n in names])
    gt = np.concatenate([videos[n]["point_labels"].reshape(-1) for n in names])
    is_obj, said_obj = gt >= 4, pred >= 4
    both = is_obj & said_obj
    votes = []
    for n in names:
        p, g = predictions[n].reshape(-1), videos[n]["point_labels"].reshape(-1)
        if (g >= 4).any() and (p >= 4).any():
            votes.append(np.bincount(p[p >= 4]).argmax() == np.bincount(g[g >= 4]).argmax())
        elif (g >= 4).any():
            votes.append(False)
    return {"found": 100 * both.sum() / max((is_obj | said_obj).sum(), 1),
            "named": 100 * (pred[both] == gt[both]).mean() if both.any() else float("nan"),
            "voted": 100 * float(np.mean(votes)) if votes else float("nan"),
            "as_hand": 100 * (pred[is_obj] == 2).mean(), "as_distractor": 100 * (pred[is_obj] == 3).mean()}


def extent_features(video: dict) -> np.ndarray:
    """A sequence's manipulated object as 8 numbers a frame from its labelled points (classes from 4 on): the square
    roots of its covariance's eigenvalues (3), largest and mean distance from its centroid, vertical extent, point
    count; then their mean, median and maximum over the frames with >= 3 object points. Shape: (24,)."""
    rows = []
    for points, labels in zip(video["points"], video["point_labels"], strict=True):
        obj = points[labels >= 4]
        if len(obj) < 3:
            continue
        centred = obj - obj.mean(axis=0)
        spread = np.sort(np.clip(np.linalg.eigvalsh(np.cov(centred.T)), 0, None))[::-1] ** 0.5
        radius = np.linalg.norm(centred, axis=1)
        rows.append([*spread, radius.max(), radius.mean(), np.ptp(centred[:, 2]), len(obj)])
    rows = np.asarray(rows) if rows else np.zeros((1, 8))
    return np.concatenate([rows.mean(0), np.median(rows, 0), rows.max(0)])


def oracle_naming(videos: dict[str, dict], train: list[str], val: list[str]) -> float:
    """Val accuracy (%) of naming each sequence's object category from ``extent_features`` of its labelled points
    (perfect segmentation, no learning of where the object is): logistic regression on the standardised features of
    the train sequences. The category a sequence's object points carry most is its label."""
    from sklearn.linear_model import LogisticRegression

    def xy(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        names = [n for n in names if (videos[n]["point_labels"] >= 4).any()]
        labels = [np.bincount(videos[n]["point_labels"][videos[n]["point_labels"] >= 4]).argmax() for n in names]
        return np.stack([extent_features(videos[n]) for n in names]), np.asarray(labels)

    (x_train, y_train), (x_val, y_val) = xy(train), xy(val)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-9
    classifier = LogisticRegression(max_iter=5000, C=10.0).fit((x_train - mean) / std, y_train)
    return 100 * float((classifier.predict((x_val - mean) / std) == y_val).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="a conf/ environment (default: conf/base only)")
    parser.add_argument("--set", action="append", default=[], help="section.key=value (YAML), after the env")
    parser.add_argument("--tasks", nargs="*", default=["semantic_segmentation"], choices=sorted(HEADLINE))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="pretraining seeds of the replicates")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sequences", type=int, default=None)
    parser.add_argument("--extra-val", type=int, default=0, help="held-out sequences added to val (after the set)")
    parser.add_argument("--score-train", action="store_true", help="also score the train split (object breakdown)")
    parser.add_argument("--oracle", action="store_true", help="name objects from their labelled points (no model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = parameters(args.env, args.set)
    if args.steps is not None:
        params["finetune"]["steps"] = args.steps
    if args.sequences is not None:
        params["generate"]["num_sequences"] = args.sequences
    videos, splits, semantic = ingest_all(params, args.extra_val)
    train = sorted(n for n, s in splits.items() if s == "train")
    val = sorted(n for n, s in splits.items() if s == "val")
    config = parse(FinetuneConfig, {**params["finetune"], "workers": 1, "progress": False, "val_every": 0}, "finetune")
    model = parse(PretrainConfig, params["pretrain"], "pretrain").model
    frames, n = videos[train[0]]["points"].shape[:2]
    print(f"env {args.env or 'base'}, set {args.set or 'none'}; {len(train)} train / {len(val)} val sequences; "
          f"cost: {n} points x {frames} frames = {n * frames} points a sequence; {config.steps} steps")
    counts = points_per_class(videos, val, len(semantic))
    print("val points per class per frame: " + ", ".join(f"{c} {v:.1f}" for c, v in zip(semantic, counts))
          + f"; the manipulated object (any category) {counts[4:].sum():.1f}")
    if args.oracle:
        print(f"oracle: object category from its labelled points' extent, val accuracy {oracle_naming(videos, train, val):.1f} %")
    for task in args.tasks:
        classes = len(semantic) if task == "semantic_segmentation" else len(params["generate"]["action_classes"])
        for seed in args.seeds:
            replicate = (seed, 0)  # (pretraining seed, fine-tuning seed), as the study's scratch variant
            names = pick_label_fraction(train, 1.0, replicate)
            scored = val + (train if args.score_train else [])
            metrics, predictions, *_ = run_downstream(task, "full", videos, None, names, scored, classes, model, None,
                                                      False, config, replicate)
            if args.score_train:  # the headline and IoU stay val's: score val alone
                metrics = score(task, {n: predictions[n] for n in val}, videos, classes, config.ignore_ids)
            line = f"{task} seed {seed}: val {HEADLINE[task]} {metrics[HEADLINE[task]]:.1f}"
            if task == "semantic_segmentation":
                iou = [metrics.get(f"iou_{i}", float("nan")) for i in range(len(semantic))]
                line += "; IoU " + ", ".join(f"{c} {v:.1f}" for c, v in zip(semantic, iou, strict=True))
                for split, names_of in (("val", val), ("train", train if args.score_train else [])):
                    if names_of:
                        line += f"; {split} object " + ", ".join(
                            f"{k} {v:.1f}" for k, v in object_breakdown(predictions, videos, names_of).items())
            print(line, flush=True)


if __name__ == "__main__":
    main()
