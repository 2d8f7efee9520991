import numpy as np
import pytest

from crossvideo_kedro.configs import IngestConfig, parse
from crossvideo_kedro.preprocess import (
    assign_splits,
    frame_labels_from_events,
    frame_selection,
    ingest_point_sequence,
    ingest_raw_sequence,
    resize_frames,
    sequence_radius,
)
from crossvideo_kedro.geometry import project_points
from crossvideo_kedro.sequences import DataError, Event, LazyRawSequence, PointSequence, RawSequence
from crossvideo_kedro.synth import GeneratorConfig
from crossvideo_kedro.synth.generator import generate_sequence
from tests.conftest import plane_sequence


def config(**overrides) -> IngestConfig:
    return parse(IngestConfig, {"num_points": 20, "image_size": [8, 8], "split": {"train": 1.0}, **overrides}, "ingest")


def test_ingest_raw_sequence_meets_the_contract(plane):
    points, images = ingest_raw_sequence(plane, config())
    assert points["points"].shape == (6, 20, 3) and points["points"].dtype == np.float32
    assert points["colors"].shape == (6, 20, 3) and points["colors"].dtype == np.uint8
    assert points["point_labels"].dtype == np.int16 and points["frame_labels"].dtype == np.int16
    np.testing.assert_allclose(points["points"][..., 2], 1.0)  # the plane is at z = 1 m
    # labels follow geometry: the left half (x < 0) is label 1, the right half label 2
    x, labels = points["points"][..., 0], points["point_labels"]
    assert set(np.unique(labels)) == {1, 2}
    assert (x[labels == 1] < 0).all() and (x[labels == 2] > 0).all()
    # colour follows the pixel: red encodes the column u = fx * x / z + cx
    u = np.round(points["points"][..., 0] * 20 + 7.5).astype(int)
    np.testing.assert_array_equal(points["colors"][..., 0], u * 10)
    # 6 frames at 10 fps: reach on [0, 0.3) s, grasp on [0.3, 0.6) s
    assert points["frame_labels"].tolist() == [1, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(points["timestamps"], np.arange(6) / 10, atol=1e-6)
    assert images["frames"].shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(images["timestamps"], points["timestamps"])


def test_ingest_is_deterministic_and_seeded(plane):
    a, _ = ingest_raw_sequence(plane, config(sampling="random"))
    b, _ = ingest_raw_sequence(plane, config(sampling="random"))
    c, _ = ingest_raw_sequence(plane, config(sampling="random", seed=1))
    np.testing.assert_array_equal(a["points"], b["points"])
    assert not np.array_equal(a["points"], c["points"])


def test_temporal_stride_and_target_fps():
    seq = plane_sequence(frames=10, fps=30.0)
    points, _ = ingest_raw_sequence(seq, config(frame_step=3))
    assert points["frame_indices"].tolist() == [0, 3, 6, 9]
    points, _ = ingest_raw_sequence(seq, config(target_fps=15.0, max_frames=3))
    assert points["frame_indices"].tolist() == [0, 2, 4]
    np.testing.assert_allclose(points["timestamps"], [0, 2 / 30, 4 / 30], atol=1e-6)
    assert frame_selection(10, 30.0, config(target_fps=15.0)) [1] == 15.0


def test_depth_only_source_gives_points_without_images():
    points, images = ingest_raw_sequence(plane_sequence(with_color=False), config())
    assert images is None
    assert points["points"].shape == (6, 20, 3) and not points["colors"].any()


def test_out_of_range_depth_is_removed():
    seq = plane_sequence()
    seq.depth[:, :, :4] = 5.0  # beyond max_depth
    seq.depth[:, :, 4:6] = 0.0  # holes
    points, _ = ingest_raw_sequence(seq, config(max_depth=2.0))
    np.testing.assert_allclose(points["points"][..., 2], 1.0)


def test_frame_with_no_valid_depth_names_the_file():
    seq = plane_sequence()
    seq.depth[4] = 0.0
    with pytest.raises(DataError, match=r"seq_a: seq_a/align_depth/00004.png \(frame 4\) has no valid depth"):
        ingest_raw_sequence(seq, config())


def test_modality_length_mismatch_is_reported():
    seq = plane_sequence()
    seq.color = seq.color[:5]
    with pytest.raises(DataError, match=r"colour video \(5, 12, 16, 3\) does not match depth video \(6, 12, 16\)"):
        ingest_raw_sequence(seq, config())


def test_event_errors():
    times = np.arange(4) / 2.0
    with pytest.raises(DataError, match="'wave' is not in the action class list"):
        frame_labels_from_events(times, [Event("wave", 0, 1)], ["rest"], "s1")
    with pytest.raises(DataError, match="no action class list"):
        frame_labels_from_events(times, [Event("rest", 0, 1)], None, "s1")
    seq = plane_sequence()
    seq.events = [Event("reach", 0.0, 9.0)]
    with pytest.raises(DataError, match=r"event 0 'reach' \[0.0, 9.0\) s lies outside the video \[0, 0.600\]"):
        ingest_raw_sequence(seq, config())


def test_frames_outside_every_event_are_unknown():
    labels = frame_labels_from_events(np.array([0.0, 0.5, 1.0, 1.5]), [Event("b", 0.5, 1.0)], ["a", "b"], "s")
    assert labels.tolist() == [-1, 1, -1, -1]


def test_point_sequence_is_resampled_to_n_points():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(5, 64, 3)).astype(np.float32)
    pts[2, :10] = np.nan
    seq = PointSequence("h5_00000", pts, fps=15.0, point_labels=np.arange(64, dtype=np.int16)[None].repeat(5, 0),
                        frame_labels=np.arange(5, dtype=np.int16))
    out = ingest_point_sequence(seq, config(num_points=16))
    assert out["points"].shape == (5, 16, 3) and np.isfinite(out["points"]).all()
    assert (out["point_labels"][2] >= 10).all()  # the NaN points were never picked
    # each picked point keeps its own label: label == index of the source point
    np.testing.assert_array_equal(out["points"], pts[np.arange(5)[:, None], out["point_labels"]])
    assert out["frame_labels"].tolist() == [0, 1, 2, 3, 4]


