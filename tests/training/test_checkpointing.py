"""Checkpoints that recover: fallback past any one damaged file, clear errors, reuse notice, no litter."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
import torch

import crossvideo_kedro
from crossvideo_kedro.configs import PretrainConfig, parse
from crossvideo_kedro.training import checkpointing
from crossvideo_kedro.training.checkpointing import CheckpointError, Checkpointer, fingerprint


def _save_steps(directory, steps=(4, 8), total=8, keep=2) -> Checkpointer:
    checkpointer = Checkpointer(directory, "run", every_steps=4, keep=keep)
    for step in steps:
        assert checkpointer.due(step, total)
        checkpointer.save({"model": {"w": torch.full((3,), float(step))}, "history": [step]}, step)
    return checkpointer


def test_truncated_last_falls_back_to_the_newest_intact_step_file(tmp_path, caplog):
    checkpointer = _save_steps(tmp_path)
    checkpointer.last.write_bytes(checkpointer.step_path(8).read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        state = Checkpointer(tmp_path, "run", 4, 2).load()
    assert state["step"] == 8 and torch.equal(state["model"]["w"], torch.full((3,), 8.0))
    assert "falling back to" in caplog.text and "step_0000008.pt" in caplog.text and "last.pt" in caplog.text


def test_a_corrupt_newest_step_falls_back_to_the_one_before(tmp_path, caplog):
    checkpointer = _save_steps(tmp_path)
    for path in (checkpointer.step_path(8), checkpointer.last):  # a disk that lost both copies of the newest
        with open(path, "r+b") as handle:
            handle.truncate(50)
    with caplog.at_level(logging.WARNING):
        state = Checkpointer(tmp_path, "run", 4, 2).load()
    assert state["step"] == 4 and state["history"] == [4]
    assert "falling back to" in caplog.text and "step_0000004.pt" in caplog.text


def test_a_foreign_dict_gives_a_clear_error_not_a_key_error(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    torch.save({"weights": torch.zeros(2)}, folder / "last.pt")
    with pytest.raises(CheckpointError, match=r"last.pt: not a training checkpoint of this project .*torch_rng.*"
                                              r"checkpoint.resume: false"):
        Checkpointer(tmp_path, "run", 4, 2).load()


def test_a_finished_run_says_it_reuses_the_result_and_how_to_retrain(tmp_path, caplog):
    _save_steps(tmp_path)
    with caplog.at_level(logging.INFO):
        state = Checkpointer(tmp_path, "run", 4, 2).load()
    assert state["step"] == 8
    assert "already finished (step 8 of 8" in caplog.text and "checkpoint.resume: false" in caplog.text


def test_a_resumed_unfinished_run_says_resuming(tmp_path, caplog):
    _save_steps(tmp_path, steps=(4,), total=12)
    with caplog.at_level(logging.INFO):
        assert Checkpointer(tmp_path, "run", 4, 2).load()["step"] == 4
    assert "resuming from" in caplog.text and "already finished" not in caplog.text


def test_last_is_its_own_file_and_keep_bounds_the_files(tmp_path):
    checkpointer = _save_steps(tmp_path, steps=(4, 8, 12), total=12, keep=2)
    assert sorted(p.name for p in checkpointer.folder.iterdir()) == ["last.pt", "step_0000008.pt", "step_0000012.pt"]
    assert not os.path.samefile(checkpointer.last, checkpointer.step_path(12))
    assert checkpointer.last.read_bytes() == checkpointer.step_path(12).read_bytes()


@pytest.mark.parametrize("keep", [1, 2])
def test_any_one_damaged_file_falls_back_to_an_intact_one(tmp_path, keep):
    names = sorted(p.name for p in _save_steps(tmp_path / "probe", keep=keep).folder.iterdir())
    assert names == ["last.pt", "step_0000008.pt"] if keep == 1 else ["last.pt", "step_0000004.pt", "step_0000008.pt"]
    for name in names:
        folder = tmp_path / name
        checkpointer = _save_steps(folder, keep=keep)
        with open(checkpointer.folder / name, "r+b") as handle:
            handle.truncate(50)
        state = Checkpointer(folder, "run", 4, keep).load()
        assert state["step"] == 8 and torch.equal(state["model"]["w"], torch.full((3,), 8.0)), name


def test_an_older_layout_linked_last_becomes_its_own_file(tmp_path):
    checkpointer = _save_steps(tmp_path)
    checkpointer.last.unlink()
    os.link(checkpointer.step_path(8), checkpointer.last)  # one file under two names: one cut loses both
    Checkpointer(tmp_path, "run", 4, 2).load()
    assert not os.path.samefile(checkpointer.last, checkpointer.step_path(8))
    with open(checkpointer.step_path(8), "r+b") as handle:
        handle.truncate(50)
    assert Checkpointer(tmp_path, "run", 4, 2).load()["step"] == 8


def test_staging_litter_of_killed_runs_is_removed_and_a_live_one_kept(tmp_path):
    checkpointer = _save_steps(tmp_path)
    old = checkpointer.folder / ".step_0000012.pt.tmp-dead"
    old.write_bytes(b"half a checkpoint")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = Checkpointer(tmp_path, "run", 4, 2)
    live = checkpointer.folder / ".step_0000012.pt.tmp-live"  # written after this run started: not ours to delete
    live.write_bytes(b"being written")
    os.utime(live, (time.time() + 5, time.time() + 5))
    fresh.load()
    assert not old.exists() and live.exists()


@pytest.mark.parametrize(("every", "keep", "message"), [
    (0, 2, "pretrain.checkpoint.every_steps must be an integer >= 1, got 0"),
    (2.5, 2, "pretrain.checkpoint.every_steps must be an integer, got 2.5"),
    (4, -5, "pretrain.checkpoint.keep must be an integer >= 1, got -5"),
    (4, True, "pretrain.checkpoint.keep must be an integer, got True"),
])
def test_bad_checkpoint_settings_are_refused(every, keep, message):
    """The Checkpointer's settings arrive from a parsed ``pretrain.checkpoint``: the block refuses bad ones."""
    with pytest.raises(ValueError) as error:
        parse(PretrainConfig, {"checkpoint": {"every_steps": every, "keep": keep}}, "pretrain")
    assert message in str(error.value)


