"""``predict`` end to end on an in-memory catalog: tiny random task models applied to tiny sequences (with and without
colour, with and without labels), and its outputs checked as a user would open them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.datasets.npz import NpzPartitionsDataset
from crossvideo_kedro.datasets.plots import FigureDataset
from crossvideo_kedro.datasets.ply import PointCloudFramesDataset
from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.pipelines.predict import create_pipeline
from crossvideo_kedro.configs import PredictConfig
from crossvideo_kedro.pipelines.predict.nodes import generate_unseen_sequences
from crossvideo_kedro.training.model import CrossVideoModel
from tests.conftest import plane_sequence

MODEL = {"point": {"num_points": 24, "num_anchors": 4, "k": 4, "conv_channels": [8], "dim": 16, "depth": 1,
                   "heads": 2},
         "image": {"image_size": 8, "channels": [4, 8], "dim": 16, "depth": 1, "heads": 2},
         "decoder": {"dim": 16, "hidden_dim": 16, "xyz_dim": 8},
         "head": {"hidden_dim": 16, "out_dim": 8}}
INGEST = {"num_points": 24, "image_size": [8, 8], "target_fps": None}
PREDICT = {"variant": "crossvideo", "tasks": ["action_segmentation", "semantic_segmentation"], "clip_frames": 4,
           "batch_size": 4, "plot_frames": 2, "view_3d_frames": 3}
CLASSES = {"action": ["rest", "reach", "grasp"], "semantic": ["background", "left", "right"]}


@pytest.fixture(scope="module")
def models() -> dict:
    """Random task models as ``finetune`` stores them (``state_dicts`` + ``specs``), and pretrained encoders."""
    from crossvideo_kedro.training.finetune import RunSpec, build_task_model  # noqa: PLC0415
    from crossvideo_kedro.training.predict import spec_dict  # noqa: PLC0415

    config = parse(ModelConfig, MODEL, "model")
    states, specs = {}, {}
    for task, classes in (("action_segmentation", 3), ("semantic_segmentation", 3)):
        torch.manual_seed(0)
        spec = RunSpec(task=task, protocol="full", num_classes=classes, fusion=False, clip_frames=4, temporal={})
        states[task] = build_task_model(spec, config).state_dict()
        specs[task] = spec_dict(spec)
    encoders = CrossVideoModel(config, use_images=True, terms={"intra_video": 1.0, "cross_video": 1.0})
    return {"downstream": {"variant": "crossvideo", "model_config": config.model_dump(),
                           "state_dicts": states, "specs": specs},
            "encoders": {"runs": [{**encoders.encoder_state(), "pretrain_seed": 0}]}}


def run(models: dict, recording: dict, folder: Path, ingest: dict | None = None, **params) -> DataCatalog:
    catalog = DataCatalog(datasets={
        "predict_sequences": MemoryDataset(recording),
        "crossvideo.downstream_models": MemoryDataset(models["downstream"]),
        "pretrained_encoders": MemoryDataset(models["encoders"]),
        "class_names": MemoryDataset(CLASSES),
        "params:ingest": MemoryDataset({**INGEST, **(ingest or {})}),
        "params:predict": MemoryDataset({**PREDICT, **params}),
        "predicted_point_clouds": PointCloudFramesDataset(str(folder / "clouds")),
        "predict_timeline_plot": FigureDataset(str(folder / "timeline.png")),
        "predict_points_plot": FigureDataset(str(folder / "points.png")),
        **{name: NpzPartitionsDataset(str(folder / name)) for name in
           ("predicted_labels", "predict_clip_embeddings", "predict_point_videos", "predict_image_videos")},
        **{name: MemoryDataset(copy_mode="assign") for name in
           ("predicted_actions", "predict_metrics", "predict_points_3d")},
    })
    SequentialRunner().run(create_pipeline(variant="crossvideo"), catalog)
    return catalog


def test_predict_labels_a_recording_and_scores_it_against_its_labels(models, tmp_path):
    recording = {"rec": plane_sequence("rec", frames=10)}
    catalog = run(models, recording, tmp_path)
    labels = catalog.load("predicted_labels")["rec"]()
    assert labels["action"].shape == (10,) and labels["semantic"].shape == (10, 24)
    table: pd.DataFrame = catalog.load("predicted_actions")
    assert table["frame"].tolist() == list(range(10))
    assert set(table["action"]) <= set(CLASSES["action"])
    assert (table["action_id"].to_numpy() == labels["action"]).all()
    truth = table["true_action_id"].to_numpy()
    report = catalog.load("predict_metrics")
    json.dumps(report, allow_nan=False)  # valid JSON
    expected = 100 * float((labels["action"] == truth).mean())
    assert report["overall"]["action_segmentation"]["accuracy"] == pytest.approx(expected, abs=1e-3)
    video = catalog.load("predict_point_videos")["rec"]()
    point_accuracy = 100 * float((labels["semantic"] == video["point_labels"]).mean())
    assert report["overall"]["semantic_segmentation"]["point_accuracy"] == pytest.approx(point_accuracy, abs=1e-3)
    clouds = catalog.load("predicted_point_clouds")
    assert sorted(clouds) == [f"rec__{t:05d}" for t in range(10)]
    frame = clouds["rec__00003"]()
    np.testing.assert_array_equal(frame["labels"], labels["semantic"][3])
    np.testing.assert_allclose(frame["points"], video["points"][3])
    assert (tmp_path / "timeline.png").is_file() and (tmp_path / "points.png").is_file()
    embeddings = catalog.load("predict_clip_embeddings")["rec"]()
    assert embeddings["point_video"].shape[1] == 16 and embeddings["frame_ids"].shape[1] == 4
    view = catalog.load("predict_points_3d")
    assert len(view.frames) == 3 and {t.name for t in view.data} <= set(CLASSES["semantic"])


def test_predict_on_a_depth_only_unlabelled_recording(models, tmp_path):
    seq = plane_sequence("depth", frames=8, with_color=False)
    seq = dataclasses.replace(seq, labels=None, events=[])
    catalog = run(models, {"depth": seq}, tmp_path, tasks=["action_segmentation"])
    assert catalog.load("predict_image_videos") == {}
    report = catalog.load("predict_metrics")
    assert report["overall"] == {"action_segmentation": {"labelled": False}}
    assert "true_action" not in catalog.load("predicted_actions")
    assert catalog.load("predicted_point_clouds") == {}  # no semantic task asked: no PLY, no picture
    assert not (tmp_path / "points.png").exists()


def test_predict_refuses_tasks_the_models_lack_and_bad_parameters(models, tmp_path):
    missing = {**models, "downstream": {**models["downstream"],
                                        "state_dicts": {"action_segmentation": models["downstream"]["state_dicts"][
                                            "action_segmentation"]}}}
    with pytest.raises(Exception, match=r"semantic_segmentation.*has models for \['action_segmentation'\]"):
        run(missing, {"rec": plane_sequence("rec", frames=6)}, tmp_path)
    with pytest.raises(ValueError, match="predict.tasks must be a non-empty subset"):
        parse(PredictConfig, {"tasks": ["action_recognition"]}, "predict")
    with pytest.raises(ValueError, match="predict.nop"):
        parse(PredictConfig, {"nop": 1}, "predict")


def test_unseen_sequences_use_another_seed_and_their_own_names():
    generate = {"seed": 0, "num_sequences": 1, "num_frames": 6, "width": 32, "height": 24, "num_workers": 1}
    with pytest.raises(ValueError, match="must differ from generate.seed"):
        generate_unseen_sequences(generate, {"unseen": {"seed": 0}})
    sequences = generate_unseen_sequences(generate, {"unseen": {"seed": 7, "num_sequences": 2}})
    assert sorted(sequences) == ["unseen_0000", "unseen_0001"]
    assert sequences["unseen_0000"].depth.shape == (6, 24, 32)


def test_the_variant_names_the_models_the_pipeline_reads():
    from crossvideo_kedro.pipelines.predict.pipeline import predict_variant  # noqa: PLC0415

    assert predict_variant() == "crossvideo"  # conf/base/parameters_predict.yml
    assert "scratch.downstream_models" in create_pipeline(variant="scratch").inputs()
    assert "crossvideo.downstream_models" not in create_pipeline(variant="scratch").inputs()


@pytest.mark.parametrize("options", [{"runtime_params": {"predict": {"variant": "scratch"}}},
                                     {"env": "predict_scratch"}])
def test_a_runs_env_and_params_choose_the_variant_predict_reads(options, tmp_path):
    """`kedro run --params predict.variant=scratch` (or an env saying so) must build `predict` on scratch's models;
    it used to read base + $KEDRO_ENV only, so --params and --env were ignored and crossvideo's models were read."""
    import shutil  # noqa: PLC0415

    from kedro.framework.project import pipelines  # noqa: PLC0415
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    from crossvideo_kedro.framework import build_parameters as build_parameters  # noqa: PLC0415

    root = Path(__file__).resolve().parents[2]
    conf = tmp_path / "conf"
    shutil.copytree(root / "conf", conf)
    (conf / "predict_scratch").mkdir()
    (conf / "predict_scratch" / "parameters_predict.yml").write_text("predict:\n  variant: scratch\n")
    try:
        build_parameters._ACTIVE.clear()
        bootstrap_project(root)
        with KedroSession.create(root, conf_source=str(conf), **options) as session:
            pipelines.set_requested(["predict"])
            session.load_context()
            inputs = pipelines["predict"].inputs()
            assert "scratch.downstream_models" in inputs
            assert "crossvideo.downstream_models" not in inputs
    finally:
        build_parameters._ACTIVE.clear()
        pipelines.set_requested(None)


