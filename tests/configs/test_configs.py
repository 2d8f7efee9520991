"""One config mechanism: every block parses to a frozen model; a bad value gives one line naming the full key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from crossvideo_kedro import configs
from crossvideo_kedro.configs import (
    PRESETS,
    AugmentConfig,
    FinetuneConfig,
    IngestConfig,
    PredictConfig,
    PretrainConfig,
    StudyConfig,
    parse,
)


@pytest.mark.parametrize(("model", "where", "params", "message"), [
    (PretrainConfig, "pretrain", {"model": {"point": {"radius": 0}}},
     "pretrain.model.point.radius must be > 0 (metres), got 0"),
    (PretrainConfig, "pretrain", {"model": {"preset": "paper", "point": {"radus": 1}}},
     "unknown parameter(s) ['pretrain.model.point.radus'] ('radus': did you mean 'radius'?); expected ["),
    (PretrainConfig, "pretrain", {"model": {"point": {"heads": 3}}},
     "pretrain.model.point.heads must divide dim (128), got 3"),
    (PretrainConfig, "pretrain", {"model": {"preset": "huge"}}, "pretrain.model.preset must be one of ['paper', "
                                                               "'small'], got 'huge'"),
    (PretrainConfig, "pretrain", {"steps": "2"}, "pretrain.steps must be an integer, got '2'"),
    (PretrainConfig, "pretrain", {"steps": 0}, "pretrain.steps must be an integer >= 1, got 0"),
    (PretrainConfig, "pretrain", {"progress": 1}, "pretrain.progress must be true or false, got 1"),
    (PretrainConfig, "pretrain", {"optimizer": "adam"}, "pretrain.optimizer must be one of ['adamw', 'sgd'], got "
                                                        "'adam'"),
    (PretrainConfig, "pretrain", {"seeds": [1, 1]}, "pretrain.seeds must be a non-empty list of distinct integers, "
                                                    "got [1, 1]"),
    (PretrainConfig, "pretrain", {"lr": float("inf")}, "pretrain.lr must be a finite number, got inf"),
    (PretrainConfig, "pretrain", {"loss": {"weights": {"intra_vido": 1}}},
     "unknown parameter(s) ['pretrain.loss.weights.intra_vido'] ('intra_vido': did you mean 'intra_video'?); expected "
     "['intra_video', 'intra_frame', 'cross_video', 'cross_frame', 'image_intra_video', 'image_intra_frame', "
     "'cross_dense']"),
    (PretrainConfig, "pretrain", {"loss": {"temperatures": {"cross_dense": 0}}},
     "pretrain.loss.temperatures.cross_dense must be > 0, got 0"),
    (PretrainConfig, "pretrain", {"loss": {"dense": {"locations": 0}}},
     "pretrain.loss.dense.locations must be an integer >= 1, got 0"),
    (FinetuneConfig, "finetune", {"temporal": {"dropout": 1}}, "finetune.temporal.dropout must be >= 0 and < 1, got 1"),
    (FinetuneConfig, "finetune", {"lr_grid": [0.1, -1]}, "finetune.lr_grid[1] must be > 0, got -1"),
    (FinetuneConfig, "finetune", {"num_threads": 0}, "finetune.num_threads must be an integer >= 1 or null, got 0"),
    (IngestConfig, "ingest", {"image_size": [64, 4]}, "ingest.image_size[1] must be an integer >= 8, got 4"),
    (AugmentConfig, "augment", {"image": {"crop_scale": [0.5, 1.5]}},
     "augment.image.crop_scale must be [lo, hi] with 0 < lo <= hi <= 1, got [0.5, 1.5]"),
    (StudyConfig, "evaluate", {"runs": [{"task": "action_segmentation", "protocol": "full",
                                         "label_fractions": [0.5, 2]}]},
     "evaluate.runs[0].label_fractions must be fractions in (0, 1], got 2"),
    (PredictConfig, "predict", {"tasks": ["action_recognition"]},
     "predict.tasks must be a non-empty subset of ['action_segmentation', 'semantic_segmentation'], got "
     "['action_recognition']"),
])
def test_a_bad_value_is_one_line_naming_the_full_key_and_what_is_allowed(model, where, params, message):
    with pytest.raises(ValueError) as error:
        parse(model, params, where)
    assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_every_problem_of_a_block_is_reported_at_once():
    with pytest.raises(ValueError) as error:
        parse(PretrainConfig, {"steps": 0, "stpes": 1, "checkpoint": {"kepp": 1}}, "pretrain")
    problems = str(error.value)
    for problem in ("unknown parameter(s) ['pretrain.stpes'] ('stpes': did you mean 'steps'?); expected "
                    f"{sorted(PretrainConfig.model_fields)}",
                    "unknown parameter(s) ['pretrain.checkpoint.kepp'] ('kepp': did you mean 'keep'?); expected "
                    "['dir', 'every_steps', 'keep', 'resume']",
                    "pretrain.steps must be an integer >= 1, got 0"):
        assert problem in problems, problems
    assert problems.count("; ") == 4  # three problems (two of them list what is expected)


def test_types_are_kept_as_written_so_the_numbers_do_not_change():
    config = parse(PretrainConfig, {"seeds": [3, 4], "lr": 1, "weight_decay": 0.5}, "pretrain")
    assert config.seeds == (3, 4) and type(config.lr) is int and type(config.weight_decay) is float
    assert parse(PretrainConfig, None, "pretrain") == PretrainConfig()
    with pytest.raises(ValidationError):
        config.steps = 5  # frozen
    with pytest.raises(ValueError, match="pretrain must be a mapping"):
        parse(PretrainConfig, [1], "pretrain")


def test_a_preset_is_the_starting_point_and_a_section_overrides_single_keys():
    model = parse(PretrainConfig, {"model": {"preset": "paper", "point": {"depth": 1}}}, "pretrain").model
    assert model.point.depth == 1 and model.point.dim == PRESETS["paper"].point.dim == 1024
    assert model.image == PRESETS["paper"].image
    assert parse(PretrainConfig, {"model": {}}, "pretrain").model == PRESETS["small"]


def test_one_default_for_the_pretraining_seeds():
    assert PretrainConfig().seeds == (0, 1, 2)


def test_the_package_exports_one_model_per_block():
    exported = [getattr(configs, n) for n in configs.__all__]
    assert all(model in exported for model in (IngestConfig, AugmentConfig, PretrainConfig, FinetuneConfig,
                                               StudyConfig, PredictConfig))
    assert all(issubclass(getattr(configs, n), configs.Config) for n in configs.__all__
               if n not in ("PRESETS", "parse", "Config"))


@pytest.mark.parametrize("env", sorted(p.name for p in (Path(__file__).resolve().parents[2] / "conf").iterdir()
                                      if p.is_dir()))
def test_the_shipped_parameters_parse_in_every_environment(env):
    from tests.test_reliability import ROOT, _merged  # noqa: PLC0415

    blocks: dict = {}
    for folder in dict.fromkeys(["base", env]):
        for path in sorted((ROOT / "conf" / folder).glob("parameters_*.yml")):
            blocks = _merged(blocks, yaml.safe_load(path.read_text()) or {})
    models = {"ingest": IngestConfig, "augment": AugmentConfig, "pretrain": PretrainConfig,
              "finetune": FinetuneConfig, "evaluate": StudyConfig, "predict": PredictConfig}
    for key, model in models.items():
        config = parse(model, blocks.get(key), key)
        assert config == parse(model, config.model_dump(), key)  # a dump parses back to the same config
    study = parse(StudyConfig, blocks["evaluate"], "evaluate")
    assert [study.variant(name).name for name in study.variants] == list(study.variants)