def test_resize_frames_keeps_constant_colour():
    video = np.full((2, 30, 40, 3), 77, dtype=np.uint8)
    out = resize_frames(video, (12, 16))
    assert out.shape == (2, 12, 16, 3) and (out == 77).all()


def test_splits_are_seeded_proportional_and_order_free():
    names = [f"s{i:02d}" for i in range(20)]
    a = assign_splits(names, {"train": 0.6, "val": 0.1, "test": 0.3}, seed=0)
    b = assign_splits(list(reversed(names)), {"train": 0.6, "val": 0.1, "test": 0.3}, seed=0)
    c = assign_splits(names, {"train": 0.6, "val": 0.1, "test": 0.3}, seed=1)
    assert a == b and a != c
    assert sorted(a.values()).count("train") == 12 and list(a.values()).count("val") == 2
    assert assign_splits(["only"], {"train": 0.6, "val": 0.1, "test": 0.3}, 0) == {"only": "train"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"num_points": 0}, r"ingest.num_points must be .*0"),
        ({"num_points": -5}, r"ingest.num_points must be"),
        ({"sampling": "grid"}, r"ingest.sampling must be one of \('fps', 'random'\), got 'grid'"),
        ({"max_depth": 0.05}, r"ingest.max_depth must be > min_depth"),
        ({"frame_step": 0}, r"ingest.frame_step must be"),
        ({"min_points": 0}, r"ingest.min_points must be"),
        ({"on_error": "ignore"}, r"ingest.on_error must be"),
        ({"sparse_frames": "pad"}, r"ingest.sparse_frames must be"),
        ({"split": "fixed"}, r"ingest.split must be"),
        ({"split": {"train": 0.5, "holdout": 0.5}}, r"ingest.split must be a mapping of train/val/test"),
        ({"num_poitns": 5}, r"unknown parameter\(s\) \['ingest.num_poitns'\]"),
        ({"plane_share": 1.5}, r"ingest.plane_share must be a fraction in \[0, 1\] or null, got 1.5"),
        ({"plane_threshold": 0}, r"ingest.plane_threshold must be > 0"),
        ({"plane_iterations": 0}, r"ingest.plane_iterations must be an integer >= 1"),
    ],
)
def test_bad_parameters_name_the_key(override, message):
    with pytest.raises(ValueError, match=message):
        config(**override)


