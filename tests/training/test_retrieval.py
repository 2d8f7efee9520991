import numpy as np

import pytest

from crossvideo_kedro.training.retrieval import pixel_retrieval, retrieval_topk


def test_perfect_shuffled_and_grouped_retrieval():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8))
    perfect = retrieval_topk(x, x * 3.0)  # cosine similarity ignores scale
    assert perfect["top1"] == 100.0 and perfect["top5"] == 100.0 and perfect["chance_top1"] == 5.0
    shifted = retrieval_topk(x, np.roll(x, 1, axis=0))  # every query's best key is its neighbour's
    assert shifted["top1"] == 0.0
    groups = np.repeat(np.arange(10), 2)  # clips 2k and 2k+1 share a sequence
    swapped = x.reshape(10, 2, 8)[:, ::-1].reshape(20, 8)  # best key = the other clip of the same sequence
    result = retrieval_topk(x, swapped, groups=groups)
    assert result["top1"] == 0.0 and result["top1_same_sequence"] == 100.0
    assert result["chance_top1_same_sequence"] == 10.0  # 2 of 20 keys share a query's sequence


def test_pixel_retrieval_counts_a_hit_within_the_radius_and_reports_chance():
    """Tokens equal to their own cell's feature are found (100 %); a token whose best cell is two cells off is a miss
    at radius 1 and a hit at radius 2; invalid tokens are not counted; chance = share of cells within the radius."""
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 16, 4, 5))  # (F, E, h, w)
    uv = np.array([[[1.0, 2.0], [4.0, 0.0]], [[0.0, 0.0], [2.0, 3.0]], [[3.0, 1.0], [1.0, 1.0]]])  # (F, L, 2)
    tokens = np.stack([[maps[f, :, int(v), int(u)] for u, v in uv[f]] for f in range(3)])  # (F, L, E)
    valid = np.ones((3, 2), bool)
    exact = pixel_retrieval(tokens, maps, uv, valid, radius=0.0)
    assert exact["top1"] == 100.0 and exact["num_tokens"] == 6
    assert exact["chance_top1"] == pytest.approx(100 / 20)
    off = uv.copy()
    off[0, 0] = [3.0, 2.0]  # token (0, 0) really sits two cells right of its best cell
    assert pixel_retrieval(tokens, maps, off, valid, radius=1.0)["top1"] == pytest.approx(500 / 6)
    assert pixel_retrieval(tokens, maps, off, valid, radius=2.0)["top1"] == 100.0
    valid[0, 0] = False
    without = pixel_retrieval(tokens, maps, off, valid, radius=1.0)
    assert without["top1"] == 100.0 and without["num_tokens"] == 5
