"""conf/base and conf/twins: the default label space, whose categories a point model can tell apart (distinct in shape
or size from each other and from the distractors), and the twin categories, which only appearance tells apart."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.framework.build_parameters import load_build_parameters
from crossvideo_kedro.preprocess import IngestConfig, ingest_raw_sequence
from crossvideo_kedro.synth import GeneratorConfig, generate_sequence
from crossvideo_kedro.synth.scene import distractor_size

CONF = Path(__file__).resolve().parents[2] / "conf"
#: The categories the default and conf/twins name. Environments merge into conf/base key by key, so a category the
#: default gains later would join the twins: this list makes that visible.
CATEGORIES = ["mug", "jar", "can", "box", "ball", "apple", "cone", "ring"]


def config(env: str) -> GeneratorConfig:
    return parse(GeneratorConfig, load_build_parameters("generate", conf_source=CONF, env=env), "generate")


class _Edge:
    """A stand-in generator whose every uniform draw is the range's low (or high) end: the extremes of a shape."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def uniform(self, low: float, high: float, size: int) -> np.ndarray:
        return np.full(size, high if self.high else low)


def category_range(spec: dict, jitter: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of each size entry over the per-sequence scale jitter."""
    size = np.asarray(spec["size"], dtype=float)
    return size * (1 - jitter), size * (1 + jitter)


def distractor_range(shape: str, radius: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of each size entry of a distractor of ``shape`` over its radius range and random proportions."""
    return (np.asarray(distractor_size(shape, radius[0], _Edge(False))),
            np.asarray(distractor_size(shape, radius[1], _Edge(True))))


def overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """Two size boxes overlap when every entry's intervals do."""
    return bool(np.all(a[0] <= b[1]) and np.all(b[0] <= a[1]))


def test_twins_env_states_the_twin_categories() -> None:
    cats = config("twins").categories
    assert list(cats) == CATEGORIES
    look = {name: (spec["shape"], tuple(spec["size"])) for name, spec in cats.items()}
    assert look["mug"] == look["jar"] == look["can"] == ("cylinder", (0.04, 0.1))
    assert look["ball"] == look["apple"] == ("sphere", (0.045,))
    assert cats["can"]["color"] == cats["box"]["color"] and cats["apple"]["color"] == cats["cone"]["color"]
    scene = config("twins").scene
    assert set(scene.distractor_shapes) == {spec["shape"] for spec in cats.values()}
    assert overlap(category_range(cats["ball"], scene.size_jitter),
                   distractor_range("sphere", scene.distractor_size))   # a distractor can be a ball's twin


def test_default_categories_differ_from_each_other_and_the_distractors() -> None:
    generator = config("base")
    cats, scene = generator.categories, generator.scene
    assert list(cats) == CATEGORIES and generator.semantic_classes[4:] == CATEGORIES
    ranges = {name: category_range(spec, scene.size_jitter) for name, spec in cats.items()}
    for a, b in combinations(cats, 2):
        assert (cats[a]["shape"], cats[a]["size"]) != (cats[b]["shape"], cats[b]["size"])
        if cats[a]["shape"] == cats[b]["shape"]:
            assert not overlap(ranges[a], ranges[b]), f"{a} and {b} can be drawn at the same size"
    for shape in scene.distractor_shapes:
        clash = [n for n, spec in cats.items()
                 if spec["shape"] == shape and overlap(ranges[n], distractor_range(shape, scene.distractor_size))]
        assert not clash, f"a {shape} distractor can look like {clash}"
    assert len({tuple(spec["color"]) for spec in cats.values()}) >= 7   # only jar shares mug's red, striped


def test_twins_env_changes_only_the_object_categories_and_distractors() -> None:
    base, other = config("base").to_dict(), config("twins").to_dict()
    assert base["categories"] != other["categories"]
    assert {k for k in base if base[k] != other[k]} <= {"categories", "scene"}
    assert {k for k in base["scene"] if base["scene"][k] != other["scene"][k]} <= {"distractor_shapes",
                                                                                  "distractor_size"}


def test_every_default_category_gets_points_a_frame_in_the_order_of_its_size() -> None:
    """The default generator and ingest settings (30 frames instead of 90): the manipulated object of every category
    has at least 5 of the 256 points a frame on average, and a larger object of one shape gets more than a smaller."""
    generator = parse(GeneratorConfig, {**load_build_parameters("generate", conf_source=CONF), "num_frames": 30}, "generate")
    ingest = parse(IngestConfig, load_build_parameters("ingest", conf_source=CONF), "ingest")
    points = {}
    for category in CATEGORIES:
        sequence = generate_sequence(generator, 0, category=category)
        labels = ingest_raw_sequence(sequence, ingest)[0]["point_labels"]  # (T, 256)
        points[category] = (labels == sequence.semantic_classes.index(category)).sum(axis=1).mean()
    assert min(points.values()) >= 5, points
    assert points["jar"] > points["mug"] > points["can"] and points["ball"] > points["apple"], points
