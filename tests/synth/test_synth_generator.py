"""End-to-end: generated sequences meet the RawSequence contract and make a learning problem worth solving."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.framework.build_parameters import load_build_parameters
from crossvideo_kedro.sequences import RawSequence
from crossvideo_kedro.synth import (
    GENERATOR_VERSION,
    GeneratorConfig,
    generate_sequence,
    generate_sequences,
    stream_sequences,
)
from crossvideo_kedro.synth import generator as generator_module
from crossvideo_kedro.synth.generator import sequence_category

SMALL = {"num_sequences": 2, "num_frames": 20, "width": 64, "height": 48, "num_workers": 1}
QUIET = {"depth_noise": [0.0, 0.0], "dropout": [0.0, 0.0], "edge_dropout": 0.0, "color_noise": 0.0}


def twin_categories() -> dict:
    """The twin label space of ``conf/twins`` (shape twins differ in appearance only, look twins in shape only)."""
    conf = Path(__file__).resolve().parents[2] / "conf"
    return load_build_parameters("generate", conf_source=conf, env="twins")["categories"]


def small(**overrides) -> GeneratorConfig:
    return parse(GeneratorConfig, {**SMALL, **overrides}, "generate")


@pytest.fixture(scope="module")
def pair() -> dict[str, RawSequence]:
    return generate_sequences(small())


def _frames_of(sequence: RawSequence, label: str) -> np.ndarray:
    """(T,) pixel count of a semantic class per frame."""
    ids = [sequence.semantic_classes.index(label)]
    return np.isin(sequence.labels, ids).sum(axis=(1, 2))


def _object_pixels(sequence: RawSequence) -> np.ndarray:
    return sequence.labels == sequence.meta["category_id"]


def test_contract_shapes_dtypes_and_meta(pair):
    config = small()
    assert list(pair) == ["seq_0000", "seq_0001"]
    for name, seq in pair.items():
        assert seq.name == name and seq.source == "generated"
        assert seq.depth.shape == (20, 48, 64) and seq.depth.dtype == np.float32
        assert seq.color.shape == (20, 48, 64, 3) and seq.color.dtype == np.uint8
        assert seq.labels.shape == (20, 48, 64) and seq.labels.dtype == np.int16
        assert seq.intrinsics.shape == (3, 3) and seq.intrinsics.dtype == np.float64
        np.testing.assert_allclose(seq.intrinsics, config.intrinsics)
        assert seq.fps == 15.0
        assert seq.action_classes == config.action_classes
        assert seq.semantic_classes == ["background", "table", "hand", "distractor", *config.categories]
        assert seq.labels.min() >= 0 and seq.labels.max() < len(seq.semantic_classes)
        assert np.isfinite(seq.depth).all() and seq.depth.min() >= 0
        json.dumps(seq.meta)
        assert seq.meta["generator"] == {"name": "crossvideo_kedro.synth", "version": GENERATOR_VERSION,
                                         "seed": 0, "index": int(name[-4:])}
        assert seq.meta["category"] in config.categories
        assert seq.semantic_classes[seq.meta["category_id"]] == seq.meta["category"]
        seq.validate()


def test_same_config_gives_identical_arrays_and_another_seed_does_not(pair):
    again = generate_sequence(small(), 1)
    for key in ("depth", "color", "labels"):
        np.testing.assert_array_equal(getattr(again, key), getattr(pair["seq_0001"], key))
    assert again.events == pair["seq_0001"].events and again.meta == pair["seq_0001"].meta
    other = generate_sequence(small(seed=1), 1)
    assert not np.array_equal(other.depth, again.depth) and not np.array_equal(other.color, again.color)
    assert not np.array_equal(pair["seq_0000"].depth, pair["seq_0001"].depth)


def test_worker_processes_give_the_same_result():
    parallel = generate_sequences(small(num_workers=2, num_frames=4))
    serial = generate_sequences(small(num_frames=4))
    assert list(parallel) == list(serial)
    for name in serial:
        np.testing.assert_array_equal(parallel[name].color, serial[name].color)
        np.testing.assert_array_equal(parallel[name].depth, serial[name].depth)
        np.testing.assert_array_equal(parallel[name].labels, serial[name].labels)


def test_the_stream_renders_a_bounded_window_ahead_and_matches_the_batch(monkeypatch):
    config = small(num_sequences=5, num_frames=4)
    batch = generate_sequences(config)
    stream = generator_module._SequenceStream(config, list(range(5)), window=1)
    stream._workers = 2  # a pool of 2 processes would not see the counter: count submissions instead
    submitted = []

    class Executor:  # runs each submission at once, in this process
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, fn, *args):
            submitted.append(args[1])
            future = generator_module.Future()
            future.set_result(fn(*args))
            return future

        def shutdown(self, *args, **kwargs):
            pass

    monkeypatch.setattr(generator_module, "process_pool", Executor)
    first = stream.get(0)
    assert submitted == [0, 1]  # the one asked for and `window` = 1 ahead, not all five
    stream.get(1)
    assert submitted == [0, 1, 2]
    assert stream.get(0).name == "seq_0000" and submitted == [0, 1, 2]  # asked again: rendered again, in process
    np.testing.assert_array_equal(first.color, batch["seq_0000"].color)
    loaders = stream_sequences(small(num_sequences=5, num_frames=4, num_workers=2), window=2)
    assert list(loaders) == list(batch)
    for name in reversed(list(loaders)):  # any order, real worker processes
        np.testing.assert_array_equal(loaders[name]().depth, batch[name].depth)


def test_every_frame_has_exactly_one_event_within_the_video(pair):
    for seq in pair.values():
        duration = seq.num_frames / seq.fps
        assert seq.events[0].start == 0.0 and seq.events[-1].end == pytest.approx(duration)
        times = np.arange(seq.num_frames) / seq.fps
        covering = np.array([[e.start <= t < e.end for e in seq.events] for t in times])
        assert (covering.sum(axis=1) == 1).all()
        frame_actions = [seq.action_classes.index(seq.events[i].name) for i in covering.argmax(axis=1)]
        assert frame_actions == seq.meta["frame_actions"]


def test_long_videos_show_every_action_over_a_few_seeds():
    # 6 s at 5 fps: a whole cycle per sequence at low cost
    config = small(num_sequences=6, num_frames=30, fps=5.0, width=32, height=24)
    seen = Counter(e.name for seq in generate_sequences(config).values() for e in seq.events)
    assert set(seen) == set(config.action_classes)


def test_hand_and_object_are_visible_in_most_frames(pair):
    for seq in pair.values():
        hand = _frames_of(seq, "hand")
        obj = _object_pixels(seq).sum(axis=(1, 2))
        assert (hand >= 10).mean() >= 0.8 and (obj >= 5).mean() >= 0.8
        assert (_frames_of(seq, "table") > 0.3 * 64 * 48).all()
        # hand + object take a good share of the pixels that have geometry
        geometry = (seq.labels > 0).sum()
        assert (hand.sum() + obj.sum()) / geometry > 0.08


def test_hand_and_object_are_visible_in_the_default_framing():
    seq = generate_sequence(parse(GeneratorConfig, {"num_frames": 30, "fps": 5.0, "num_workers": 1}, "generate"), 5)
    hand = _frames_of(seq, "hand")
    obj = _object_pixels(seq).sum(axis=(1, 2))
    assert (hand >= 200).mean() >= 0.9 and (obj >= 60).mean() >= 0.8
    valid = seq.depth[seq.labels > 0]
    assert 0.25 < np.median(valid[valid > 0]) < 1.2


def test_random_dropout_rate_is_drawn_from_the_configured_range_and_applied():
    config = small(num_sequences=3, sensor={"dropout": [0.05, 0.15], "edge_dropout": 0.0, "max_depth": 5.0})
    for index in range(3):
        seq = generate_sequence(config, index)
        rate = seq.meta["dropout_rate"]
        assert 0.05 <= rate <= 0.15
        table = seq.labels == 1
        interior = table.copy()  # table pixels whose 4-neighbours are table too: no discontinuity there
        interior[:, 1:-1, 1:-1] &= table[:, :-2, 1:-1] & table[:, 2:, 1:-1] & table[:, 1:-1, :-2] & table[:, 1:-1, 2:]
        interior[:, [0, -1]] = False
        interior[:, :, [0, -1]] = False
        holes = (seq.depth[interior] == 0).mean()
        count = interior.sum()
        assert abs(holes - rate) < 4 * np.sqrt(rate * (1 - rate) / count) + 1e-3


def test_default_holes_stay_sensor_like(pair):
    config = small()
    lo, hi = config.sensor.dropout
    for seq in pair.values():
        hit = seq.labels > 0
        holes = (seq.depth[hit] == 0).mean()
        # random dropout + discontinuities + range: at least the random rate, not a sieve
        assert lo <= holes <= hi + 0.25
        assert (seq.depth[~hit] == 0).all()  # nothing hit: no depth


def _backproject(seq: RawSequence, t: int, mask: np.ndarray) -> np.ndarray:
    v, u = np.nonzero(mask)
    z = seq.depth[t, v, u].astype(np.float64)
    k = seq.intrinsics
    return np.stack([(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z], axis=1)


def test_table_pixels_lie_on_the_table_plane():
    quiet = generate_sequence(small(sensor=QUIET), 0)
    noisy = generate_sequence(small(sensor={"depth_noise": [0.001, 0.003], "dropout": [0.0, 0.0]}), 0)
    residual_quiet, residual_noisy, expected = [], [], []
    for t in range(quiet.num_frames):
        plane = np.asarray(quiet.meta["table_planes"][t])
        mask = (quiet.labels[t] == 1) & (quiet.depth[t] > 0)
        points = _backproject(quiet, t, mask)
        residual_quiet.append(points @ plane[:3] + plane[3])
        mask_n = (noisy.labels[t] == 1) & (noisy.depth[t] > 0)
        points_n = _backproject(noisy, t, mask_n)
        residual_noisy.append(points_n @ plane[:3] + plane[3])
        # depth noise is along the ray; its component along the plane normal shrinks by |n · ray|/|ray|
        z = points_n[:, 2]
        rays = points_n / z[:, None]
        along_normal = np.abs(rays @ plane[:3])
        expected.append((0.001 + 0.003 * z**2) * along_normal)
    residual_quiet, residual_noisy = np.concatenate(residual_quiet), np.concatenate(residual_noisy)
    assert len(residual_quiet) > 1000
    assert np.abs(residual_quiet).max() < 2e-5  # exact z-depth of the plane (float32 rounding only)
    expected_std = np.sqrt(np.mean(np.concatenate(expected) ** 2))
    assert np.std(residual_noisy) == pytest.approx(expected_std, rel=0.1)
    assert np.abs(np.mean(residual_noisy)) < 0.2 * expected_std


def test_shape_twins_share_geometry_and_differ_in_colour():
    config = small(num_sequences=1, categories=twin_categories())
    mug, jar, can = (generate_sequence(config, 0, category=name) for name in ("mug", "jar", "can"))
    assert config.categories["mug"]["shape"] == config.categories["jar"]["shape"] == "cylinder"
    # identical geometry: same masks (same area in every frame) and same depth
    for twin in (jar, can):
        np.testing.assert_array_equal(_object_pixels(twin), _object_pixels(mug))
        np.testing.assert_array_equal(twin.depth, mug.depth)
    mask = _object_pixels(mug)
    assert mask.sum() > 200
    mug_rgb, jar_rgb, can_rgb = (s.color[mask].astype(float) for s in (mug, jar, can))
    # mug: red; can: blue; jar: red with white stripes (many bright pixels)
    assert mug_rgb[:, 0].mean() > 2 * mug_rgb[:, 2].mean() and can_rgb[:, 2].mean() > 2 * can_rgb[:, 0].mean()
    bright = lambda rgb: (rgb.min(axis=1) > 0.6 * rgb.max(axis=1)).mean()  # noqa: E731 - grey/white pixels
    assert bright(jar_rgb) > 0.2 and bright(mug_rgb) < 0.05


def test_appearance_twins_share_colour_and_differ_in_shape():
    config = small(num_sequences=1, sensor=QUIET, categories=twin_categories())
    can, box = (generate_sequence(config, 0, category=name) for name in ("can", "box"))
    assert config.categories["can"]["color"] == config.categories["box"]["color"]
    can_mask, box_mask = _object_pixels(can), _object_pixels(box)
    assert not np.array_equal(can_mask, box_mask)
    can_rgb, box_rgb = can.color[can_mask].astype(float), box.color[box_mask].astype(float)
    chroma = lambda rgb: rgb.mean(axis=0) / rgb.mean()  # noqa: E731 - colour independent of brightness
    np.testing.assert_allclose(chroma(can_rgb), chroma(box_rgb), atol=0.15)


def test_categories_are_balanced_over_consecutive_indices():
    config = GeneratorConfig()
    count = len(config.categories)
    for block in range(3):
        names = [sequence_category(config, block * count + i) for i in range(count)]
        assert sorted(names) == sorted(config.categories)
    orders = {tuple(sequence_category(GeneratorConfig(seed=s), i) for i in range(count)) for s in range(4)}
    assert len(orders) > 1  # the order depends on the seed


def test_unknown_category_and_bad_index_are_rejected():
    with pytest.raises(ValueError, match="category 'plate' is not one of generate.categories"):
        generate_sequence(small(), 0, category="plate")
    with pytest.raises(ValueError, match="index must be an integer >= 0"):
        generate_sequence(small(), -1)


def test_round_trip_through_the_hoi4d_raw_layout(pair, tmp_path):
    from crossvideo_kedro.datasets import HOI4DRawDataset  # noqa: PLC0415 - the reader ingest uses

    dataset = HOI4DRawDataset(path=str(tmp_path / "generated"), source="generated")
    dataset.save(pair)
    loaders = dataset.load()
    assert list(loaders) == list(pair)
    for name, original in pair.items():
        loaded = loaders[name]()
        np.testing.assert_array_equal(loaded.labels, original.labels)
        np.testing.assert_allclose(loaded.depth, original.depth, atol=0.0005 + 1e-6)  # millimetre PNGs
        assert [e.name for e in loaded.events] == [e.name for e in original.events]
        np.testing.assert_allclose([(e.start, e.end) for e in loaded.events],
                                   [(e.start, e.end) for e in original.events], atol=1e-9)
        assert loaded.action_classes == original.action_classes
        assert loaded.semantic_classes == original.semantic_classes
        assert loaded.meta["category"] == original.meta["category"]
        assert np.abs(loaded.color.astype(int) - original.color).mean() < 4  # JPEG q95


GENERATOR_KILL_SCRIPT = """
import json, time
from multiprocessing import resource_tracker
from crossvideo_kedro.configs import GeneratorConfig, parse
from crossvideo_kedro.synth.generator import stream_sequences
config = parse(GeneratorConfig, {"num_sequences": 40, "num_frames": 40, "width": 64, "height": 48,
                                 "num_workers": 2}, "generate")
loaders = stream_sequences(config)
loaders["seq_0000"]()  # the pool now renders the next ones
stream = loaders["seq_0000"].func.__self__
print(json.dumps({"workers": list(stream._executor._processes), "tracker": resource_tracker._resource_tracker._pid}),
      flush=True)
time.sleep(120)
"""


def test_render_workers_exit_when_the_run_is_killed():
    from tests.test_workers import kill_and_watch  # noqa: PLC0415

    children, survivors = kill_and_watch(GENERATOR_KILL_SCRIPT)
    assert len(children) == 3 and survivors == []
