"""Generated data has its own catalog entries; real sources are read-only and never generated into."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.project import configure_project

from crossvideo_kedro import raw_source
from crossvideo_kedro.pipeline_registry import register_pipelines
from crossvideo_kedro.pipelines.generate.nodes import generate_raw_sequences, generate_unlabelled_sequences

PROJECT_ROOT = Path(__file__).parents[2]
SMALL = {"num_sequences": 2, "num_frames": 6, "width": 32, "height": 24, "num_workers": 1,
         "unlabelled": {"num_sequences": 3, "seed": 0, "fps": 7.5}}


def _catalog(env: str) -> dict:
    loader = OmegaConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env)
    return dict(loader["catalog"])


@pytest.mark.parametrize(
    ("env", "wiring"),
    [
        ("local", {"raw_sequences": "generated_sequences", "unlabelled_sequences": "generated_unlabelled_sequences"}),
        ("quick", {"raw_sequences": "generated_sequences", "unlabelled_sequences": "generated_unlabelled_sequences"}),
        ("seven_scenes", {}), ("realsense_d435", {}), ("hoi4d", {}), ("depth_actions", {}),
    ],
)
def test_ingest_reads_generated_data_only_where_the_env_says_so(env: str, wiring: dict) -> None:
    assert raw_source.ingest_wiring(_catalog(env)) == wiring


@pytest.mark.parametrize("env", ["local", "seven_scenes", "hoi4d"])
def test_default_pipeline_never_generates_for_a_real_source(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = _catalog(env)
    monkeypatch.setitem(raw_source._ACTIVE, "catalog", catalog)
    configure_project("crossvideo_kedro")
    pipelines = register_pipelines()
    default = pipelines["__default__"]
    generate_nodes = {n.name for n in default.nodes if n.name.startswith("generate_")}
    ingest_inputs = pipelines["ingest"].inputs()
    if env == "local":
        assert generate_nodes == {"generate_raw_sequences", "generate_unlabelled_sequences"}
        assert {"generated_sequences", "generated_unlabelled_sequences"} <= ingest_inputs
        assert "raw_sequences" not in ingest_inputs  # wired to generate's output: generate runs first
        order = [n.name for n in default.nodes]
        assert order.index("generate_raw_sequences") < order.index("ingest_sequences")
    else:
        assert generate_nodes == set()
        assert {"raw_sequences", "unlabelled_sequences"} <= ingest_inputs
        assert not any(name.startswith("generated_") for name in default.all_outputs())
    for name in default.all_outputs():  # nothing in the default run writes the source ingest reads
        assert name not in ("raw_sequences", "unlabelled_sequences")
    if env != "local":
        assert catalog["raw_sequences"]["type"].endswith("RGBDFolderDataset") or catalog["raw_sequences"]["read_only"]


def _loaded(loaders: dict) -> dict:
    assert all(callable(load) for load in loaders.values())  # rendered on demand (lazy saving), not held
    return {name: load() for name, load in loaders.items()}


def test_the_pool_is_unlabelled_half_rate_and_never_a_labelled_sequence() -> None:
    labelled = _loaded(generate_raw_sequences(SMALL))
    pool = _loaded(generate_unlabelled_sequences(SMALL))  # even with the labelled seed (0): its streams are its own
    assert list(pool) == ["pool_0000", "pool_0001", "pool_0002"] and list(labelled) == ["seq_0000", "seq_0001"]
    for seq in pool.values():
        assert seq.name.startswith("pool_") and seq.labels is None and seq.events == []
        assert seq.fps == 7.5 and seq.num_frames == 3  # 6 frames at 15 fps = 0.4 s = 3 frames at 7.5 fps
    for seq in labelled.values():
        assert seq.fps == 15.0 and seq.num_frames == 6 and seq.labels is not None
    first_frames = [s.depth[0] for s in labelled.values()]
    assert not any(np.array_equal(p.depth[0], f) for p in pool.values() for f in first_frames)
    again = generate_unlabelled_sequences(SMALL)["pool_0001"]()
    np.testing.assert_array_equal(again.color, pool["pool_0001"].color)  # seeded
    other = generate_unlabelled_sequences({**SMALL, "unlabelled": {**SMALL["unlabelled"], "seed": 5}})["pool_0001"]()
    assert not np.array_equal(other.color, pool["pool_0001"].color)
    assert generate_unlabelled_sequences({**SMALL, "unlabelled": {"num_sequences": 0}}) == {}


def test_bad_pool_parameters_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"generate\.unlabelled\.num_sequences"):
        generate_unlabelled_sequences({**SMALL, "unlabelled": {"num_sequences": -1}})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['generate\.unlabelled\.size'\]"):
        generate_unlabelled_sequences({**SMALL, "unlabelled": {"size": 3}})


def test_without_the_hook_the_running_commands_env_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    import click  # noqa: PLC0415

    monkeypatch.delitem(raw_source._ACTIVE, "catalog", raising=False)
    monkeypatch.chdir(PROJECT_ROOT)
    seen = []

    @click.command()
    @click.option("--env")
    def run(env: str | None) -> None:
        seen.append(raw_source.ingest_wiring())

    run(["--env", "seven_scenes"], standalone_mode=False)
    run([], standalone_mode=False)
    assert seen == [{}, {"raw_sequences": "generated_sequences",
                         "unlabelled_sequences": "generated_unlabelled_sequences"}]
