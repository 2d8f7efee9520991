"""Contrastive objectives of CrossVideo: intra-/cross-modal, video-/frame-level (docs/design.md §5).

One objective per class, written in the notation of the papers:

- :class:`NTXentLoss` — SimCLR's NT-Xent over the 2B samples of two views (in-batch negatives from both sets).
- :class:`CrossModalNTXentLoss` — CLIP-style symmetric InfoNCE (negatives only from the other set).
- :class:`FrameInfoNCELoss` — frame-level InfoNCE whose positives are frames of the same clip with the same
  timestamp (source frame index), so temporally augmented views never pair different moments.
- :class:`CrossVideoLoss` — the weighted sum of the CrossVideo terms, fed by the model's embedding dict.
- :class:`PointPixelInfoNCE` — dense point-to-pixel InfoNCE (PPKT/SLidR), with :func:`project_points` and
  :func:`to_feature_map` to place camera-frame points on an image feature map; negatives at other locations.
- :class:`SameLocationPixelInfoNCE` — dense InfoNCE whose negatives are other clips' features at the positive's
  own location; :class:`DensePixelLoss` (either negative set) is the ``cross_dense`` term of :class:`CrossVideoLoss`.

Every loss L2-normalises its inputs along the last dim (idempotent for the projection heads' unit vectors), so
``a · b`` below is the cosine similarity. Shape letters: B clips, T frames, D embedding dim, V=2 views.

References:
    Liu et al., "CrossVideo: Self-supervised Cross-modal Contrastive Learning for Point Cloud Video
    Understanding", 2024.
    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations" (SimCLR), ICML 2020.
    Afham et al., "CrossPoint: Self-Supervised Cross-Modal Contrastive Learning for 3D Point Cloud
    Understanding", CVPR 2022 (point embedding = mean of the two augmented views).
    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision" (CLIP), ICML 2021.
    Liu et al., "Learning from 2D: Contrastive Pixel-to-Point Knowledge Transfer for 3D Pretraining" (PPKT), 2021.
    Sautier et al., "Image-to-Lidar Self-Supervised Distillation for Autonomous Driving Data" (SLidR), CVPR 2022.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from crossvideo_kedro.configs.pretrain import DEFAULT_TEMPERATURE, DENSE_NEGATIVES, LOSS_TERMS, LossConfig

logger = logging.getLogger(__name__)

TERMS = LOSS_TERMS

# The keys of the model output dict each term reads (optional validity masks aside).
TERM_INPUTS = {
    "intra_video": ("point_video",),
    "intra_frame": ("point_frame", "point_times"),
    "cross_video": ("point_video", "image_video"),
    "cross_frame": ("point_frame", "point_times", "image_frame", "image_times"),
    "image_intra_video": ("image_video",),
    "image_intra_frame": ("image_frame", "image_times"),
    "cross_dense": ("point_dense", "image_dense", "dense_uv", "dense_valid"),
}


def _check_temperature(temperature: float, name: str = "temperature") -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"{name} must be a positive number, got {temperature!r}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (e.g. 0.1), got {temperature}")
    return float(temperature)


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(f"expected two (B, D) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


class NTXentLoss(nn.Module):
    """SimCLR's normalised temperature-scaled cross entropy over the 2B samples of two views.

    With z = [a; b] (2B samples, L2-normalised) and s(u, v) = u·v / τ, the positive of a_i is b_i and its
    negatives are the 2B − 2 other samples (all b_j, j ≠ i, and all a_j, j ≠ i):

        ℓ(a_i, b_i) = −log( exp(s(a_i, b_i)) / ( Σ_j exp(s(a_i, b_j)) + Σ_{j≠i} exp(s(a_i, a_j)) ) )
        L = 1/(2B) Σ_i [ ℓ(a_i, b_i) + ℓ(b_i, a_i) ]

    i.e. ``_loss(a, b)`` and ``_loss(b, a)`` averaged. Identical embeddings for every sample give log(2B − 1).
    With ``groups`` (e.g. the sequence of each clip), samples j ≠ i of the anchor's own group are left out of its
    denominator: two clips of one video are never each other's negatives.
    Used for ``intra_video`` and ``image_intra_video`` (two views of one modality) and, as in CrossPoint and
    docs/design.md §5, for ``cross_video`` (point video embedding vs image video embedding).

    Reference: Chen et al., SimCLR (ICML 2020), eq. (1); CrossVideo (Liu et al., 2024).

    Shape:
        a: (B, D), view 1 (normalised here along D).
        b: (B, D), view 2; row i is the positive of a's row i.
        groups: optional (B,) int group of each row (same group, other row: not a negative).
        returns: scalar.
    """

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)

    def _loss(self, a: torch.Tensor, b: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        B = a.shape[0]
        eye = torch.eye(B, dtype=torch.bool, device=a.device)
        logits_ab = a @ b.T / self.temperature  # (B, B): the positive is on the diagonal
        logits_ab = logits_ab.masked_fill(same & ~eye, float("-inf"))  # same-group clips are no negatives
        logits_aa = a @ a.T / self.temperature  # (B, B): the diagonal is the anchor itself, not a negative
        logits_aa = logits_aa.masked_fill(same | eye, float("-inf"))
        logits = torch.cat([logits_ab, logits_aa], dim=1)  # (B, 2B)
        return F.cross_entropy(logits, torch.arange(B, device=a.device))

    def forward(self, a: torch.Tensor, b: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        _check_pair(a, b)
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        same = _same_group(groups, a.shape[0], a.device)
        return 0.5 * (self._loss(a, b, same) + self._loss(b, a, same))


def _same_group(groups: torch.Tensor | None, B: int, device: torch.device) -> torch.Tensor:
    """bool (B, B): rows i ≠ j of one group (all False without groups)."""
    if groups is None:
        return torch.zeros(B, B, dtype=torch.bool, device=device)
    if groups.shape != (B,):
        raise ValueError(f"groups must have shape ({B},), got {tuple(groups.shape)}")
    same = groups[:, None] == groups[None, :]
    return same & ~torch.eye(B, dtype=torch.bool, device=device)


class CrossModalNTXentLoss(nn.Module):
    """Symmetric InfoNCE between two sets (CLIP-style): negatives come only from the other set.

    With s(u, v) = u·v / τ on L2-normalised rows:

        ℓ(a, b) = 1/B Σ_i −log( exp(s(a_i, b_i)) / Σ_j exp(s(a_i, b_j)) )     (cross entropy of a bᵀ/τ, targets i)
        L = ½ [ ℓ(a, b) + ℓ(b, a) ]

    :class:`CrossVideoLoss` uses it for ``cross_video`` with ``cross_negatives="other"``; the default
    (``"both"``) follows CrossPoint's NT-Xent (:class:`NTXentLoss`), whose denominators also hold the anchor's own
    modality. With ``groups``, same-group pairs other than the positive are left out as in :class:`NTXentLoss`.

    Reference: Radford et al., CLIP (ICML 2021); van den Oord et al., CPC/InfoNCE (2018).

    Shape:
        a: (B, D), modality 1. b: (B, D), modality 2; row i is the positive of a's row i.
        returns: scalar.
    """

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)

    def _loss(self, a: torch.Tensor, b: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        logits = (a @ b.T / self.temperature).masked_fill(same, float("-inf"))  # (B, B)
        return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))

    def forward(self, a: torch.Tensor, b: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        _check_pair(a, b)
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        same = _same_group(groups, a.shape[0], a.device)
        return 0.5 * (self._loss(a, b, same) + self._loss(b, a, same))


class FrameInfoNCELoss(nn.Module):
    """Frame-level InfoNCE with timestamp matching: positives are the same clip at the same moment.

    Flatten the frames of both sets, Z_a = (B·Ta, D) and Z_b = (B·Tb, D) (L2-normalised), logits s = Z_a Z_bᵀ / τ.
    Frame (i, t) of set a and frame (j, u) of set b are a positive pair iff g_i = g_j and ta[i, t] = tb[j, u], with
    g the group of each clip (by default the clip itself, g_i = i; the pretraining loop passes the sequence, and
    global frame keys as times, so the same moment of one video is a positive wherever it appears); every other
    valid frame of set b — other moments of the same clip and all frames of the other clips — is a negative.
    For each valid anchor row r with at least one positive, P(r):

        ℓ_r = −log( Σ_{c ∈ P(r)} exp(s_rc) / Σ_{c valid} exp(s_rc) )
        ℓ(a → b) = mean of ℓ_r over those rows;   L = ½ [ ℓ(a → b) + ℓ(b → a) ]

    so ``_loss`` runs both ways. Frames outside the overlap of two temporally augmented views (different clip
    windows or frame rates) have no positive and act only as negatives; padded frames (mask False) take no part at
    all. If no frame has a positive anywhere (disjoint windows), the loss is a zero that still carries a graph
    (``backward`` works, gradients are 0) and a warning is logged once per loss instance.

    Reference: CrossVideo (Liu et al., 2024), frame-level intra- and cross-modal terms; InfoNCE (van den Oord
    et al., 2018) with several positives per anchor summed in the numerator.

    Shape:
        za: (B, Ta, D); zb: (B, Tb, D) — frame embeddings (normalised here along D).
        ta: (B, Ta); tb: (B, Tb) — timestamps, int64 source frame indices (matched with ==).
        va: (B, Ta); vb: (B, Tb) — optional bool masks, True for real frames, False for padding.
        groups: optional (B,) int group of each clip (default: every clip its own group).
        returns: scalar. ``last_positive_rows`` holds how many anchor frames (both directions) had a positive.
    """

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self._warned = False
        self.last_positive_rows = 0

    def _loss(self, za, zb, ta, tb, va, vb, groups) -> torch.Tensor | None:
        """ℓ(a → b): rows of set a as anchors. None when no row has a positive."""
        B, Ta, D = za.shape
        Tb = zb.shape[1]
        clip_a = groups.repeat_interleave(Ta)  # (B·Ta,)
        clip_b = groups.repeat_interleave(Tb)  # (B·Tb,)
        pos = (clip_a[:, None] == clip_b[None, :]) & (ta.reshape(-1)[:, None] == tb.reshape(-1)[None, :])
        pos &= va.reshape(-1)[:, None] & vb.reshape(-1)[None, :]  # (B·Ta, B·Tb)
        rows = pos.any(dim=1)  # anchors with ≥ 1 positive (they are valid and have ≥ 1 valid column)
        self.last_positive_rows += int(rows.sum())
        if not bool(rows.any()):
            return None
        logits = za.reshape(-1, D)[rows] @ zb.reshape(-1, D).T / self.temperature  # (R, B·Tb)
        neg_inf = float("-inf")
        log_all = logits.masked_fill(~vb.reshape(-1)[None, :], neg_inf).logsumexp(dim=1)  # (R,)
        log_pos = logits.masked_fill(~pos[rows], neg_inf).logsumexp(dim=1)  # (R,)
        return (log_all - log_pos).mean()

    def forward(
        self,
        za: torch.Tensor,
        zb: torch.Tensor,
        ta: torch.Tensor,
        tb: torch.Tensor,
        va: torch.Tensor | None = None,
        vb: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if za.dim() != 3 or zb.dim() != 3 or za.shape[0] != zb.shape[0] or za.shape[2] != zb.shape[2]:
            raise ValueError(f"expected za (B, Ta, D) and zb (B, Tb, D), got {tuple(za.shape)} and {tuple(zb.shape)}")
        va = torch.ones(za.shape[:2], dtype=torch.bool, device=za.device) if va is None else va.bool()
        vb = torch.ones(zb.shape[:2], dtype=torch.bool, device=zb.device) if vb is None else vb.bool()
        for name, t, z in (("ta", ta, za), ("tb", tb, zb), ("va", va, za), ("vb", vb, zb)):
            if t.shape != z.shape[:2]:
                raise ValueError(f"{name} must have shape {tuple(z.shape[:2])} (B, T), got {tuple(t.shape)}")
        if groups is None:
            groups = torch.arange(za.shape[0], device=za.device)
        elif groups.shape != (za.shape[0],):
            raise ValueError(f"groups must have shape ({za.shape[0]},), got {tuple(groups.shape)}")
        za, zb = F.normalize(za, dim=-1), F.normalize(zb, dim=-1)
        self.last_positive_rows = 0
        a_to_b = self._loss(za, zb, ta, tb, va, vb, groups)
        if a_to_b is None:  # positives are symmetric: no row of a has one iff no row of b has one
            if not self._warned:
                logger.warning("FrameInfoNCELoss: no frame of the two sets shares a timestamp; the term is 0")
                self._warned = True
            return (za.sum() + zb.sum()) * 0.0
        return 0.5 * (a_to_b + self._loss(zb, za, tb, ta, vb, va, groups))


class CrossVideoLoss(nn.Module):
    """The CrossVideo objective: L = Σ_k w_k · L_k over the terms with w_k > 0 (docs/design.md §5).

    Terms (p = point, i = image; v ∈ {0, 1} the two augmented views; ⊕ = mean then L2-normalise):

        intra_video        NTXent(p_video[0], p_video[1])
        intra_frame        FrameInfoNCE(p_frame[0], p_frame[1])                     positives: same timestamp
        cross_video        NTXent(p_video[0] ⊕ p_video[1], i_video[0] ⊕ i_video[1])   (CrossPoint's mean of views)
        cross_frame        ½ Σ_v FrameInfoNCE(p_frame[v], i_frame[1 − v])           positives: same timestamp
        image_intra_video  NTXent(i_video[0], i_video[1])
        image_intra_frame  FrameInfoNCE(i_frame[0], i_frame[1])
        cross_dense        ½ Σ_v DensePixel(p_token[v], i_map[v])      point tokens vs their pixels, same view v

    A weight of 0 (or a term not listed in ``weights``) removes the term: it is neither computed nor returned in
    ``terms``, and the inputs only it reads need not be in ``out`` (e.g. intra terms alone need no image keys).

    Args:
        config: the validated ``pretrain.loss`` block (:class:`crossvideo_kedro.configs.pretrain.LossConfig`; None:
            its defaults). ``weights``: term name → weight ≥ 0, the listed terms are the objective, unlisted terms
            have weight 0. ``temperatures``: term name → τ > 0; unlisted terms use 0.1. ``cross_negatives``:
            ``cross_video``'s negatives: ``"both"`` — CrossPoint's NT-Xent over the 2B samples (other clips of both
            modalities); ``"other"`` — CLIP-style, only the other modality's clips (a gap between the modalities'
            embeddings then cannot keep the loss above chance). ``dense``: ``cross_dense``'s settings:
            ``negatives`` (:class:`DensePixelLoss`), ``mask_radius`` (cells; ``batch`` negatives and the pixel
            retrieval), ``locations`` (anchor tokens per frame the model contrasts) and ``dim`` (width of the dense
            projections), both read by the model.

    Input dict ``out`` (only the keys of active terms are read; all embeddings are normalised here along D):
        point_video: (2, B, D) — the two point views.
        point_frame: (2, B, T, D); point_times: (2, B, T) int64 source frame indices.
        point_valid: optional (2, B, T) bool, False for padded frames.
        image_video: (2, B, D) two image views, or (B, D) one.
        image_frame: (2, B, Ti, D) or (B, Ti, D); image_times: (2, B, Ti) or (B, Ti); image_valid: optional, same.
        Image view v is the image clip of point view v (same frame ids). ``cross_frame`` pairs each point view with
        the *other* view's images: their frames overlap only partly and their times (from each view's first frame)
        differ, so matching frames needs their content — a time embedding alone cannot tell positives from
        negatives. With one image view both point views are matched to it by timestamp. ``image_intra_*`` terms
        need two image views.
        groups: optional (B,) int — the sequence of each clip: clips of one sequence are never video-level
        negatives, and with global frame keys as times the same moment is a frame-level positive across clips.
        point_dense: (2, B, T, L, D) point tokens; image_dense: (2, B, T, D, h, w) image feature maps of the same
        views; dense_uv: (2, B, T, L, 2) each token's feature-map position in its view; dense_valid: (2, B, T, L).

    Returns:
        ``(total, terms)``: the weighted sum (scalar, differentiable) and the unweighted value of each active term
        (detached scalars, for logging). After a call, ``positives`` maps each frame-level term to the number of
        anchor frames that had a positive (a term with none contributes 0 and says so in the log).
    """

    def __init__(self, config: LossConfig | None = None) -> None:
        super().__init__()
        config = LossConfig() if config is None else config
        self.config = config
        self.weights = {name: config.weight(name) for name in TERMS}
        self.temperatures = {name: config.temperature(name) for name in TERMS}
        self.active = tuple(name for name in TERMS if self.weights[name] > 0)
        self.positives: dict[str, int] = {}
        self.cross_negatives = config.cross_negatives
        self.dense = config.dense
        self.losses = nn.ModuleDict({name: self._make(name) for name in self.active})

    def _make(self, name: str) -> nn.Module:
        """The objective of term ``name`` at its temperature."""
        tau = self.temperatures[name]
        if name == "cross_dense":
            return DensePixelLoss(tau, self.dense.negatives, self.dense.mask_radius)
        if name == "cross_video" and self.cross_negatives == "other":
            return CrossModalNTXentLoss(tau)
        return (NTXentLoss if name.endswith("video") else FrameInfoNCELoss)(tau)

    @property
    def required_inputs(self) -> tuple[str, ...]:
        """The keys of ``out`` that the active terms read (masks aside)."""
        return tuple(sorted({key for name in self.active for key in TERM_INPUTS[name]}))

    def forward(self, out: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        missing = [key for key in self.required_inputs if key not in out]
        if missing:
            needs = {n: [k for k in TERM_INPUTS[n] if k in missing] for n in self.active}
            raise ValueError(
                f"missing input(s) {missing} for active loss terms "
                f"{ {n: k for n, k in needs.items() if k} }; set those terms' weights to 0 or provide the keys"
            )
        groups = out.get("groups")
        terms = {name: getattr(self, f"_{name}")(out, self.losses[name], groups) for name in self.active}
        self.positives = {name: self.losses[name].last_positive_rows for name in self.active
                          if isinstance(self.losses[name], FrameInfoNCELoss | DensePixelLoss)}
        total = sum(self.weights[name] * value for name, value in terms.items())
        return total, {name: value.detach() for name, value in terms.items()}

    # One method per term; each reads only its own keys of ``out``.

    @staticmethod
    def _views(x: torch.Tensor, dims: int, key: str) -> torch.Tensor:
        """(V, ...) view-stacked tensor from (V, ...) or a single view (...) with ``dims`` dims."""
        if x.dim() == dims:
            return x.unsqueeze(0)
        if x.dim() == dims + 1 and x.shape[0] in (1, 2):
            return x
        raise ValueError(f"{key} must have {dims} dims (one view) or {dims + 1} with 1 or 2 views first, got "
                         f"{tuple(x.shape)}")

    def _frames(self, out: Mapping[str, torch.Tensor], modality: str):
        z = self._views(out[f"{modality}_frame"], 3, f"{modality}_frame")  # (V, B, T, D)
        t = self._views(out[f"{modality}_times"], 2, f"{modality}_times")  # (V, B, T)
        valid = out.get(f"{modality}_valid")
        v = self._views(valid, 2, f"{modality}_valid") if valid is not None else [None] * z.shape[0]
        return z, t, v

    def _two(self, x: torch.Tensor, key: str) -> None:
        if x.shape[0] != 2:
            raise ValueError(f"{key} needs two views stacked first (2, B, ...), got {tuple(x.shape)}")

    def _intra_video(self, out, loss, groups) -> torch.Tensor:
        z = self._views(out["point_video"], 2, "point_video")  # (2, B, D)
        self._two(z, "point_video")
        return loss(z[0], z[1], groups)

    def _image_intra_video(self, out, loss, groups) -> torch.Tensor:
        z = self._views(out["image_video"], 2, "image_video")  # (2, B, D)
        self._two(z, "image_video")
        return loss(z[0], z[1], groups)

    def _intra_frame(self, out, loss, groups) -> torch.Tensor:
        z, t, v = self._frames(out, "point")
        self._two(z, "point_frame")
        return loss(z[0], z[1], t[0], t[1], v[0], v[1], groups)

    def _image_intra_frame(self, out, loss, groups) -> torch.Tensor:
        z, t, v = self._frames(out, "image")
        self._two(z, "image_frame")
        return loss(z[0], z[1], t[0], t[1], v[0], v[1], groups)

    def _cross_video(self, out, loss, groups) -> torch.Tensor:
        point = F.normalize(F.normalize(self._views(out["point_video"], 2, "point_video"), dim=-1).mean(0), dim=-1)
        image = F.normalize(F.normalize(self._views(out["image_video"], 2, "image_video"), dim=-1).mean(0), dim=-1)
        return loss(point, image, groups)  # (B, D) each: CrossPoint's mean of the views, re-normalised

    def _cross_frame(self, out, loss, groups) -> torch.Tensor:
        zp, tp, vp = self._frames(out, "point")  # (Vp, B, T, D)
        zi, ti, vi = self._frames(out, "image")  # (Vi, B, Ti, D)
        if zi.shape[0] not in (1, zp.shape[0]):
            raise ValueError(f"image_frame has {zi.shape[0]} views but point_frame has {zp.shape[0]}")
        pairs = [(v, zi.shape[0] - 1 - v if zi.shape[0] > 1 else 0) for v in range(zp.shape[0])]  # other view
        total, positives = 0.0, 0
        for v, w in pairs:
            total = total + loss(zp[v], zi[w], tp[v], ti[w], vp[v], vi[w], groups)
            positives += loss.last_positive_rows
        loss.last_positive_rows = positives
        return total / len(pairs)

    def _cross_dense(self, out, loss, groups) -> torch.Tensor:
        points, image = out["point_dense"], out["image_dense"]
        self._two(points, "point_dense")
        return loss(points, image, out["dense_uv"], out["dense_valid"], groups)


# ---------------------------------------------------------------- dense point-to-pixel objective


def project_points(
    points: torch.Tensor, intrinsics: torch.Tensor, image_hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates of camera-frame points and whether they land in the image (pinhole, OpenCV convention).

    ``(u, v, 1)ᵀ ∝ K (x, y, z)ᵀ`` with pixel centres at integers (docs/data.md), so a point is in the image iff
    z > 0 and −0.5 ≤ u < W − 0.5, −0.5 ≤ v < H − 0.5. Points with z ≤ 0 get uv = 0 and valid = False.

    Shape:
        points: (M, 3) camera-frame metres. intrinsics: (3, 3) K.
        returns: uv (M, 2) float pixels (u column, v row); valid (M,) bool.
    """
    if points.dim() != 2 or points.shape[1] != 3 or intrinsics.shape != (3, 3):
        raise ValueError(f"expected points (M, 3) and K (3, 3), got {tuple(points.shape)} and "
                         f"{tuple(intrinsics.shape)}")
    H, W = image_hw
    uvw = points @ intrinsics.to(points.dtype).T  # (M, 3)
    z = uvw[:, 2]
    front = z > 0
    uv = torch.where(front[:, None], uvw[:, :2] / z.clamp_min(1e-12)[:, None], torch.zeros_like(uvw[:, :2]))
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < W - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < H - 0.5)
    return uv, front & inside


