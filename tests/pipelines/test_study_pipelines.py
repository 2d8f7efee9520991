"""The finetune and evaluate stages follow the data: unsupported tasks and variants are skipped, never a crash, and
the evaluate pipeline writes its summary without a semantic task."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.framework import build_parameters as build_parameters
from crossvideo_kedro.datasets.plots import FigureDataset
from crossvideo_kedro.pipelines.evaluate.nodes import plot_per_class_iou, plot_semantic_frame
from crossvideo_kedro.pipelines.evaluate.pipeline import create_pipeline as evaluate_pipeline
from crossvideo_kedro.pipelines.finetune.nodes import finetune_variant, finetune_variant_from_scratch
from tests.training.pretrain_worker import TINY_MODEL
from tests.training.test_finetune import NUM_FRAMES, toy_videos

STUDY = {
    "variants": {"scratch": {"init": "scratch"}, "fusion": {"init": "scratch", "fusion": True}},
    "include": None,
    "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [1.0]},
             {"task": "semantic_segmentation", "protocol": "full", "label_fractions": [1.0]}],
    "seeds": [0],
    "showcase": {"protocol": "full", "label_fraction": 1.0, "seed": 0},
    "plots": {"compare": ["scratch"]},
}
FINETUNE = {"steps": 2, "linear_steps": 2, "batch_size": 4, "clip_frames": 4, "progress": False, "device": "cpu",
            "val_every": 0, "temporal": {"stages": 1, "layers": 2, "channels": 8}}
PRETRAIN = {"seeds": [0, 1], "model": TINY_MODEL}


def depth_only_source():
    """Toy point videos of a depth-only action source: frame labels, no point labels, no images; plus a pool."""
    videos, _ = toy_videos(6)
    for video in videos.values():
        video["point_labels"] = np.full_like(video["point_labels"], -1)
    index = pd.DataFrame({"sequence": sorted(videos), "split": ["train", "train", "train", "val", "test", "unlabelled"],
                          "num_frames": NUM_FRAMES, "has_images": False, "has_frame_labels": True,
                          "has_point_labels": False})
    return videos, index, {"action": ["rest", "up", "down"], "semantic": None}


def test_a_depth_only_source_skips_semantic_segmentation_and_fusion_with_one_line(caplog):
    videos, index, classes = depth_only_source()
    loaders = {name: (lambda v=v: v) for name, v in videos.items()}
    loaders["s5"] = lambda: pytest.fail("the unlabelled pool was loaded downstream")  # contract 1
    with caplog.at_level(logging.INFO):
        metrics, predictions, models = finetune_variant_from_scratch(
            loaders, {}, index, classes, PRETRAIN, {**FINETUNE, "val_every": 1}, STUDY, STUDY["variants"]["scratch"],
            variant_name="scratch")
        fused, _, _ = finetune_variant_from_scratch(
            loaders, {}, index, classes, PRETRAIN, FINETUNE, STUDY, STUDY["variants"]["fusion"], variant_name="fusion")
    assert set(metrics["task"]) == {"action_segmentation"}
    assert sorted(metrics[["pretrain_seed", "seed"]].drop_duplicates().itertuples(index=False, name=None)) == \
        [(0, 0), (1, 0)]  # replicates: pretrain.seeds x evaluate.seeds
    run = metrics[(metrics["pretrain_seed"] == 0)].set_index("metric")["value"]
    assert {"val_loss@1", "val_loss@2", "loss@1", "loss@2", "seconds"} <= set(run.index)  # curves on val (s3)
    assert run["final_val_loss"] == run["val_loss@2"] and np.isfinite(run["val_loss@1"])
    assert sorted(predictions) == ["action_segmentation__s4"] and list(models["specs"]) == ["action_segmentation"]
    assert fused.empty and list(fused.columns) == list(metrics.columns)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("skipping semantic_segmentation — no sequence has point_labels" in line for line in lines) == 2
    assert sum("fusion: skipping the variant — it fuses image features" in line for line in lines) == 1


def test_evaluate_without_a_semantic_task_writes_the_summary(tmp_path):
    videos, index, classes = depth_only_source()
    metrics, predictions, _ = finetune_variant_from_scratch(
        videos, {}, index, classes, PRETRAIN, FINETUNE, STUDY, STUDY["variants"]["scratch"], variant_name="scratch")
    study = {**STUDY, "include": ["scratch"]}
    build_parameters._ACTIVE["evaluate"] = study
    try:
        pipeline = evaluate_pipeline().only_nodes("collect_metrics", "count_class_points", "summarise_study",
                                                  "plot_semantic_frame",
                                                  "plot_per_class_iou", "plot_action_confusion")
    finally:
        build_parameters._ACTIVE.clear()
    catalog = DataCatalog({
        "scratch.downstream_metrics": MemoryDataset(metrics),
        "scratch.downstream_predictions": MemoryDataset(predictions),
        "point_cloud_videos": MemoryDataset(videos), "class_names": MemoryDataset(classes),
        "sequence_index": MemoryDataset(index), "params:evaluate": MemoryDataset(study),
        **{f"{p}_plot": FigureDataset(str(tmp_path / f"{p}.png"))
           for p in ("semantic_frame", "per_class_iou", "action_confusion")},
        "ablation_summary": MemoryDataset(), "ablation_table": MemoryDataset(),
    })
    SequentialRunner().run(pipeline, catalog)
    summary = catalog.load("ablation_summary")
    assert "## action segmentation: accuracy" in summary and "semantic" not in summary
    assert (tmp_path / "action_confusion.png").exists()
    assert not (tmp_path / "semantic_frame.png").exists() and not (tmp_path / "per_class_iou.png").exists()


def test_semantic_plots_that_do_not_apply_return_none(caplog):
    with caplog.at_level(logging.INFO):
        assert plot_semantic_frame({}, {"semantic": None}, {"action_segmentation__s0": {}}, STUDY) is None
        assert plot_per_class_iou(pd.DataFrame({"task": ["action_segmentation"]}), {"semantic": None}, STUDY) is None
    assert any("no semantic-segmentation" in r.getMessage() for r in caplog.records)


def test_pretrained_runs_and_scratch_are_paired_per_replicate():
    from crossvideo_kedro.configs.model import ModelConfig
    from crossvideo_kedro.pipelines.evaluate.nodes import collect_metrics, paired_differences
    from crossvideo_kedro.pipelines.finetune.nodes import finetune_variant
    from crossvideo_kedro.training.model import CrossVideoModel

    videos, index, classes = depth_only_source()
    config = parse(ModelConfig, TINY_MODEL, "model")
    runs = [{**CrossVideoModel(config, use_images=False, terms={"intra_video": 1.0}).encoder_state(),
             "pretrain_seed": seed} for seed in (0, 1)]
    study = {**STUDY, "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.5]}],
             "showcase": {"protocol": "full", "label_fraction": 0.5, "seed": 0}}
    pretrained, _, models = finetune_variant({"runs": runs}, videos, {}, index, classes, PRETRAIN, FINETUNE, study,
                                             {"init": "pretrained"}, variant_name="intra_only")
    scratch, *_ = finetune_variant_from_scratch(videos, {}, index, classes, PRETRAIN, FINETUNE, study,
                                                {"init": "scratch"}, variant_name="scratch")
    key = ["pretrain_seed", "seed", "num_train_sequences"]
    assert pretrained[key].drop_duplicates().values.tolist() == scratch[key].drop_duplicates().values.tolist() == \
        [[0, 0, 2], [1, 0, 2]]
    diffs = paired_differences(collect_metrics(pretrained, scratch)[0])
    assert diffs["n"].tolist() == [2] and diffs["variant"].tolist() == ["intra_only"]
    assert models["specs"]["action_segmentation"]["protocol"] == "full"


def test_each_label_fraction_trains_for_its_step_budget():
    """The node gives full runs at low label fractions ``low_label_steps`` (recorded as the run's ``steps``) and
    the others ``steps`` x their task's ``task_step_factor``; the linear probe keeps ``linear_steps``."""
    videos, index, classes = depth_only_source()
    study = {**STUDY, "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.5, 1.0]},
                               {"task": "action_segmentation", "protocol": "linear", "label_fractions": [0.5]}]}
    metrics, *_ = finetune_variant_from_scratch(
        videos, {}, index, classes, PRETRAIN, {**FINETUNE, "steps": 3, "low_label_steps": 2,
                                               "low_label_fraction": 0.5, "linear_steps": 4,
                                               "task_step_factor": {"action_segmentation": 2}},
        study, STUDY["variants"]["scratch"], variant_name="scratch")
    steps = metrics[metrics.metric == "steps"].groupby(["protocol", "label_fraction"])["value"].unique()
    assert {k: v.tolist() for k, v in steps.items()} == {("full", 0.5): [2.0], ("full", 1.0): [6.0],
                                                         ("linear", 0.5): [4.0]}


