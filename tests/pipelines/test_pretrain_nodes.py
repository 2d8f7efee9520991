"""Nodes of the pretrain pipeline: what retrieval says when it cannot be measured."""

from __future__ import annotations

import logging

import pandas as pd

from crossvideo_kedro.pipelines.pretrain.nodes import evaluate_retrieval

ENCODERS = {"runs": [{"pretrain_seed": 0, "image_encoder": None}]}


def _index(splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"sequence": [f"s{i}" for i in range(len(splits))], "split": splits})


def test_retrieval_without_a_val_split_names_the_missing_split(caplog):
    with caplog.at_level(logging.WARNING):
        result = evaluate_retrieval(ENCODERS, {}, {"s0": {}, "s1": {}}, _index(["train", "test"]), {})
    assert result["defined"] is False
    assert "no sequence is in split 'val' (retrieval_splits)" in caplog.text
    assert "splits present: test, train" in caplog.text


def test_retrieval_with_val_sequences_but_no_images_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        evaluate_retrieval(ENCODERS, {}, {"s0": {}}, _index(["train", "val"]), {})
    assert "no held-out sequence (split 'val') has an image video" in caplog.text