# ------------------------------------------------------------------------------------------------ image intrinsics
def _sample_stored_frame(frames: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear value of ``frames`` (T, h, w, 3) at pixel coordinates ``uv`` (T, N, 2), pixel centres at integers."""
    t = np.arange(frames.shape[0])[:, None]
    u = np.clip(uv[..., 0], 0, frames.shape[2] - 1.001)
    v = np.clip(uv[..., 1], 0, frames.shape[1] - 1.001)
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    du, dv = (u - u0)[..., None], (v - v0)[..., None]
    f = frames.astype(np.float64)
    return ((1 - du) * (1 - dv) * f[t, v0, u0] + du * (1 - dv) * f[t, v0, u0 + 1]
            + (1 - du) * dv * f[t, v0 + 1, u0] + du * dv * f[t, v0 + 1, u0 + 1])


def test_image_video_intrinsics_project_points_onto_their_pixel():
    """A colour gradient encodes the pixel: each point's colour must be the stored frame's at its projection."""
    seq = plane_sequence(frames=3, height=48, width=64)
    v, u = np.mgrid[0:48, 0:64]
    seq.color[..., 0] = (u * 4).astype(np.uint8)  # red = 4 u, green = 5 v: linear, so resizing keeps it exact
    seq.color[..., 1] = (v * 5).astype(np.uint8)
    seq.depth[:] = np.random.default_rng(0).uniform(0.5, 1.5, seq.depth.shape)  # not a plane: z matters
    seq.intrinsics = np.array([[50.0, 0, 30.0], [0, 45.0, 22.0], [0, 0, 1]])
    points, images = ingest_raw_sequence(seq, config(image_size=[24, 16], num_points=64, sampling="random"))
    k = images["intrinsics"]
    assert k.dtype == np.float32 and k.shape == (3, 3)
    uv = project_points(points["points"], k)  # (T, N, 2) in the 16x24 stored frames
    inside = (uv[..., 0] > 1) & (uv[..., 0] < 14) & (uv[..., 1] > 1) & (uv[..., 1] < 22)  # away from the border
    stored = _sample_stored_frame(images["frames"], uv)[..., :2]
    np.testing.assert_allclose(stored[inside], points["colors"][..., :2][inside], atol=3.0)
    # and the wrong K (the camera's, unscaled) misses by far more
    wrong = _sample_stored_frame(images["frames"], project_points(points["points"], seq.intrinsics))[..., :2]
    assert np.abs(wrong[inside] - points["colors"][..., :2][inside]).mean() > 20


def test_generated_point_lands_on_its_colour_in_the_stored_frame():
    seq = generate_sequence(parse(GeneratorConfig, {"num_frames": 4, "num_workers": 1}, "generate"), 0)
    points, images = ingest_raw_sequence(seq, config(image_size=[60, 80], num_points=128, max_depth=1.5))
    uv = np.rint(project_points(points["points"], images["intrinsics"])).astype(int)
    assert (uv[..., 0] >= 0).all() and (uv[..., 0] < 80).all() and (uv[..., 1] >= 0).all() and (uv[..., 1] < 60).all()
    t = np.arange(4)[:, None]
    stored = images["frames"][t, uv[..., 1], uv[..., 0]].astype(float)
    error = np.abs(stored - points["colors"]).mean()
    shuffled = np.abs(stored - points["colors"][:, ::-1]).mean()
    assert error < 12 and shuffled > 2 * error  # a 2x downscale blurs edges, but each point finds its colour


def test_plane_share_moves_points_from_the_table_to_the_hand_and_object():
    """ingest.plane_share reaches the sampler: on a generated tabletop video the table (id 1) gives up its points."""
    seq = generate_sequence(parse(GeneratorConfig, {"num_frames": 4, "num_workers": 1}, "generate"), 0)
    plain, _ = ingest_raw_sequence(seq, config(num_points=128, max_depth=1.5))
    capped, _ = ingest_raw_sequence(seq, config(num_points=128, max_depth=1.5, plane_share=0.3))
    table_plain, table_capped = (plain["point_labels"] == 1).mean(), (capped["point_labels"] == 1).mean()
    assert table_plain > 0.6  # FPS spreads points over the area: the table takes most of them
    assert table_capped < 0.45  # at most 30 % on the plane, plus table points just off it (edges, noise)
    assert (capped["point_labels"] >= 2).mean() > 2 * (plain["point_labels"] >= 2).mean()


# ------------------------------------------------------------------------------------------------ sparse frames
def test_frame_with_too_few_valid_pixels_is_an_error_or_dropped():
    seq = plane_sequence()
    seq.depth[2] = 0.0
    seq.depth[2, 0, :3] = 1.0  # 3 valid pixels: used to be padded silently to N points (3 unique)
    with pytest.raises(DataError, match=r"00002.png \(frame 2\) has only 3 valid depth pixel\(s\).*min_points = 32"):
        ingest_raw_sequence(seq, config())
    points, images = ingest_raw_sequence(seq, config(sparse_frames="skip"))
    assert points["frame_indices"].tolist() == [0, 1, 3, 4, 5]
    np.testing.assert_allclose(points["timestamps"], [0.0, 0.1, 0.3, 0.4, 0.5], atol=1e-6)
    assert images["frames"].shape[0] == 5 and points["frame_labels"].tolist() == [1, 1, 2, 2, 2]
    points, _ = ingest_raw_sequence(seq, config(min_points=3))  # a lower bound lets it through
    assert len(np.unique(points["points"][2], axis=0)) == 3
    seq.depth[:] = 0.0
    with pytest.raises(DataError, match="every kept frame has fewer than ingest.min_points"):
        ingest_raw_sequence(seq, config(sparse_frames="skip"))


# ------------------------------------------------------------------------------------------------ streaming
def test_a_lazy_sequence_is_read_in_bounded_chunks_and_gives_the_same_numbers():
    seq = plane_sequence(frames=23)
    seq.depth[:] = np.random.default_rng(1).uniform(0.5, 1.5, seq.depth.shape)
    lazy = LazyRawSequence.from_sequence(seq)
    reads: list[list[int]] = []
    inner = lazy.read
    lazy.read = lambda frames: (reads.append(list(frames)), inner(frames))[1]
    streamed, streamed_images = ingest_raw_sequence(lazy, config(chunk_frames=5, frame_step=2))
    assert reads == [[0, 2, 4, 6, 8], [10, 12, 14, 16, 18], [20, 22]]  # only kept frames, 5 at a time
    whole, whole_images = ingest_raw_sequence(seq, config(chunk_frames=5, frame_step=2))
    for key in whole:
        np.testing.assert_array_equal(streamed[key], whole[key])
    np.testing.assert_array_equal(streamed_images["frames"], whole_images["frames"])
    assert isinstance(lazy.load(), RawSequence) and lazy.load().num_frames == 23


# ------------------------------------------------------------------------------------------------ normalise
def person_at(distance: float, height: float, frames: int = 4, points: int = 400, seed: int = 0) -> np.ndarray:
    """A person-like box (height x 0.5 x 0.3 m, y down) centred ``distance`` metres in front of the camera (T, P, 3)."""
    rng = np.random.default_rng(seed)
    box = rng.uniform(-0.5, 0.5, (frames, points, 3)) * np.array([0.5, height, 0.3])
    return (box + np.array([0.0, 0.0, distance])).astype(np.float32)


def test_sequence_radius_is_the_largest_distance_from_the_centroid():
    pts = np.zeros((2, 3, 3), dtype=np.float32)
    pts[0, 0] = [3.0, 0, 0]  # centroid (0.5, 0, 0): the farthest point is 2.5 away
    pts[1, 2] = [0.0, 0, 0]
    assert sequence_radius(pts) == pytest.approx(2.5)


def test_normalise_sequence_maps_a_person_at_3_m_to_unit_scale_whatever_their_height():
    for height in (1.5, 1.8):
        seq = PointSequence("p", person_at(3.0, height), fps=15.0)
        out = ingest_point_sequence(seq, config(num_points=64, normalise="sequence"))["points"]
        centred = out.reshape(-1, 3) - out.reshape(-1, 3).mean(axis=0)
        assert np.linalg.norm(centred, axis=1).max() == pytest.approx(1.0, abs=1e-5)
        extent = centred[:, 1].max() - centred[:, 1].min()  # the height fills most of the unit sphere's diameter
        assert 1.7 < extent <= 2.0
        raw = ingest_point_sequence(seq, config(num_points=64))["points"]  # none: metres, as before
        assert raw[..., 1].max() - raw[..., 1].min() == pytest.approx(height, abs=0.05)


def test_normalise_keeps_projections_and_the_default_keeps_metres():
    seq = plane_sequence(frames=3, height=48, width=64)
    seq.depth[:] = np.random.default_rng(0).uniform(0.5, 1.5, seq.depth.shape)
    metres, images = ingest_raw_sequence(seq, config(num_points=64, sampling="random"))
    unit, _ = ingest_raw_sequence(seq, config(num_points=64, sampling="random", normalise="sequence"))
    np.testing.assert_allclose(unit["points"] * sequence_radius(metres["points"]), metres["points"], rtol=1e-5)
    k = images["intrinsics"]
    np.testing.assert_allclose(project_points(unit["points"], k), project_points(metres["points"], k), atol=1e-3)


def test_normalise_rejects_a_sequence_without_extent_and_unknown_modes():
    seq = PointSequence("dot", np.ones((2, 8, 3), dtype=np.float32), fps=15.0)
    with pytest.raises(DataError, match="dot: every point of the sequence is at one place"):
        ingest_point_sequence(seq, config(num_points=4, normalise="sequence"))
    with pytest.raises(ValueError, match=r"ingest.normalise must be one of .*'none', 'sequence'.*, got 'clip'"):
        config(normalise="clip")
