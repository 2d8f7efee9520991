"""GeneratorConfig: defaults, round trip, and error messages that name the bad parameter."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.framework.build_parameters import load_build_parameters
from crossvideo_kedro.synth import GeneratorConfig
from crossvideo_kedro.synth.config import BASE_SEMANTIC_CLASSES


def test_defaults_are_valid_and_round_trip_through_plain_data():
    config = parse(GeneratorConfig, {}, "generate")
    plain = config.to_dict()
    json.dumps(plain)  # plain dict/list data, as the YAML file holds it
    assert parse(GeneratorConfig, plain, "generate") == config
    assert config.semantic_classes == [*BASE_SEMANTIC_CLASSES, *config.categories]
    assert config.semantic_classes[:4] == ["background", "table", "hand", "distractor"]
    assert len(config.categories) >= 6 and len(config.action_classes) >= 8
    assert {c["shape"] for c in config.categories.values()} >= {"box", "cylinder", "sphere", "cone", "torus"}


def test_twin_categories_pair_up_as_shape_twins_and_appearance_twins():
    conf = Path(__file__).resolve().parents[2] / "conf"
    categories = parse(GeneratorConfig, load_build_parameters("generate", conf_source=conf, env="twins"), "generate").categories

    def shape(name):
        return categories[name]["shape"], tuple(categories[name]["size"])

    def look(name):
        spec = categories[name]
        return tuple(spec["color"]), spec.get("texture", "plain"), tuple(spec.get("color2", ()))

    names = list(categories)
    shape_twins = [(a, b) for a in names for b in names if a < b and shape(a) == shape(b) and look(a) != look(b)]
    look_twins = [(a, b) for a in names for b in names if a < b and look(a) == look(b) and shape(a) != shape(b)]
    assert shape_twins and look_twins
    # every category has a twin of some kind, so neither modality alone identifies all of them
    twinned = {n for pair in shape_twins + look_twins for n in pair}
    assert twinned == set(names)


def test_intrinsics_follow_the_horizontal_field_of_view():
    config = parse(GeneratorConfig, {"width": 200, "height": 100, "hfov_deg": 90.0}, "generate")
    k = config.intrinsics
    assert k[0][0] == pytest.approx(100.0) and k[1][1] == pytest.approx(100.0)  # (W/2) / tan(45°)
    assert k[0][2] == pytest.approx(99.5) and k[1][2] == pytest.approx(49.5)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"num_sequences": 0}, "generate.num_sequences must be an integer >= 1, got 0"),
        ({"num_frames": -3}, "generate.num_frames must be an integer >= 2, got -3"),
        ({"width": 0}, "generate.width must be an integer >= 16, got 0"),
        ({"height": 2.5}, "generate.height must be an integer"),
        ({"fps": 0}, "generate.fps must be > 0, got 0"),
        ({"seed": True}, "generate.seed must be an integer"),
        ({"num_workers": 0}, "generate.num_workers must be an integer >= 1, got 0"),
        ({"hfov_deg": 179}, "generate.hfov_deg must be in [10, 150]"),
        ({"categories": {}}, "generate.categories must be a non-empty mapping"),
        ({"action_classes": ["rest", "dance"]}, "generate.action_classes names ['dance'] with no motion primitive"),
        ({"start_action": "lift"}, "generate.start_action must start with the hand empty"),
        ({"colour": 1}, "unknown parameter(s) ['generate.colour']"),
        ({"camera": {"fov": 3}}, "unknown parameter(s) ['generate.camera.fov']"),
        ({"camera": {"distance": [0.6, 0.4]}}, "generate.camera.distance must be [lo, hi] with lo <= hi"),
        ({"sensor": {"dropout": [0.1, 0.95]}}, "generate.sensor.dropout must be [lo, hi]"),
        ({"sensor": {"min_depth": 1.0, "max_depth": 0.5}}, "generate.sensor.max_depth must be > sensor.min_depth"),
        ({"sensor": {"edge_dropout": 1.5}}, "generate.sensor.edge_dropout must be in [0, 1]"),
        ({"scene": {"num_distractors": [1.5, 3]}}, "generate.scene.num_distractors must be"),
        ({"scene": {"distractor_shapes": ["pyramid"]}}, "generate.scene.distractor_shapes must name shapes"),
        ({"scene": {"hand_colors": [[300, 0, 0]]}}, "generate.scene.hand_colors[0] must be an [r, g, b] colour"),
        ({"motion": {"grip_flex": [0.5, 1.5]}}, "generate.motion.grip_flex must be"),
    ],
)
def test_bad_values_are_rejected_naming_the_parameter(override, message):
    with pytest.raises(ValueError) as error:
        parse(GeneratorConfig, override, "generate")
    assert message in str(error.value)


def _with_grammar(**changes):
    grammar = copy.deepcopy(GeneratorConfig().grammar)
    grammar.update(changes)
    return {"grammar": grammar}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (_with_grammar(rest=["reach", "jump"]), "generate.grammar.rest names 'jump', which is not in action_classes"),
        (_with_grammar(rest=["lift"]),
         "generate.grammar.rest: 'rest' ends with the object free but 'lift' needs it held"),
        (_with_grammar(reach=[]), "generate.grammar.reach must be a non-empty list"),
        ({"grammar": {"rest": ["reach"], "reach": ["grasp"]}}, "generate.grammar has no entry for 'grasp'"),
        ({"durations": {**GeneratorConfig().durations, "carry": [1.0, 0.5]}},
         "generate.durations.carry must be [lo, hi] with lo <= hi, both > 0"),
        ({"durations": {"rest": [0.5, 1.0]}}, "generate.durations has no [min_s, max_s] for 'reach'"),
        ({"action_classes": ["rest", "reach", "grasp", "lift", "carry", "place", "release", "retract"]},
         "generate.grammar.grasp names 'push', which is not in action_classes"),
    ],
)
def test_grammar_errors_name_the_action(params, message):
    with pytest.raises(ValueError) as error:
        parse(GeneratorConfig, params, "generate")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"shape": "pyramid", "size": [0.1], "color": [1, 2, 3]}, "generate.categories.thing.shape must be one of"),
        ({"shape": "cylinder", "size": [0.04], "color": [1, 2, 3]},
         "generate.categories.thing.size must be ['radius', 'height']"),
        ({"shape": "torus", "size": [0.02, 0.03], "color": [1, 2, 3]}, "tube_radius < radius"),
        ({"shape": "sphere", "size": [0.04], "color": [1, 2]}, "generate.categories.thing.color must be an [r, g, b]"),
        ({"shape": "sphere", "size": [0.04], "color": [1, 2, 3], "texture": "dots"},
         "generate.categories.thing.texture must be one of"),
        ({"shape": "sphere", "size": [0.04], "color": [1, 2, 3], "texture": "stripes"},
         "generate.categories.thing.color2 must be an [r, g, b]"),
        ({"shape": "sphere", "size": [0.04], "color": [1, 2, 3], "weight": 2},
         "unknown parameter(s) ['generate.categories.thing.weight']"),
    ],
)
def test_category_errors_name_the_category_and_key(spec, message):
    with pytest.raises(ValueError) as error:
        parse(GeneratorConfig, {"categories": {"thing": spec}}, "generate")
    assert message in str(error.value)


def test_reserved_semantic_names_cannot_be_categories():
    with pytest.raises(ValueError, match="reserved semantic classes"):
        parse(GeneratorConfig, {"categories": {"hand": {"shape": "sphere", "size": [0.04], "color": [1, 2, 3]}}},
              "generate")



def test_the_base_parameters_file_mirrors_the_defaults():
    """``conf/base/parameters_generate.yml`` must build a valid config, and every key it sets equals the default."""
    import yaml  # noqa: PLC0415

    path = Path(__file__).resolve().parents[2] / "conf" / "base" / "parameters_generate.yml"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    params = yaml.safe_load(path.read_text(encoding="utf-8"))["generate"]
    config = parse(GeneratorConfig, params, "generate")
    defaults = GeneratorConfig().to_dict()
    built = config.to_dict()
    for key in params:
        assert built[key] == defaults[key], f"generate.{key} in {path.name} differs from GeneratorConfig's default"