def test_a_run_entry_with_its_own_seeds_gets_those_replicates_and_the_summary_pairs_them():
    """Replicates where runs are cheap and noise is largest: `seeds` of one `evaluate.runs` entry (here the 50 %
    runs) give it pretraining seeds x those seeds; the other entry keeps `evaluate.seeds`."""
    from crossvideo_kedro.pipelines.evaluate.nodes import collect_metrics, paired_differences  # noqa: PLC0415

    videos, index, classes = depth_only_source()
    study = {**STUDY, "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.5],
                                "seeds": [0, 1, 2]},
                               {"task": "action_segmentation", "protocol": "full", "label_fractions": [1.0]}]}
    metrics, *_ = finetune_variant_from_scratch(videos, {}, index, classes, PRETRAIN, FINETUNE, study,
                                                STUDY["variants"]["scratch"], variant_name="scratch")
    accuracy = metrics[metrics.metric == "accuracy"]
    reps = accuracy.groupby("label_fraction")[["pretrain_seed", "seed"]].apply(
        lambda part: sorted(part.itertuples(index=False, name=None)))
    assert reps[0.5] == [(p, f) for p in (0, 1) for f in (0, 1, 2)] and reps[1.0] == [(0, 0), (1, 0)]
    other = metrics.assign(variant="crossvideo", value=metrics["value"] + 1.0)
    diffs = paired_differences(collect_metrics(metrics, other)[0]).set_index("label_fraction")
    assert diffs.loc[0.5, ["n", "pairs"]].tolist() == [2, 6] and diffs.loc[1.0, ["n", "pairs"]].tolist() == [2, 2]
    assert diffs["mean_diff"].tolist() == pytest.approx([1.0, 1.0])


def test_a_cross_modal_variant_on_a_depth_only_source_is_skipped_with_one_line(caplog):
    videos, index, classes = depth_only_source()
    with caplog.at_level(logging.INFO):
        metrics, _, _ = finetune_variant({"point_encoder": {}, "model_config": {"point": TINY_MODEL["point"]}}, videos,
                                         {}, index, classes, {**PRETRAIN, "loss": {"weights": {"cross_frame": 1.0}}},
                                         FINETUNE, STUDY, {"init": "pretrained"},
                                         variant_name="crossvideo")
    assert metrics.empty
    assert sum("crossvideo: skipping the variant — it is named cross-modal" in r.getMessage()
               for r in caplog.records) == 1
