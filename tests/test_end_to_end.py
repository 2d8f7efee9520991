"""The project as a user drives it: ``kedro run`` (all stages), the real-data environments, ``kedro viz build`` and
the notebooks — in a temporary copy of the project with tiny parameters, so ``data/`` here is never touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

TINY = {
    "generate": {"num_sequences": 6, "num_frames": 24, "width": 64, "height": 48, "unlabelled": {"num_sequences": 4}},
    "ingest": {"num_points": 64, "image_size": [16, 16], "split": {"train": 0.5, "val": 0.17, "test": 0.33}},
    "augment": {"clip_frames": 4, "clip_span": 8, "preview_clips": 2},
    "pretrain": {"seeds": [0, 1], "steps": 2, "batch_size": 2, "warmup_steps": 1, "embed_clip_frames": 4,
                 "progress": False,
                 "model": {"point": {"num_points": 64, "num_anchors": 8, "k": 8, "conv_channels": [16], "dim": 32,
                                     "depth": 1, "heads": 2},
                           "image": {"image_size": 16, "channels": [8, 16], "dim": 32, "depth": 1, "heads": 2},
                           "head": {"hidden_dim": 32, "out_dim": 16}}},
    "finetune": {"steps": 2, "linear_steps": 2, "clip_frames": 4, "batch_size": 4, "progress": False,
                 "temporal": {"stages": 1, "layers": 2, "channels": 8}},
    "evaluate": {"runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.5]},
                          {"task": "semantic_segmentation", "protocol": "full", "label_fractions": [0.5]},
                          {"task": "action_recognition", "protocol": "linear", "label_fractions": [1.0]}],
                 "seeds": [0], "showcase": {"protocol": "full", "label_fraction": 0.5, "seed": 0}},
}
VARIANTS = ["scratch", "crossvideo", "intra_only", "fusion"]  # every kind of init


def kedro(project: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"kedro {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def latest(path: Path) -> Path:
    """The newest version of a versioned dataset ``path``."""
    return sorted(path.iterdir())[-1] / path.name


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    project = root / "project"
    project.mkdir()
    for name in ("conf", "notebooks"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, project / name)
    (project / "src").mkdir()  # kedro wants the folder; the code under test is the installed package
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED)  # the real-data envs read ../shared/data
    evaluate = project / "conf" / "base" / "parameters_evaluate.yml"
    params = yaml.safe_load(evaluate.read_text())
    params["evaluate"]["variants"] = {v: params["evaluate"]["variants"][v] for v in VARIANTS}
    params["evaluate"]["include"] = VARIANTS
    evaluate.write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "conf" / "e2e").mkdir()
    for pipeline, values in TINY.items():
        (project / "conf" / "e2e" / f"parameters_{pipeline}.yml").write_text(yaml.safe_dump({pipeline: values}))
    return project


@pytest.fixture(scope="module")
def default_run(project: Path) -> Path:
    kedro(project, "run", "--env", "e2e")
    return project


@pytest.mark.slow
def test_kedro_run_builds_the_whole_study(default_run: Path):
    data = default_run / "data"
    raw = latest(data / "01_raw" / "generated")
    assert sorted(p.name for p in raw.iterdir()) == [f"seq_{i:04d}" for i in range(6)]
    assert sorted(p.name for p in (raw / "seq_0000").iterdir()) == ["2Dseg", "action", "align_depth", "align_rgb",
                                                                    "meta.json"]
    index = pd.read_parquet(latest(data / "02_intermediate" / "sequence_index.parquet"))
    labelled = index[index["split"] != "unlabelled"]
    assert len(labelled) == 6 and labelled["has_images"].all() and labelled["has_frame_labels"].all()
    pool = index[index["split"] == "unlabelled"]  # the tiny run's unlabelled pool: images, no labels
    assert len(pool) == 4 and pool["has_images"].all() and not pool["has_frame_labels"].any()
    video = np.load(latest(data / "02_intermediate" / "point_cloud_videos") / "seq_0000.npz")
    assert video["points"].shape == (12, 64, 3)  # 24 frames at 15 fps -> 7.5 fps
    assert list(latest(data / "06_models" / "pretrained_encoders.pt").parent.iterdir())
    metrics = pd.read_parquet(latest(data / "08_reporting" / "metrics.parquet"))
    assert sorted(metrics["variant"].unique()) == sorted(VARIANTS)
    assert set(metrics["task"]) == {"action_segmentation", "semantic_segmentation", "action_recognition"}
    scores = metrics[metrics["metric"].isin(["accuracy", "edit", "miou", "clip_accuracy"])]
    assert len(scores) and scores["value"].between(0, 100).all()
    summary = latest(data / "08_reporting" / "ablation_summary.md").read_text()
    assert "## action segmentation: accuracy" in summary and "| crossvideo |" in summary
    assert "Per-class IoU" in summary and "Points per class per frame in the test split" in summary
    for plot in ("ingest_preview", "pretrain_views", "pretrain_loss", "label_efficiency", "action_timeline",
                 "action_confusion", "per_class_iou", "embedding_tsne", "semantic_frame"):
        assert latest(data / "08_reporting" / f"{plot}.png").stat().st_size > 5_000, plot
    assert (data / "06_models" / "variants" / "intra_only" / "pretrained_encoders.pt").is_dir()
    assert not (data / "06_models" / "variants" / "scratch" / "pretrained_encoders.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["01_explore_data.ipynb", "02_results.ipynb"])
def test_notebooks_run_on_the_catalog(default_run: Path, notebook: str):
    # A newer sequence_index that no finished run recorded (a run killed mid-ingest, or one still writing): the
    # notebooks pin their datasets to finished runs, so it must not show up (Kedro alone loads the newest).
    index = default_run / "data" / "02_intermediate" / "sequence_index.parquet"
    killed = index / "2999-01-01T00.00.00.000Z"
    frame = pd.read_parquet(latest(index))
    killed.mkdir()
    frame.assign(sequence="killed_run_" + frame["sequence"]).to_parquet(killed / index.name)
    try:
        nb = nbformat.read(default_run / "notebooks" / notebook, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(default_run / "notebooks")}}).execute()
    finally:
        shutil.rmtree(killed)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = json.dumps(outputs)
    assert "killed_run_" not in text
    if notebook == "01_explore_data.ipynb":
        assert "seq_0000" in text  # the finished run's sequence_index is shown (index.head())
    figures = [o for o in outputs if "image/png" in o.get("data", {})]  # inline figures, not just text
    assert len(figures) >= {"01_explore_data.ipynb": 3, "02_results.ipynb": 4}[notebook], len(figures)


@pytest.mark.slow
@pytest.mark.parametrize(("env", "frames", "source"), [("seven_scenes", 150, "seven_scenes"),
                                                       ("realsense_d435", 10, "realsense_d435")])
def test_real_samples_ingest_with_the_shipped_environment(project: Path, env: str, frames: int, source: str):
    if not (SHARED / "data" / "7scenes_kitchen").is_dir():
        pytest.skip("../shared/data is not available")
    kedro(project, "run", "--env", env, "--pipelines", "ingest")
    data = project / "data" / "02_intermediate"
    index = pd.read_parquet(latest(data / "sequence_index.parquet"))
    assert index["source"].tolist() == [source] and index["num_frames"].tolist() == [frames]
    video = np.load(latest(data / "point_cloud_videos") / f"{index['sequence'][0]}.npz")
    assert video["points"].shape == (frames, 256, 3)
    assert 0.3 < float(np.median(video["points"][..., 2])) < 4.0  # metres in front of the camera
    images = np.load(latest(data / "image_videos") / f"{index['sequence'][0]}.npz")
    assert images["frames"].shape == (frames, 64, 64, 3)


@pytest.mark.slow
def test_kedro_viz_build_shows_every_pipeline(project: Path):
    kedro(project, "viz", "build", timeout=300)
    main = project / "build" / "api" / "main"
    assert main.is_file()
    text = main.read_text()
    for name in ("generate", "ingest", "augment", "pretrain", "finetune", "evaluate", "intra_only"):
        assert f'"{name}"' in text, name
    layers = json.loads(text)["layers"]  # every catalog entry names its layer (metadata: kedro-viz: layer)
    assert {"01_raw", "02_intermediate", "06_models", "07_model_output", "08_reporting"} <= set(layers), layers


@pytest.mark.slow
def test_torchrun_pretraining_writes_outputs_once(default_run: Path):
    """``torchrun -m crossvideo_kedro --pipelines pretrain``: 2 gloo ranks train together; only rank 0 saves."""
    encoders = default_run / "data" / "06_models" / "pretrained_encoders.pt"
    before = set(encoders.iterdir())
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1", "COLUMNS": "400"}  # no wrapping
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "crossvideo_kedro", "--env", "e2e", "--pipelines", "pretrain"]
    result = subprocess.run(cmd, cwd=default_run, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert len(set(encoders.iterdir()) - before) == 1  # one new version, written by rank 0 alone
    assert "rank 1 of 2: outputs of this run stay in memory" in " ".join((result.stdout + result.stderr).split())


@pytest.mark.slow
def test_predict_labels_unseen_generated_and_real_recordings(default_run: Path):
    """``predict`` with the study's models: generated sequences no model saw (scored), then a real sample (no labels)."""
    kedro(default_run, "run", "--env", "e2e", "--pipelines", "generate_unseen,predict")
    data = default_run / "data"
    scores = json.loads(latest(data / "08_reporting" / "predict_metrics.json").read_text())
    assert scores["overall"]["action_segmentation"]["labelled"]
    assert 0 <= scores["overall"]["action_segmentation"]["accuracy"] <= 100
    actions = pd.read_csv(latest(data / "07_model_output" / "predicted_actions.csv"))
    assert set(actions["sequence"]) == {"unseen_0000", "unseen_0001"} and actions["action"].notna().all()
    clouds = latest(data / "07_model_output" / "predicted_point_clouds")
    assert len(list(clouds.glob("unseen_0000__*.ply"))) == (actions["sequence"] == "unseen_0000").sum()
    assert latest(data / "08_reporting" / "predict_timeline.png").stat().st_size > 5_000
    if (SHARED / "data" / "realsense_d435").is_dir():
        kedro(default_run, "run", "--env", "realsense_d435", "--pipelines", "predict")
        scores = json.loads(latest(data / "08_reporting" / "predict_metrics.json").read_text())
        assert scores["overall"]["action_segmentation"] == {"labelled": False}
        clouds = latest(data / "07_model_output" / "predicted_point_clouds")
        assert len(list(clouds.glob("realsense_d435__*.ply"))) == 10  # one per frame of the sample


