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


def retrieval_report(clips: list[dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Point → image retrieval over the windows of several sequences (one ``embed_sequence`` output each).

    Returns ``video`` (video projections, or the mean of frame projections when the model has no video heads),
    ``frame`` (all aligned frame projections of a window compared at once) and ``sequence`` (the best image window
    comes from the query's own sequence), each with top-k and chance levels; ``frame`` is absent without frame heads.
    """
    groups = np.concatenate([np.full(len(c["starts"]), i) for i, c in enumerate(clips)])
    first = clips[0]
    if "proj_point_video" in first and "proj_image_video" in first:
        level, pick = "video", (lambda c, m: c[f"proj_{m}_video"])
    else:
        level, pick = "frame mean", (lambda c, m: c[f"proj_{m}_frame"].mean(1))
    video = retrieval_topk(*(np.concatenate([pick(c, m) for c in clips]) for m in ("point", "image")), groups=groups)
    report = {"video": {**{k: v for k, v in video.items() if "same_sequence" not in k}, "level": level},
              "sequence": {"top1": video["top1_same_sequence"], "chance_top1": video["chance_top1_same_sequence"]}}
    if "proj_point_frame" in first and "proj_image_frame" in first:
        frames = [np.concatenate([c[f"proj_{m}_frame"].reshape(len(c["starts"]), -1) for c in clips])
                  for m in ("point", "image")]
        report["frame"] = retrieval_topk(*frames)
    return report


def summarise_runs(reports: list[dict]) -> dict[str, dict[str, float]]:
    """Mean over runs (seeds) of every number of :func:`retrieval_report`, plus min/max of the top-1 values."""
    summary: dict[str, dict[str, float]] = {}
    for level in ("video", "frame", "sequence", "pixel"):
        rows = [r[level] for r in reports if level in r]
        if not rows:
            continue
        numbers = {k for k, v in rows[0].items() if isinstance(v, int | float)}
        summary[level] = {k: float(np.mean([r[k] for r in rows])) for k in sorted(numbers)}
        summary[level]["top1_min"] = float(min(r["top1"] for r in rows))
        summary[level]["top1_max"] = float(max(r["top1"] for r in rows))
        if "level" in rows[0]:
            summary[level]["level"] = rows[0]["level"]
    return summary



def pixel_retrieval(tokens: np.ndarray, maps: np.ndarray, uv: np.ndarray, valid: np.ndarray,
                    radius: float) -> dict[str, float]:
    """Point → pixel top-1 (percent): a token's most similar cell of its own frame's map lies within ``radius``
    cells of its projection (cosine similarity, cell centres at integers); with its chance level (the mean share
    of a frame's cells within ``radius``) and the number of valid tokens.

    Shape:
        tokens: (F, L, E) point tokens of F frames; maps: (F, E, h, w) the frames' image maps; uv: (F, L, 2)
        feature-map (u', v') of each token; valid: (F, L) bool.
    """
    keep = np.asarray(valid, dtype=bool)
    if not keep.any():
        return {"top1": float("nan"), "chance_top1": float("nan"), "num_tokens": 0}
    F_, E, h, w = maps.shape
    cells = maps.reshape(F_, E, h * w)
    cells = cells / np.linalg.norm(cells, axis=1, keepdims=True).clip(1e-12)  # (F, E, h·w)
    z = tokens / np.linalg.norm(tokens, axis=-1, keepdims=True).clip(1e-12)  # (F, L, E)
    best = np.matmul(z, cells).argmax(axis=-1)  # (F, L) most similar cell of the token's own frame
    rows, cols = np.divmod(np.arange(h * w), w)
    centres = np.stack([cols, rows], axis=1).astype(np.float64)  # (h·w, 2) as (u', v')
    near = np.linalg.norm(centres - uv[..., None, :].astype(np.float64), axis=-1) <= radius  # (F, L, h·w)
    hit = np.take_along_axis(near, best[..., None], axis=-1)[..., 0]  # (F, L)
    return {"top1": float(hit[keep].mean() * 100), "chance_top1": float(near[keep].mean() * 100),
            "num_tokens": int(keep.sum())}