def test_the_fingerprint_changes_with_the_package_version(monkeypatch):
    before = fingerprint({"lr": 0.1})
    assert fingerprint({"lr": 0.1}) == before
    monkeypatch.setattr(crossvideo_kedro, "__version__", "999.0")
    checkpointing.code_identity.cache_clear()
    try:
        assert fingerprint({"lr": 0.1}) != before
    finally:
        monkeypatch.undo()
        checkpointing.code_identity.cache_clear()
    assert fingerprint({"lr": 0.1}) == before


def test_rerunning_a_finished_pretraining_reuses_it_and_says_so(tmp_path, caplog):
    """The same parameters twice: the second run trains nothing and logs how to retrain."""
    from crossvideo_kedro.training.pretrain import pretrain  # noqa: PLC0415
    from tests.training.pretrain_worker import tiny_augment, tiny_config, tiny_pool  # noqa: PLC0415

    config = tiny_config(steps=2, checkpoint={"dir": str(tmp_path), "every_steps": 1, "resume": True})
    first, _ = pretrain(tiny_pool(), tiny_augment(), config, seed=0)
    with caplog.at_level(logging.INFO, logger="crossvideo_kedro.training.checkpointing"):
        second, history = pretrain(tiny_pool(), tiny_augment(), config, seed=0)
    assert "already finished (step 2 of 2" in caplog.text and "pretrain.checkpoint.resume=false" in caplog.text
    assert len(history) == 2  # the finished run's history, no new steps
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_0000001.pt", "step_0000002.pt"]


def test_tiny_runs_leave_no_checkpoint_folder_behind(tmp_path: Path) -> None:
    """The tiny test configuration's checkpoint folders go when the process ends (they once piled up in /tmp)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = ("from tests.training.pretrain_worker import tiny_config\n"
            "print(tiny_config().checkpoint.dir)\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "TMPDIR": str(tmp_path)},
                         capture_output=True, text=True, check=True)
    made = Path(out.stdout.strip().splitlines()[-1])
    assert made.is_relative_to(tmp_path)
    assert not made.exists() and list(tmp_path.iterdir()) == []
