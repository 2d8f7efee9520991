"""Cross-modal retrieval: the built-in sanity metric of pretraining."""

from __future__ import annotations

import numpy as np


def retrieval_topk(queries: np.ndarray, keys: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy (percent) of retrieving key i for query i by cosine similarity.

    Shape:
        queries: (Q, D); keys: (Q, D), row i of each belongs to the same clip.
    """
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True).clip(1e-12)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True).clip(1e-12)
    sim = q @ k.T  # (Q, Q)
    rank = (sim > np.diag(sim)[:, None]).sum(axis=1)  # how many keys beat the true one
    result = {f"top{n}": float((rank < n).mean() * 100) for n in ks}
    result.update({f"chance_top{n}": float(min(n, len(q)) / len(q) * 100) for n in ks})
    result["num_clips"] = int(len(q))
    return result
