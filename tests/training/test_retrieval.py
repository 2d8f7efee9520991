import numpy as np

from crossvideo_kedro.training.retrieval import retrieval_topk


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