def _seven_scenes_sample() -> Path | None:
    """The shared 7-Scenes kitchen sample (read in place), beside the project or beside its worktree folder."""
    root = Path(__file__).resolve().parents[2]
    for candidate in (root.parent / "shared", root.parent.parent / "shared"):
        if (candidate / "data" / "7scenes_kitchen" / "camera-intrinsics.txt").is_file():
            return candidate / "data" / "7scenes_kitchen"
    return None


@pytest.mark.skipif(_seven_scenes_sample() is None, reason="shared 7-Scenes sample not found")
def test_source_frame_is_the_file_number_when_reader_and_ingest_both_skip_frames(models, tmp_path):
    from crossvideo_kedro.datasets.rgbd_folder import RGBDFolderDataset  # noqa: PLC0415

    reader = RGBDFolderDataset(str(_seven_scenes_sample()), depth_pattern="frame-{index:06d}.depth.png",
                               color_pattern="frame-{index:06d}.color.jpg", intrinsics="camera-intrinsics.txt",
                               depth_scale=0.001, invalid_depth=[0, 65535], fps=30.0, frame_step=50, max_frames=6,
                               sequence_name="kitchen", source="seven_scenes")
    catalog = run(models, reader.load(), tmp_path, ingest={"frame_step": 2}, tasks=["action_segmentation"])
    table = catalog.load("predicted_actions")
    assert table["source_frame"].tolist() == [0, 100, 200]  # frame-000000, -000100, -000200 of the folder
    assert table["time_s"].tolist() == pytest.approx([0.0, 100 / 30, 200 / 30], abs=1e-3)


def test_every_dataset_of_predict_has_a_kedro_viz_layer():
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    conf = OmegaConfigLoader(str(Path(__file__).parents[2] / "conf"), base_env="base", default_run_env="base")
    catalog = DataCatalog.from_config(conf["catalog"])
    names = sorted(n for n in create_pipeline(variant="crossvideo").datasets() if not n.startswith("params:"))
    layers = {n: ((getattr(catalog.get(n), "metadata", None) or {}).get("kedro-viz") or {}).get("layer")
              for n in names if n in catalog}
    assert sorted(layers) == names and None not in layers.values(), layers