def to_feature_map(uv: torch.Tensor, image_hw: tuple[int, int], feature_hw: tuple[int, int]) -> torch.Tensor:
    """Image pixel coordinates → feature-map coordinates of an (h, w) map covering the whole (H, W) image.

    With centres at integers on both grids, ``u' = (u + 0.5)·w/W − 0.5`` (and v with h/H), the mapping of
    :func:`crossvideo_kedro.geometry.camera.scale_intrinsics` and of ``grid_sample(align_corners=False)``.

    Shape:
        uv: (M, 2) pixels. returns: (M, 2) feature-map cells (u' column, v' row).
    """
    scale = uv.new_tensor([feature_hw[1] / image_hw[1], feature_hw[0] / image_hw[0]])  # (2,): (sx, sy)
    return (uv + 0.5) * scale - 0.5


class PointPixelInfoNCE(nn.Module):
    """Dense cross-modal InfoNCE: each point token against the image feature at its projected pixel (PPKT).

    Token m has a point feature z_m, a frame f_m and a feature-map position p_m = (u'_m, v'_m); its pixel feature
    y_m is the image feature map of frame f_m sampled at p_m (bilinear, or the nearest cell). With z, y
    L2-normalised and s_mn = z_m · y_n / τ, over the valid tokens 𝒱 (in the image and not occluded):

        N(m) = { n ∈ 𝒱, n ≠ m : f_n ≠ f_m  or  ‖p_n − p_m‖₂ > r }          (r = mask_radius, in cells)
        ℓ_m = −log( exp(s_mm) / ( exp(s_mm) + Σ_{n ∈ N(m)} exp(s_mn) ) )
        L = 1/|𝒱| Σ_{m ∈ 𝒱} ℓ_m

    so the negatives of a token are the positives (pixel features) of the other tokens of the batch, an (M, M)
    similarity as in PPKT, and pixels within r cells of the positive in the same frame — which an image
    encoder cannot tell apart from it — are not negatives (SLidR pools such pixels into one superpixel instead).
    Identical features everywhere give ℓ_m = log(1 + |N(m)|). With no valid token the loss is a zero that still
    carries a graph, as in :class:`FrameInfoNCELoss`.

    Reference: Liu et al., PPKT (2021), eq. (1); Sautier et al., SLidR (CVPR 2022), §3.

    Args:
        temperature: τ > 0.
        mask_radius: r ≥ 0, feature-map cells; same-frame negatives this close to the positive are left out.
        sampling: ``"bilinear"`` or ``"nearest"`` (the cell that contains the projection).

    Shape:
        points: (M, D) point-token features (normalised here along D).
        image: (F, D, h, w) image feature maps of the F frames.
        frame: (M,) int64 frame index of each token, in [0, F).
        uv: (M, 2) float feature-map coordinates (u' column, v' row; see :func:`to_feature_map`).
        valid: (M,) bool, False for tokens outside the image or occluded.
        returns: scalar.
    """

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE, mask_radius: float = 1.0,
                 sampling: str = "bilinear") -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        if isinstance(mask_radius, bool) or not isinstance(mask_radius, (int, float)) \
                or not math.isfinite(mask_radius) or mask_radius < 0:
            raise ValueError(f"mask_radius must be a finite number of feature-map cells >= 0 (0 masks only the "
                             f"same cell), got {mask_radius!r}")
        if sampling not in ("bilinear", "nearest"):
            raise ValueError(f"sampling must be 'bilinear' or 'nearest', got {sampling!r}")
        self.mask_radius = float(mask_radius)
        self.sampling = sampling

    def sample(self, image: torch.Tensor, frame: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        """y: (M, D) feature of each token's frame at its position, borders clamped (gathers, no (M, D, h, w) copy)."""
        n_frames, D, h, w = image.shape
        flat = image.permute(0, 2, 3, 1).reshape(n_frames * h * w, D)  # (F·h·w, D)
        u = uv[:, 0].clamp(0, w - 1).to(image.dtype)  # (M,)
        v = uv[:, 1].clamp(0, h - 1).to(image.dtype)
        base = frame * (h * w)  # (M,)
        if self.sampling == "nearest":
            return flat[base + torch.floor(v + 0.5).long() * w + torch.floor(u + 0.5).long()]
        u0 = u.floor().long().clamp(max=max(w - 2, 0))
        v0 = v.floor().long().clamp(max=max(h - 2, 0))
        u1, v1 = (u0 + 1).clamp(max=w - 1), (v0 + 1).clamp(max=h - 1)
        a, b = (u - u0)[:, None], (v - v0)[:, None]  # (M, 1) weights of the right and lower corners
        return ((1 - a) * (1 - b) * flat[base + v0 * w + u0] + a * (1 - b) * flat[base + v0 * w + u1]
                + (1 - a) * b * flat[base + v1 * w + u0] + a * b * flat[base + v1 * w + u1])

    def token_losses(self, points: torch.Tensor, image: torch.Tensor, frame: torch.Tensor, uv: torch.Tensor,
                     valid: torch.Tensor) -> torch.Tensor:
        """ℓ_m of each valid token, in token order: (V,) with V = valid.sum() (the loss is their mean)."""
        M, D = points.shape
        if image.dim() != 4 or image.shape[1] != D:
            raise ValueError(f"image must be (F, D={D}, h, w), got {tuple(image.shape)}")
        if frame.shape != (M,) or uv.shape != (M, 2) or valid.shape != (M,):
            raise ValueError(f"expected frame ({M},), uv ({M}, 2), valid ({M},); got {tuple(frame.shape)}, "
                             f"{tuple(uv.shape)}, {tuple(valid.shape)}")
        if M and (int(frame.min()) < 0 or int(frame.max()) >= image.shape[0]):
            raise ValueError(f"frame indices must lie in [0, {image.shape[0]}), got {frame.min()}..{frame.max()}")
        keep = valid.bool()
        z = F.normalize(points[keep], dim=-1)  # (V, D)
        y = F.normalize(self.sample(image, frame[keep], uv[keep]), dim=-1)  # (V, D)
        f, p = frame[keep], uv[keep]
        near = (f[:, None] == f[None, :]) & (torch.cdist(p.double(), p.double()) <= self.mask_radius)  # (V, V)
        near.fill_diagonal_(False)  # the positive itself stays
        logits = (z @ y.T / self.temperature).masked_fill(near, float("-inf"))  # (V, V), positive on the diagonal
        return F.cross_entropy(logits, torch.arange(len(z), device=z.device), reduction="none")

    def forward(self, points: torch.Tensor, image: torch.Tensor, frame: torch.Tensor, uv: torch.Tensor,
                valid: torch.Tensor) -> torch.Tensor:
        per_token = self.token_losses(points, image, frame, uv, valid)  # (V,)
        if per_token.numel() == 0:
            return (points.sum() + image.sum()) * 0.0
        return per_token.mean()


def _bilinear_corners(uv: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat cell indices and weights of the four corners that bilinearly interpolate (h, w) maps at ``uv``.

    Borders are clamped as ``grid_sample(align_corners=False, padding_mode="border")`` does.

    Shape:
        uv: (..., 2) feature-map (u' column, v' row). Returns int64 (..., 4) cells (row·w + column) and (..., 4)
        weights summing to 1.
    """
    u = uv[..., 0].clamp(0, w - 1)
    v = uv[..., 1].clamp(0, h - 1)
    u0 = u.floor().long().clamp(max=max(w - 2, 0))
    v0 = v.floor().long().clamp(max=max(h - 2, 0))
    u1, v1 = (u0 + 1).clamp(max=w - 1), (v0 + 1).clamp(max=h - 1)
    a, b = u - u0, v - v0  # weights of the right and lower corners
    cells = torch.stack([v0 * w + u0, v0 * w + u1, v1 * w + u0, v1 * w + u1], dim=-1)
    weights = torch.stack([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b], dim=-1)
    return cells, weights


class SameLocationPixelInfoNCE(nn.Module):
    """Dense cross-modal InfoNCE whose negatives sit at the positive's own location in other clips' frames.

    Token m (clip b, view v, frame slot t) has a point feature z_m and a feature-map position p_m. For every clip c
    of the batch, y_c(p_m) is the image feature map of clip c, view v, slot t — L2-normalised cell by cell — read
    at p_m by bilinear interpolation (borders clamped). With ẑ_m = z_m / ‖z_m‖, s_mc = ẑ_m · y_c(p_m) / τ and 𝒱
    the valid tokens:

        ℓ_m = −log( exp(s_mb) / Σ_{c : c = b or g_c ≠ g_b} exp(s_mc) )        L = 1/|𝒱| Σ_{m ∈ 𝒱} ℓ_m

    (g = the sequence of each clip: another clip of the anchor's own sequence is no negative). Every candidate is
    read at the same position p_m, so an image feature that depends only on the position is equal for the positive
    and all negatives and gives exactly log(#candidates), whatever the point feature: position cannot lower this
    loss, only image content can (docs/objectives.md). Identical features give log(B) for B distinct sequences.
    Interpolating the unit cells (instead of normalising after interpolation) lets the logits come from one
    (B·L) × (B·h·w) matrix product per view and slot and four gathers, with no per-candidate copy of the maps.

    Shape:
        points: (V, B, T, L, D) token features; image: (V, B, T, D, h, w) feature maps of the same views and slots.
        uv: (V, B, T, L, 2) feature-map coordinates (u' column, v' row); valid: (V, B, T, L) bool.
        groups: optional (B,) int. Returns a scalar.
    """

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self.last_positive_rows = 0

    def logits(self, points: torch.Tensor, image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        """s: (V, T, B, L, C) similarity of every token with every clip c's map at the token's position."""
        V, B, T, L, D = points.shape
        h, w = image.shape[-2:]
        z = F.normalize(points, dim=-1).transpose(1, 2).reshape(V * T, B * L, D)  # (V·T, B·L, D)
        y = F.normalize(image, dim=3).permute(0, 2, 3, 1, 4, 5).reshape(V * T, D, B * h * w)  # (V·T, D, C·h·w)
        sim = torch.bmm(z, y).reshape(V * T, B * L, B, h * w)  # (V·T, B·L, C, h·w) every token × every cell
        cells, weights = _bilinear_corners(uv.transpose(1, 2).reshape(V * T, B * L, 2), h, w)  # (V·T, B·L, 4)
        corners = sim.gather(3, cells[:, :, None, :].expand(-1, -1, B, -1))  # (V·T, B·L, C, 4)
        s = (corners * weights[:, :, None, :].to(corners.dtype)).sum(-1)  # (V·T, B·L, C)
        return s.reshape(V, T, B, L, B) / self.temperature

    def forward(self, points: torch.Tensor, image: torch.Tensor, uv: torch.Tensor, valid: torch.Tensor,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        V, B, T, L, D = points.shape
        if image.shape[:3] != (V, B, T) or image.shape[3] != D or uv.shape != (V, B, T, L, 2) \
                or valid.shape != (V, B, T, L):
            raise ValueError(f"expected points (V, B, T, L, D), image (V, B, T, D, h, w), uv (V, B, T, L, 2), valid "
                             f"(V, B, T, L); got {tuple(points.shape)}, {tuple(image.shape)}, {tuple(uv.shape)}, "
                             f"{tuple(valid.shape)}")
        logits = self.logits(points, image, uv)  # (V, T, B, L, C)
        same = _same_group(groups, B, points.device)  # (B, C) other clips of the anchor's sequence
        logits = logits.masked_fill(same[None, None, :, None, :], float("-inf"))
        target = torch.arange(B, device=points.device)[None, None, :, None].expand(V, T, B, L)  # (V, T, B, L)
        keep = valid.bool().transpose(1, 2)  # (V, T, B, L)
        self.last_positive_rows = int(keep.sum())
        if not self.last_positive_rows:
            return (points.sum() + image.sum()) * 0.0
        return F.cross_entropy(logits[keep], target[keep])


class DensePixelLoss(nn.Module):
    """The ``cross_dense`` term of :class:`CrossVideoLoss`: point tokens against their view's own image maps.

    ``negatives="same_location"`` is :class:`SameLocationPixelInfoNCE` (position cannot lower it);
    ``negatives="batch"`` is :class:`PointPixelInfoNCE` over all tokens of the batch (other locations and frames,
    same-frame neighbours within ``mask_radius`` cells masked), whose pixel position is a shortcut.

    Shape: as :class:`SameLocationPixelInfoNCE`.
    """

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE, negatives: str = "same_location",
                 mask_radius: float = 1.0) -> None:
        super().__init__()
        if negatives not in DENSE_NEGATIVES:
            raise ValueError(f"dense.negatives must be one of {DENSE_NEGATIVES}, got {negatives!r}")
        self.negatives = negatives
        self.same_location = SameLocationPixelInfoNCE(temperature)
        self.batch = PointPixelInfoNCE(temperature, mask_radius)
        self.last_positive_rows = 0

    def forward(self, points: torch.Tensor, image: torch.Tensor, uv: torch.Tensor, valid: torch.Tensor,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        if self.negatives == "same_location":
            value = self.same_location(points, image, uv, valid, groups)
            self.last_positive_rows = self.same_location.last_positive_rows
            return value
        V, B, T, L, D = points.shape
        frame = torch.arange(V * B * T, device=points.device).repeat_interleave(L)  # (V·B·T·L,)
        self.last_positive_rows = int(valid.sum())
        return self.batch(points.reshape(-1, D), image.reshape(V * B * T, D, *image.shape[-2:]), frame,
                          uv.reshape(-1, 2), valid.reshape(-1))
