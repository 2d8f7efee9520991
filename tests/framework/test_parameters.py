"""``--params`` keys are checked against the configured blocks before the first node; list values say their form."""

from __future__ import annotations

import pytest

from crossvideo_kedro.framework.parameters import unknown_blocks, validate_parameters
from tests.test_reliability import kedro, make_project, one_line_error


def test_an_unknown_block_is_named_with_the_nearest_known_one():
    known = ["augment", "evaluate", "generate", "ingest", "predict", "pretrain"]
    assert unknown_blocks({"ingets.num_points": 8}, known) == [
        "--params ingets.num_points: no parameter block 'ingets' (did you mean 'ingest'?)"]
    assert unknown_blocks({"ingets": {"num_points": 8}}, known) == unknown_blocks({"ingets.num_points": 8}, known)
    assert unknown_blocks({"zzz.a": 1}, known) == [f"--params zzz.a: no parameter block 'zzz' (parameter blocks are "
                                                   f"{known})"]
    assert unknown_blocks({"ingest.num_points": 8, "pretrain.seeds": [0]}, known) == []


def test_a_scalar_for_a_list_says_what_was_given_and_the_list_form():
    assert validate_parameters({"pretrain": {"seeds": 0}}) == [
        "pretrain.seeds must be a list of integers, got 0: a single value is written as a list, e.g. "
        "pretrain.seeds=[0]"]
    assert validate_parameters({"pretrain": {"seeds": [0, "a"]}}) == ["pretrain.seeds[1] must be an integer, got 'a'"]


@pytest.mark.slow
def test_a_misspelt_block_on_the_command_line_is_refused_before_any_node(tmp_path):
    project = make_project(tmp_path)
    result = kedro(project, "--env", "tiny", "--pipelines", "generate", "--params", "ingets.num_points=8",
                   check=False)
    assert result.returncode != 0
    line = one_line_error(result.stdout + result.stderr)
    assert "--params ingets.num_points: no parameter block 'ingets' (did you mean 'ingest'?)" in line, line
    assert not (project / "data" / "01_raw" / "generated").exists()  # no node ran