@pytest.mark.slow
def test_depth_only_labelled_source_with_a_split_file_runs_to_a_summary(default_run: Path, monkeypatch):
    """A real-style depth-only action source (root meta.json with classes, depth unit and fps,
    per-sequence intrinsics.npy, a split.csv) runs ingest → pretrain → finetune → evaluate with configuration only:
    the split is honoured, no semantic task runs, and the variants are the environment's own."""
    generated = latest(default_run / "data" / "01_raw" / "generated")
    source = default_run / "data" / "01_raw" / "depth_actions"
    names = sorted(p.name for p in generated.iterdir() if p.is_dir())
    classes = None
    for name in names:  # the stand-in: generated sequences without colour, masks or per-sequence metadata
        meta = json.loads((generated / name / "meta.json").read_text())
        classes = meta["action_classes"]
        shutil.copytree(generated / name / "align_depth", source / f"S_{name}" / "align_depth")
        shutil.copytree(generated / name / "action", source / f"S_{name}" / "action")
        np.save(source / f"S_{name}" / "intrinsics.npy", np.asarray(meta["intrinsics"]))
    (source / "meta.json").write_text(json.dumps({"classes": classes, "depth_unit_m": 0.001, "fps": 15.0}))
    split = {f"S_{n}": s for n, s in zip(names, ["train", "train", "train", "val", "test", "test"], strict=False)}
    (source / "split.csv").write_text("sequence,split\n" + "".join(f"{n},{s}\n" for n, s in split.items()))
    env = default_run / "conf" / "depth_e2e"
    shutil.copytree(default_run / "conf" / "depth_actions", env)
    for pipeline, values in TINY.items():  # the tiny budget, over the environment's own parameters
        path = env / f"parameters_{pipeline}.yml"
        own = yaml.safe_load(path.read_text())[pipeline] if path.exists() else {}
        path.write_text(yaml.safe_dump({pipeline: {**values, **own}}))
    ingest = yaml.safe_load((env / "parameters_ingest.yml").read_text())
    ingest["ingest"].update(min_depth=0.1, max_depth=2.0)  # the stand-in is a tabletop, not a room
    (env / "parameters_ingest.yml").write_text(yaml.safe_dump(ingest))
    monkeypatch.delenv("KEDRO_ENV", raising=False)  # --env alone chooses the study's variants (no KEDRO_ENV needed)
    kedro(default_run, "run", "--env", "depth_e2e", timeout=900)

    index = pd.read_parquet(latest(default_run / "data" / "02_intermediate" / "sequence_index.parquet"))
    assert dict(zip(index["sequence"], index["split"], strict=True)) == split
    assert not index["has_images"].any() and not index["has_point_labels"].any()
    metrics = pd.read_parquet(latest(default_run / "data" / "08_reporting" / "metrics.parquet"))
    assert set(metrics["variant"]) == {"scratch", "pretrained_intra"}
    assert set(metrics["task"]) == {"action_segmentation", "action_recognition"}
    summary = latest(default_run / "data" / "08_reporting" / "ablation_summary.md").read_text()
    assert "pretrained_intra" in summary and "semantic" not in summary
