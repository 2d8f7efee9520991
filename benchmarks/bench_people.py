"""Recognition of real people in depth (UTD-MHAD): validation accuracy of the project's own model and trainer under
one change at a time.

Reads UTD-MHAD depth files through ``datasets/utd_mhad.read_video`` (points in mm -> metres), keeps every 2nd frame
(15 fps) and 2,048 random points per frame (cached in ``--cache``), then, per variant: ``ingest_point_sequence`` (the
ingest pipeline's own resampling, FPS, frame rate, normalisation) -> ``run_downstream`` (``action_recognition``,
``full`` protocol, from scratch: :class:`FinetuneTrainer` steps) on ``--train`` subjects, scored on ``--val``
subjects (clip accuracy, one clip of ``clip_frames`` frames spread over each video). Prints one table row per
variant and seed, after a learning-free reference row (1-nearest-neighbour on occupancy histograms). The defaults are those of ``conf/depth_actions`` (256 points, 7.5 fps, preset ``small``, 300 steps).

    OMP_NUM_THREADS=1 python benchmarks/bench_people.py --variants baseline unit_radius [--steps 300]
    python benchmarks/bench_people.py --list

Choose settings on ``--val`` (default subject 3, training on subject 1); score the test subjects (2, 4) once.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from crossvideo_kedro.datasets.utd_mhad import FPS, NAME, read_video
from crossvideo_kedro.configs import FinetuneConfig, IngestConfig, ModelConfig, parse
from crossvideo_kedro.preprocess import ingest_point_sequence, sequence_radius
from crossvideo_kedro.sequences import PointSequence
from crossvideo_kedro.training.downstream import run_downstream

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
CACHE_POINTS, CACHE_STEP = 2048, 2  # points per frame and frame step kept in the cache (15 fps)

STRONG = {"rotation_deg": 30.0, "scale": [0.8, 1.2], "translation": 0.1, "jitter_std": 0.01}
#: One change at a time against ``baseline`` (conf/depth_actions): {"ingest": ..., "point": ..., "finetune": ...}.
VARIANTS: dict[str, dict] = {
    "baseline": {},
    "norm_sequence": {"ingest": {"normalise": "sequence"}},
    "radius_auto": {"point": {"radius": "auto"}},
    "norm_radius_auto": {"ingest": {"normalise": "sequence"}, "point": {"radius": "auto"}},
    "radius_0.08": {"point": {"radius": 0.08}},
    "radius_0.3": {"point": {"radius": 0.3}},
    "radius_0.5": {"point": {"radius": 0.5}},
    "radius_0.3_fraction": {"point": {"radius": 0.3}, "finetune": {"event_times": "fraction"}},
    "radius_0.5_fraction": {"point": {"radius": 0.5}, "finetune": {"event_times": "fraction"}},
    "norm_radius_0.3_fraction": {"ingest": {"normalise": "sequence"}, "point": {"radius": 0.3},
                                 "finetune": {"event_times": "fraction"}},
    "anchors_64": {"point": {"num_anchors": 64}},
    "dropout_0.3": {"point": {"dropout": 0.3}},
    "time_span": {"time_span": 1.0},  # every video rescaled to 1 s (the same clips as event_times_fraction)
    "event_times_fraction": {"finetune": {"event_times": "fraction"}},
    "norm_event_times_fraction": {"ingest": {"normalise": "sequence"}, "finetune": {"event_times": "fraction"}},
    "event_times_fraction_clips_4": {"finetune": {"event_times": "fraction", "event_clips": 4}},
    "event_times_fraction_strong": {"finetune": {"event_times": "fraction", "augment": dict(STRONG)}},
    "event_times_fraction_600": {"finetune": {"event_times": "fraction", "steps": 600}},
    "norm_time_span": {"ingest": {"normalise": "sequence"}, "time_span": 1.0},
    "weight_decay_0.1": {"finetune": {"weight_decay": 0.1}},
    "points_512": {"ingest": {"num_points": 512}, "point": {"num_points": 512}},
    "points_1024": {"ingest": {"num_points": 1024}, "point": {"num_points": 1024, "num_anchors": 64}},
    "fps_15": {"ingest": {"target_fps": 15.0}},
    "frames_16": {"finetune": {"clip_frames": 16}},
    "frames_24_fps_15": {"ingest": {"target_fps": 15.0}, "finetune": {"clip_frames": 24}},
    "steps_600": {"finetune": {"steps": 600}},
    "event_clips_4": {"finetune": {"event_clips": 4}},
    "event_clips_8": {"finetune": {"event_clips": 8}},
    "event_clips_4_fps_15": {"ingest": {"target_fps": 15.0}, "finetune": {"event_clips": 4}},
    "norm_clips_4": {"ingest": {"normalise": "sequence"}, "finetune": {"event_clips": 4}},
    "norm_clips_4_strong": {"ingest": {"normalise": "sequence"},
                            "finetune": {"event_clips": 4, "augment": dict(STRONG)}},
    "lr_1e-3": {"finetune": {"lr": 0.001}},
    "no_augment": {"finetune": {"augment": None}},
    "augment_strong": {"finetune": {"augment": dict(STRONG)}},
}


def load_subjects(folder: Path, subjects: list[int], cache: Path | None) -> dict[str, dict]:
    """``{name: {"points": (L, 2048, 3) metres at 15 fps, "label": int}}`` of the given subjects (cached as .npz)."""
    path = cache / f"utd_mhad_{'_'.join(map(str, subjects))}.npz" if cache else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as data:
            return {k: {"points": data[k], "label": int(data[f"{k}__label"])} for k in data if "__" not in k}
    rng = np.random.default_rng(0)
    videos = {}
    for file in sorted(folder.iterdir()):
        match = NAME.fullmatch(file.name)
        if match is None or int(match.group(2)) not in subjects:
            continue
        video = read_video(file)
        frames = video.points[::CACHE_STEP]
        points = np.stack([f[rng.choice(len(f), CACHE_POINTS, replace=len(f) < CACHE_POINTS)] for f in frames])
        videos[video.name] = {"points": (points / 1000.0).astype(np.float32), "label": video.label}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{k: v["points"] for k, v in videos.items()},
                 **{f"{k}__label": np.array(v["label"]) for k, v in videos.items()})
    return videos


def point_videos(raw: dict[str, dict], ingest: IngestConfig, span: float | None = None) -> dict[str, dict]:
    """The ingest pipeline's point videos (``ingest_point_sequence``) of the cached videos, every frame labelled;
    with ``span``, timestamps rescaled so that every video lasts ``span`` seconds."""
    out = {}
    for name, video in raw.items():
        labels = np.full(len(video["points"]), video["label"], dtype=np.int16)
        seq = PointSequence(name, video["points"], FPS / CACHE_STEP, frame_labels=labels, source="utd_mhad")
        out[name] = ingest_point_sequence(seq, ingest)
        if span is not None:  # every video lasts ``span`` seconds: speed differences between subjects removed
            stamps = out[name]["timestamps"]
            out[name]["timestamps"] = ((stamps - stamps[0]) * span / max(float(stamps[-1] - stamps[0]), 1e-6))
    return out


def base_params() -> tuple[dict, dict, dict]:
    """(ingest, model, finetune) parameters of ``--env depth_actions`` (conf/base merged with conf/depth_actions)."""
    ingest = yaml.safe_load((CONF / "base" / "parameters_ingest.yml").read_text())["ingest"]
    ingest.update(yaml.safe_load((CONF / "depth_actions" / "parameters_ingest.yml").read_text())["ingest"])
    ingest.update({"split": None, "num_workers": 1})
    model = yaml.safe_load((CONF / "base" / "parameters_pretrain.yml").read_text())["pretrain"]["model"]
    finetune = yaml.safe_load((CONF / "base" / "parameters_finetune.yml").read_text())["finetune"]
    finetune.update({"progress": False, "workers": 1, "num_threads": 1, "device": "cpu", "amp": "off"})
    return ingest, model, finetune


def run_variant(name: str, raw: dict, train: list[str], val: list[str], steps: int | None, seed: int) -> dict:
    """One variant: ingest, train from scratch, score on ``val``; returns a table row."""
    change = VARIANTS[name]
    ingest, model, finetune = base_params()
    ingest.update(change.get("ingest", {}))
    model = {**model, "point": {**model["point"], "num_points": ingest["num_points"], **change.get("point", {})}}
    finetune.update(change.get("finetune", {}))
    if steps is not None and "steps" not in change.get("finetune", {}):
        finetune["steps"] = steps
    config = parse(FinetuneConfig, finetune, "finetune")
    videos = point_videos(raw, parse(IngestConfig, ingest, "ingest"), change.get("time_span"))
    torch.manual_seed(seed)
    tick = time.process_time()
    metrics, _, history, _ = run_downstream("action_recognition", "full", videos, None, train, val, 27,
                                            parse(ModelConfig, model, "pretrain.model"), None, False, config, seed)
    tail = history.tail(max(1, len(history) // 10))
    return {"variant": name, "val_acc": metrics["clip_accuracy"], "train_acc_last10%": tail["train_accuracy"].mean(),
            "loss_last10%": tail["loss"].mean(), "steps": config.steps, "cpu_s": time.process_time() - tick}


def occupancy_nearest_neighbour(raw: dict, train: list[str], val: list[str], frames: int = 8,
                                bins: tuple[int, int, int] = (6, 8, 3)) -> float:
    """Val accuracy (%) of a learning-free reference: 1-nearest-neighbour on per-frame occupancy histograms.

    Each video: ``frames`` frames spread over it, centred on its centroid and divided by its radius
    (``preprocess.sequence_radius``), a ``bins`` grid over [-1, 1]^3 per frame, the fractions of points per cell
    concatenated over frames; the label of the training video nearest in Euclidean distance.
    """
    def describe(points: np.ndarray) -> np.ndarray:
        clip = points[np.linspace(0, len(points) - 1, frames).round().astype(int)]  # (T, P, 3)
        clip = (clip - clip.reshape(-1, 3).mean(axis=0)) / sequence_radius(clip)
        cells = np.clip(((clip + 1) / 2 * np.array(bins)).astype(int), 0, np.array(bins) - 1)  # (T, P, 3)
        flat = np.ravel_multi_index(tuple(np.moveaxis(cells, -1, 0)), bins)  # (T, P)
        counts = np.stack([np.bincount(f, minlength=int(np.prod(bins))) for f in flat])  # (T, cells)
        return (counts / clip.shape[1]).ravel()

    x = np.stack([describe(raw[n]["points"]) for n in train])
    v = np.stack([describe(raw[n]["points"]) for n in val])
    nearest = ((v[:, None] - x[None]) ** 2).sum(-1).argmin(axis=1)
    labels = np.array([raw[n]["label"] for n in train])
    return 100.0 * float((labels[nearest] == np.array([raw[n]["label"] for n in val])).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "utd_mhad_s1-4")
    parser.add_argument("--train", type=int, nargs="+", default=[1])
    parser.add_argument("--val", type=int, nargs="+", default=[3])
    parser.add_argument("--variants", nargs="+", default=["baseline"], choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=None, help="override finetune.steps of every variant")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache", type=Path, default=None, help="folder of the cached 15 fps point videos")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        print(yaml.safe_dump(VARIANTS, sort_keys=False))
        return
    torch.set_num_threads(1)
    raw = {**load_subjects(args.data, args.train, args.cache), **load_subjects(args.data, args.val, args.cache)}
    subject = lambda n: int(NAME.fullmatch(f"{n}.mat").group(2))  # noqa: E731
    train = sorted(n for n in raw if subject(n) in args.train)
    val = sorted(n for n in raw if subject(n) in args.val)
    print(f"train subjects {args.train}: {len(train)} videos; val subjects {args.val}: {len(val)} videos")
    print("| variant | seed | val acc % | train acc % (last 10 %) | loss | steps | CPU s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| reference: 1-NN on occupancy histograms (no learning) | - | "
          f"{occupancy_nearest_neighbour(raw, train, val):.1f} | - | - | - | - |", flush=True)
    for name in args.variants:
        for seed in args.seeds:
            row = run_variant(name, raw, train, val, args.steps, seed)
            print(f"| {name} | {seed} | {row['val_acc']:.1f} | {row['train_acc_last10%']:.1f} | "
                  f"{row['loss_last10%']:.2f} | {row['steps']} | {row['cpu_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
