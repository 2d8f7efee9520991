"""The study design: variants from parameters become Kedro namespaces; the evaluate nodes aggregate honestly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from crossvideo_kedro.framework import build_parameters as build_parameters
from crossvideo_kedro.pipelines.evaluate.nodes import collect_metrics, paired_differences, summarise_study
from crossvideo_kedro.pipelines.finetune.nodes import variant_pretrain_params
from crossvideo_kedro.pipelines.finetune.pipeline import variant_pipeline
from crossvideo_kedro.configs import StudyConfig, Variant, parse
from crossvideo_kedro.configs.evaluate import variant_of
from crossvideo_kedro.study import (
    check_variant_name,
    load_study_parameters,
    load_variants,
    replicates,
    supported_tasks,
)

ROOT = Path(__file__).resolve().parents[1]


ALL = ["scratch", "crossvideo", "crossvideo_no_dense", "intra_only", "cross_only", "video_level_only",
       "frame_level_only", "fusion"]


def test_default_run_is_the_headline_and_the_ablations_env_the_whole_study():
    assert [v.name for v in load_variants(ROOT / "conf")] == ["scratch", "crossvideo"]
    variants = {v.name: v for v in load_variants(ROOT / "conf", env="ablations")}
    assert list(variants) == ALL
    assert variants["fusion"].fusion and variants["fusion"].init == "scratch"
    assert variants["crossvideo"].init == "pretrained"
    assert variants["video_level_only"].weights == {"intra_video": 1.0, "cross_video": 1.0}


def test_a_new_variant_is_a_parameter_entry(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    params = yaml.safe_load((conf / "base" / "parameters_evaluate.yml").read_text())
    params["evaluate"]["variants"]["cross_frame_only"] = {"init": "pretrain", "weights": {"cross_frame": 1.0}}
    params["evaluate"]["include"] = None  # every defined variant
    (conf / "base" / "parameters_evaluate.yml").write_text(yaml.safe_dump(params, sort_keys=False))
    variants = load_variants(conf)
    assert variants[-1] == Variant(name="cross_frame_only", init="pretrain", weights={"cross_frame": 1.0})
    pipe = variant_pipeline(variants[-1])
    assert {n.name for n in pipe.nodes} == {"cross_frame_only.pretrain_variant", "cross_frame_only.finetune_variant"}
    assert "cross_frame_only.downstream_metrics" in pipe.outputs()
    assert {"pretrain_pool", "point_cloud_videos", "image_videos", "params:augment", "params:pretrain",
            "params:evaluate.variants.cross_frame_only"} <= pipe.inputs()


def test_variant_weights_replace_the_base_weights():
    base = {"epochs": 3, "loss": {"weights": {"intra_video": 1.0, "cross_video": 1.0}, "temperatures": {"x": 1}}}
    params = variant_pretrain_params(base, Variant(name="v", init="pretrain", weights={"cross_frame": 2.0}))
    assert params["loss"]["weights"] == {"intra_video": 0.0, "intra_frame": 0.0, "cross_video": 0.0,
                                         "cross_frame": 2.0, "image_intra_video": 0.0, "image_intra_frame": 0.0,
                                         "cross_dense": 0.0}
    assert params["loss"]["temperatures"] == {"x": 1} and base["loss"]["weights"]["intra_video"] == 1.0


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("v", {"init": "imagenet"}, r"evaluate.variants.v.init must be one of \['scratch', 'pretrained', 'pretrain'\], "
                                    r"got 'imagenet'"),
        ("v", {"init": "pretrain", "weights": {"intra": 1.0}},
         r"unknown parameter\(s\) \['evaluate.variants.v.weights.intra'\] .*expected \['intra_video', "),
        ("v", {"init": "pretrain", "weights": {"intra_video": -1}}, "evaluate.variants.v.weights.intra_video must be >= 0"),
        ("v", {"init": "pretrain", "weights": {"intra_video": 0.0}}, "needs at least one positive loss weight"),
        ("v", {"fuse": True}, r"unknown parameter\(s\) \['evaluate.variants.v.fuse'\]"),
        ("my-variant", {}, "must be a Python identifier"),
    ],
)
def test_bad_variants_are_named(name, spec, message):
    with pytest.raises(ValueError, match=message):
        variant_of(name, spec)


def test_study_grid_and_validation():
    study = parse(StudyConfig, {
        "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.1, 1.0]}],
        "seeds": [0, 1],
    }, "evaluate")
    assert study.grid() == [("action_segmentation", "full", 0.1), ("action_segmentation", "full", 1.0)]
    assert replicates([0, 1, 2], study.seeds) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert study.seeds_of("action_segmentation", "full", 0.1) == (0, 1)  # no seeds of its own: evaluate.seeds
    own = parse(StudyConfig, {"runs": [
        {"task": "action_segmentation", "protocol": "full", "label_fractions": [0.1], "seeds": [0, 1, 2]},
        {"task": "action_segmentation", "protocol": "full", "label_fractions": [1.0]}], "seeds": [0]}, "evaluate")
    assert own.seeds_of("action_segmentation", "full", 0.1) == (0, 1, 2)
    assert own.seeds_of("action_segmentation", "full", 1.0) == (0,)
    for bad in ([], [0, 0], [0.5], "0 1", [True]):
        with pytest.raises(ValueError, match=r"evaluate.runs\[0\].seeds must be a non-empty list of distinct"):
            parse(StudyConfig, {"runs": [{"task": "action_segmentation", "protocol": "full",
                                             "label_fractions": [1], "seeds": bad}]}, "evaluate")
    with pytest.raises(ValueError, match=r"evaluate.runs\[0\] needs task, protocol, label_fractions"):
        parse(StudyConfig, {"runs": [{"task": "action_segmentation", "protocol": "full",
                                         "label_fractions": [1], "seed": [1]}]}, "evaluate")
    with pytest.raises(ValueError, match=r"evaluate.runs\[0\].protocol must be one of \['full', 'linear'\], got 'zero'"):
        parse(StudyConfig, {"runs": [{"task": "action_segmentation", "protocol": "zero", "label_fractions": [1]}]}, "evaluate")
    with pytest.raises(ValueError, match=r"evaluate.runs\[0\].task must be one of \['action_segmentation', "):
        parse(StudyConfig, {"runs": [{"task": "dancing", "protocol": "full", "label_fractions": [1]}]}, "evaluate")
    with pytest.raises(ValueError, match=r"evaluate.runs\[0\].label_fractions must be fractions in \(0, 1\]"):
        parse(StudyConfig, {"runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [2]}]}, "evaluate")


def _rows(variant: str, values: list[float], task: str = "action_segmentation", metric: str = "accuracy",
          fraction: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame([{"variant": variant, "task": task, "protocol": "full", "label_fraction": fraction,
                          "pretrain_seed": r, "seed": 0, "num_train_sequences": 2, "lr": 1e-3, "metric": metric,
                          "value": v} for r, v in enumerate(values)])


def test_summary_reports_mean_and_std_over_replicates():
    table, csv = collect_metrics(_rows("scratch", [20.0, 30.0]), _rows("crossvideo", [40.0, 44.0]))
    assert len(table) == 4 and table.equals(csv)
    summary, markdown = summarise_study(table, {"variants": {"scratch": {}, "crossvideo": {}}, "seeds": [0]})
    row = summary.set_index("variant").loc["crossvideo"]
    assert row["mean"] == 42.0 and np.isclose(row["std"], np.std([40, 44], ddof=1)) and row["replicates"] == 2
    assert "| scratch | 25.0 ± 7.1 |" in markdown and "| crossvideo | 42.0 ± 2.8 |" in markdown
    assert markdown.index("scratch") < markdown.index("crossvideo")  # the parameters' order


def test_summary_pairs_each_variant_with_scratch_per_replicate_and_shows_the_upper_bound():
    # replicate-wise differences 1, 2, 3, 4 (the hand-worked example of test_metrics): +2.5 [+0.4, +4.6]
    scratch = _rows("scratch", [10.0, 20.0, 30.0, 40.0])
    cross = _rows("crossvideo", [11.0, 22.0, 33.0, 44.0])
    upper = _rows("scratch", [85.0, 87.0, 86.0, 86.0], fraction=1.0)
    table, _ = collect_metrics(scratch, cross, upper)
    diffs = paired_differences(table)
    row = diffs.set_index("variant").loc["crossvideo"]
    assert row["mean_diff"] == 2.5 and row["n"] == 4
    assert row["ci_low"] == pytest.approx(0.44574, abs=1e-4) and row["ci_high"] == pytest.approx(4.55426, abs=1e-4)
    _, markdown = summarise_study(table, {"variants": {"scratch": {}, "crossvideo": {}}, "seeds": [0]})
    assert "| crossvideo | +2.5 [+0.4, +4.6] * |" in markdown  # the interval excludes 0
    assert "Supervised upper bound (scratch, full fine-tuning, 100 % labels): **86.0 ± 0.8**" in markdown
    shuffled = _rows("crossvideo", [44.0, 33.0, 22.0, 11.0])  # same values, other pairing: the interval covers 0
    _, markdown = summarise_study(collect_metrics(scratch, shuffled)[0], {"variants": {}, "seeds": [0]})
    assert "| crossvideo | +2.5 [" in markdown and "* |" not in markdown


def test_the_interval_counts_pretraining_seeds_not_pairs_when_fine_tuning_seeds_share_them():
    # 3 pretraining seeds x 2 fine-tuning seeds (the hand-worked example of test_metrics): differences
    # {0.5, 1.5}, {2, 4}, {6, 4} -> +3.0 [-2.0, +8.0] over the 3 seeds; 6 "independent" pairs would give [+0.9, +5.1]
    def rows(variant, values):
        return pd.DataFrame([{"variant": variant, "task": "action_segmentation", "protocol": "full",
                              "label_fraction": 0.1, "pretrain_seed": i // 2, "seed": i % 2, "num_train_sequences": 2,
                              "lr": 1e-3, "metric": "accuracy", "value": v} for i, v in enumerate(values)])

    table, _ = collect_metrics(rows("scratch", [10.0] * 6), rows("crossvideo", [10.5, 11.5, 12.0, 14.0, 16.0, 14.0]))
    row = paired_differences(table).set_index("variant").loc["crossvideo"]
    assert (row["n"], row["pairs"], row["mean_diff"]) == (3, 6, 3.0)
    assert row["ci_low"] == pytest.approx(-1.968275, abs=1e-5) and row["ci_high"] == pytest.approx(7.968275, abs=1e-5)
    _, markdown = summarise_study(table, {"variants": {"scratch": {}, "crossvideo": {}}, "seeds": [0, 1]})
    assert "| crossvideo | +3.0 [-2.0, +8.0] |" in markdown
    assert "over 3 pretraining seeds (6 pairs; each seed's differences averaged over its fine-tuning seeds)" in markdown


def test_summary_always_runs_even_without_metrics():
    table, markdown = summarise_study(collect_metrics()[0], {"seeds": [0]})
    assert table.empty and "No runs" in markdown


def test_mlflow_metric_names_from_the_ablation_table():
    from crossvideo_kedro.framework.hooks import study_metrics

    table, _ = summarise_study(collect_metrics(_rows("crossvideo", [40.0, 44.0]))[0], {"seeds": [0]})
    assert study_metrics(table) == {"crossvideo/action_segmentation/full/0.1/accuracy": 42.0}


def test_variants_tasks_and_fractions_are_selected_by_parameters():
    params = {"variants": {"scratch": {}, "crossvideo": {"init": "pretrained"}, "fusion": {"fusion": True}},
              "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.1, 1.0]},
                       {"task": "semantic_segmentation", "protocol": "full", "label_fractions": [0.1]}]}
    assert parse(StudyConfig, params, "evaluate").selected_variants() == ["scratch", "crossvideo", "fusion"]  # include: null
    study = parse(StudyConfig, {**params, "include": ["fusion", "scratch"], "tasks": ["action_segmentation"],
                                   "label_fractions": [0.5]}, "evaluate")
    assert study.selected_variants() == ["scratch", "fusion"]  # the definitions' order
    assert study.grid() == [("action_segmentation", "full", 0.5)]
    from_cli = parse(StudyConfig, {**params, "include": "fusion crossvideo", "label_fractions": "0.2+1"}, "evaluate")
    assert from_cli.selected_variants() == ["crossvideo", "fusion"]  # --params "evaluate.include=fusion crossvideo"
    assert [f for _, _, f in from_cli.grid()] == [0.2, 1.0, 0.2, 1.0]
    assert parse(StudyConfig, params, "evaluate").grid(tasks=["semantic_segmentation"]) == [
        ("semantic_segmentation", "full", 0.1)]
    with pytest.raises(ValueError, match=r"evaluate.include names undefined variant\(s\) \['crosvideo'\]"):
        parse(StudyConfig, {**params, "include": ["crosvideo"]}, "evaluate")


def test_an_environment_and_runtime_params_choose_the_variants(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    (conf / "depth_only").mkdir()
    (conf / "depth_only" / "parameters_evaluate.yml").write_text(yaml.safe_dump(
        {"evaluate": {"include": ["scratch"], "tasks": ["action_segmentation"]}}))
    assert [v.name for v in load_variants(conf, env="depth_only")] == ["scratch"]
    assert load_study_parameters(conf, env="depth_only")["tasks"] == ["action_segmentation"]

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro.framework.project import pipelines

    cases = [({"runtime_params": {"evaluate": {"include": "crossvideo+cross_only"}}}, {"crossvideo", "cross_only"}),
             ({"env": "ablations"}, {"scratch", "crossvideo", "crossvideo_no_dense", "intra_only", "cross_only",
                                     "video_level_only", "frame_level_only", "fusion"})]
    try:
        for options, expected in cases:
            build_parameters._ACTIVE.clear()
            bootstrap_project(ROOT)  # a fresh process: nothing registered yet
            with KedroSession.create(ROOT, **options) as session:
                pipelines.set_requested(["finetune"])  # what `kedro run` does, then it loads the context ...
                session.load_context()
                # ... and only then takes the registered pipelines: they must be built from this run's parameters
                # (context.params would have registered them earlier, from base: {scratch, crossvideo})
                assert {n.namespace for n in pipelines["finetune"].nodes} == expected
            assert {v.name for v in load_variants()} == expected
    finally:
        build_parameters._ACTIVE.clear()
        pipelines.set_requested(None)


def test_a_crossvideo_variant_without_image_terms_is_refused():
    no_cross = {"loss": {"weights": {"intra_video": 1.0, "intra_frame": 1.0, "cross_video": 0.0, "cross_frame": 0.0}}}
    with pytest.raises(ValueError, match=r"variant 'crossvideo' has no cross-modal term \(pretrain.loss.weights.*"
                                         r"rename it"):
        check_variant_name(Variant(name="crossvideo", init="pretrained"), no_cross)
    check_variant_name(Variant(name="intra_only", init="pretrained"), no_cross)  # honest name: fine
    check_variant_name(Variant(name="crossvideo", init="pretrained"), {"loss": {"weights": {"cross_frame": 1.0}}})
    with pytest.raises(ValueError, match=r"evaluate.variants.cross_only.weights"):
        check_variant_name(Variant(name="cross_only", init="pretrain", weights={"intra_video": 1.0}), {})


def test_a_sources_capabilities_decide_the_tasks():
    index = pd.DataFrame({"sequence": ["a", "b", "c"], "split": ["train", "test", "unlabelled"],
                          "has_images": [False] * 3, "has_frame_labels": [True, True, False],
                          "has_point_labels": [False, False, True]})
    reasons = supported_tasks(index, {"action": ["x", "y"], "semantic": None}, ["train", "val", "test"])
    assert reasons["action_segmentation"] is None and reasons["action_recognition"] is None
    assert reasons["semantic_segmentation"] == "no sequence has point_labels"  # the pool's labels do not count
    reasons = supported_tasks(index.assign(has_point_labels=True), {"action": ["x"], "semantic": []}, ["train", "test"])
    assert reasons["semantic_segmentation"] == "the source names no semantic classes (class_names.semantic)"


def test_a_split_without_val_gets_a_seeded_val_carved_from_train_or_none(caplog):
    from crossvideo_kedro.study import carve_val  # noqa: PLC0415
    from crossvideo_kedro.study_runner import plan_variant  # noqa: PLC0415

    names = [f"v{i:02d}" for i in range(10)]
    train, val = carve_val(list(reversed(names)), 0.2, seed=0)  # the order given does not matter
    assert len(val) == 2 and sorted(train + val) == names and not set(train) & set(val)
    assert carve_val(names, 0.2, seed=0) == (train, val) and carve_val(names, 0.2, seed=1) != (train, val)
    assert carve_val(["only"], 0.5, seed=0) == (["only"], [])  # a single training sequence stays in train
    index = pd.DataFrame({"sequence": [*names, "t0", "t1"], "split": ["train"] * 10 + ["test"] * 2,
                          "has_frame_labels": True, "has_point_labels": False, "has_images": False})
    study = {"variants": {"scratch": {}}, "runs": [{"task": "action_recognition", "protocol": "full",
                                                     "label_fractions": [1.0]}]}
    args = (None, index, {"action": ["a", "b"]}, [], {"seeds": [0]})
    plan = plan_variant(Variant(name="scratch"), *args, {"lr_grid": [0.001, 0.003]},
                        {**study, "val_from_train": 0.2})
    assert (plan.train, plan.val, plan.test) == (train, val, ["t0", "t1"])
    with caplog.at_level("INFO", logger="crossvideo_kedro.study_runner"):
        plan = plan_variant(Variant(name="scratch"), *args, {"lr_grid": [0.001, 0.003]}, study)
    assert plan.train == names and plan.val == []
    assert [r.message for r in caplog.records if "lr_grid is not searched" in r.message] == [
        "scratch: no sequence is in split 'val' and evaluate.val_from_train is null: finetune.lr_grid is not "
        "searched, every full run uses finetune.lr 0.001"]
    with pytest.raises(ValueError, match="evaluate.val_from_train must be a fraction in"):
        parse(StudyConfig, {**study, "val_from_train": 1.0}, "evaluate")


def test_summary_reports_video_accuracy_next_to_clip_accuracy_with_its_own_interval():
    rows = [{"variant": v, "task": "action_recognition", "protocol": "full", "label_fraction": 1.0,
             "pretrain_seed": p, "seed": 0, "num_train_sequences": 4, "metric": m,
             "value": {"clip_accuracy": 50.0, "video_accuracy": 60.0}[m] + (10.0 * p if v == "tuned" else 0.0)}
            for v in ("scratch", "tuned") for p in (0, 1, 2) for m in ("clip_accuracy", "video_accuracy")]
    table, markdown = summarise_study(collect_metrics(pd.DataFrame(rows))[0],
                                      {"variants": {"scratch": {}, "tuned": {}}, "seeds": [0]})
    clip, video = markdown.index("## action recognition: clip_accuracy"), markdown.index(
        "## action recognition: video_accuracy")
    assert clip < video
    assert "| scratch | 60.0 ± 0.0 |" in markdown[video:] and "| tuned | 70.0 ± 10.0 |" in markdown[video:]
    assert "| tuned | +10.0 [-14.8, +34.8] |" in markdown[video:]  # differences 0, 10, 20: t(2) interval
    _, without = summarise_study(collect_metrics(pd.DataFrame([r for r in rows if r["metric"] == "clip_accuracy"]))[0],
                                 {"variants": {"scratch": {}, "tuned": {}}, "seeds": [0]})
    assert "video_accuracy" not in without and "clip_accuracy" in without
