"""Cross-modal retrieval: the built-in sanity metric of pretraining."""

from __future__ import annotations

import numpy as np


def retrieval_topk(queries: np.ndarray, keys: np.ndarray, ks: tuple[int, ...] = (1, 5),
                   groups: np.ndarray | None = None) -> dict[str, float]:
    """Top-k accuracy (percent) of retrieving key i for query i by cosine similarity.

    With ``groups`` (the sequence of each clip) also ``top1_same_sequence``: the best key comes from the query's own
    sequence (neighbouring windows of one video look alike, so this is the coarser question), with its chance level.

    Shape:
        queries: (Q, D); keys: (Q, D), row i of each belongs to the same clip; groups: (Q,).
    """
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True).clip(1e-12)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True).clip(1e-12)
    sim = q @ k.T  # (Q, Q)
    rank = (sim > np.diag(sim)[:, None]).sum(axis=1)  # how many keys beat the true one
    result = {f"top{n}": float((rank < n).mean() * 100) for n in ks}
    result.update({f"chance_top{n}": float(min(n, len(q)) / len(q) * 100) for n in ks})
    result["num_clips"] = int(len(q))
    if groups is not None:
        groups = np.asarray(groups)
        result["top1_same_sequence"] = float((groups[sim.argmax(axis=1)] == groups).mean() * 100)
        result["chance_top1_same_sequence"] = float((groups[:, None] == groups[None]).mean() * 100)
    return result
