"""The study design: variants from parameters become Kedro namespaces; the evaluate nodes aggregate honestly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from crossvideo_kedro.pipelines.evaluate.nodes import collect_metrics, summarise_study
from crossvideo_kedro.pipelines.finetune.nodes import variant_pretrain_params
from crossvideo_kedro.pipelines.finetune.pipeline import variant_pipeline
from crossvideo_kedro.study import StudyConfig, Variant, load_variants

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_variants_are_the_study_of_the_paper():
    variants = {v.name: v for v in load_variants()}
    assert list(variants) == ["scratch", "crossvideo", "intra_only", "cross_only", "video_level_only",
                              "frame_level_only", "fusion"]
    assert variants["fusion"].fusion and variants["fusion"].init == "scratch"
    assert variants["crossvideo"].init == "pretrained"
    assert variants["video_level_only"].weights == {"intra_video": 1.0, "cross_video": 1.0}


def test_a_new_variant_is_a_parameter_entry(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    params = yaml.safe_load((conf / "base" / "parameters_evaluate.yml").read_text())
    params["evaluate"]["variants"]["cross_frame_only"] = {"init": "pretrain", "weights": {"cross_frame": 1.0}}
    (conf / "base" / "parameters_evaluate.yml").write_text(yaml.safe_dump(params, sort_keys=False))
    variants = load_variants(conf)
    assert variants[-1] == Variant("cross_frame_only", "pretrain", {"cross_frame": 1.0})
    pipe = variant_pipeline(variants[-1])
    assert {n.name for n in pipe.nodes} == {"cross_frame_only.pretrain_variant", "cross_frame_only.finetune_variant"}
    assert "cross_frame_only.downstream_metrics" in pipe.outputs()
    assert "pretrain_views" in pipe.inputs() and "params:evaluate.variants.cross_frame_only" in pipe.inputs()


def test_variant_weights_replace_the_base_weights():
    base = {"epochs": 3, "loss": {"weights": {"intra_video": 1.0, "cross_video": 1.0}, "temperatures": {"x": 1}}}
    params = variant_pretrain_params(base, Variant("v", "pretrain", {"cross_frame": 2.0}))
    assert params["loss"]["weights"] == {"intra_video": 0.0, "intra_frame": 0.0, "cross_video": 0.0,
                                         "cross_frame": 2.0, "image_intra_video": 0.0, "image_intra_frame": 0.0}
    assert params["loss"]["temperatures"] == {"x": 1} and base["loss"]["weights"]["intra_video"] == 1.0


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("v", {"init": "imagenet"}, r"evaluate.variants.v.init must be one of"),
        ("v", {"init": "pretrain", "weights": {"intra": 1.0}}, r"unknown term\(s\) \['intra'\]"),
        ("v", {"init": "pretrain", "weights": {"intra_video": 0.0}}, "needs at least one positive loss weight"),
        ("v", {"fuse": True}, r"unknown parameter\(s\) \['evaluate.variants.v.fuse'\]"),
        ("my-variant", {}, "must be a Python identifier"),
    ],
)
def test_bad_variants_are_named(name, spec, message):
    with pytest.raises(ValueError, match=message):
        Variant.from_dict(name, spec)


def test_study_grid_and_validation():
    study = StudyConfig.from_dict({
        "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.1, 1.0]}],
        "seeds": [0, 1],
    })
    assert study.grid() == [("action_segmentation", "full", 0.1, 0), ("action_segmentation", "full", 0.1, 1),
                            ("action_segmentation", "full", 1.0, 0), ("action_segmentation", "full", 1.0, 1)]
    with pytest.raises(ValueError, match=r"evaluate.runs\[0\].protocol must be one of"):
        StudyConfig.from_dict({"runs": [{"task": "action_segmentation", "protocol": "zero", "label_fractions": [1]}]})
    with pytest.raises(ValueError, match=r"evaluate.runs\[0\].label_fractions must be fractions in \(0, 1\]"):
        StudyConfig.from_dict({"runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [2]}]})


def _rows(variant: str, values: list[float]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": variant, "task": "action_segmentation", "protocol": "full", "label_fraction": 0.1,
                          "seed": s, "num_train_sequences": 2, "metric": "accuracy", "value": v}
                         for s, v in enumerate(values)])


def test_summary_reports_mean_and_std_over_seeds():
    table, csv = collect_metrics(_rows("scratch", [20.0, 30.0]), _rows("crossvideo", [40.0, 44.0]))
    assert len(table) == 4 and table.equals(csv)
    summary, markdown = summarise_study(table, {"variants": {"scratch": {}, "crossvideo": {}}, "seeds": [0, 1]})
    row = summary.set_index("variant").loc["crossvideo"]
    assert row["mean"] == 42.0 and np.isclose(row["std"], np.std([40, 44], ddof=1)) and row["seeds"] == 2
    assert "| scratch | 25.0 ± 7.1 |" in markdown and "| crossvideo | 42.0 ± 2.8 |" in markdown
    assert markdown.index("scratch") < markdown.index("crossvideo")  # the parameters' order


def test_mlflow_metric_names_from_the_ablation_table():
    from crossvideo_kedro.hooks import study_metrics

    table, _ = summarise_study(collect_metrics(_rows("crossvideo", [40.0, 44.0]))[0], {"seeds": [0, 1]})
    assert study_metrics(table) == {"crossvideo/action_segmentation/full/0.1/accuracy": 42.0}
