"""Errors a user causes end `kedro run` with a short ``Error:`` block; the traceback goes to a file."""

from __future__ import annotations

import pytest
from kedro.io import DatasetError

from crossvideo_kedro.framework.errors import TRACEBACK_FILE, UserError, find_user_error, user_errors
from crossvideo_kedro.sequences import DataError
from crossvideo_kedro.training.checkpointing import CheckpointError


def _wrapped(error: Exception) -> DatasetError:
    try:
        try:
            raise error
        except Exception as inner:
            raise DatasetError("Failed while loading data from dataset raw_sequences") from inner
    except DatasetError as outer:
        return outer


def test_a_user_error_is_found_inside_kedros_wrappers():
    data = DataError("data/01_raw/x/seq_0/depth/000003.png: expected 16-bit depth")
    assert find_user_error(_wrapped(data)) is data
    assert find_user_error(_wrapped(RuntimeError("a bug"))) is None


@pytest.mark.parametrize("error", [DataError("a.png: frame 3: bad"), CheckpointError("last.pt: other config")])
def test_user_errors_become_one_message_and_the_traceback_a_file(tmp_path, monkeypatch, error):
    monkeypatch.delenv("CROSSVIDEO_VERBOSE", raising=False)
    with pytest.raises(UserError) as caught, user_errors(tmp_path):
        raise _wrapped(error)
    assert caught.value.message == f"{type(error).__name__}: {error}"
    assert caught.value.traceback_file == tmp_path / TRACEBACK_FILE
    assert "Traceback" in (tmp_path / TRACEBACK_FILE).read_text()
    assert str(error) in (tmp_path / TRACEBACK_FILE).read_text()


def test_verbose_and_other_errors_keep_their_traceback(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError), user_errors(tmp_path):
        raise RuntimeError("a bug")
    monkeypatch.setenv("CROSSVIDEO_VERBOSE", "1")
    with pytest.raises(DatasetError), user_errors(tmp_path):
        raise _wrapped(DataError("a.png: bad"))
    assert not (tmp_path / TRACEBACK_FILE).exists()
