"""Contrastive objectives against naive loops written from the papers' pseudocode, closed forms and properties."""

from __future__ import annotations

import logging
import math

import pytest
import torch
import torch.nn.functional as F

from tests.test_dense_loss import same_location_loop
from crossvideo_kedro.configs import LossConfig, PretrainConfig, parse
from crossvideo_kedro.losses import (
    TERMS,
    CrossModalNTXentLoss,
    CrossVideoLoss,
    FrameInfoNCELoss,
    NTXentLoss,
)

# ---------------------------------------------------------------- naive references (one anchor at a time)


def ntxent_loop(a: torch.Tensor, b: torch.Tensor, tau: float) -> float:
    """SimCLR Algorithm 1: z = [a; b], ℓ(i, j) = −log exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ), averaged over 2B anchors."""
    z = F.normalize(torch.cat([a, b]), dim=1).double()
    n, B = len(z), len(a)
    total = 0.0
    for i in range(n):
        j = (i + B) % n
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / tau) / denom)
    return total / n


def clip_loop(a: torch.Tensor, b: torch.Tensor, tau: float) -> float:
    a, b = F.normalize(a, dim=1).double(), F.normalize(b, dim=1).double()
    B = len(a)
    total = 0.0
    for x, y in ((a, b), (b, a)):
        for i in range(B):
            denom = sum(math.exp(float(x[i] @ y[k]) / tau) for k in range(B))
            total += -math.log(math.exp(float(x[i] @ y[i]) / tau) / denom) / B
    return total / 2


def frame_loop(za, zb, ta, tb, tau, va=None, vb=None) -> float:
    """Per anchor frame (i, t): −log Σ_{(j,u): j=i, tb=ta} exp / Σ_{valid (j,u)} exp, both directions."""
    za, zb = F.normalize(za, dim=-1).double(), F.normalize(zb, dim=-1).double()
    va = torch.ones(ta.shape, dtype=torch.bool) if va is None else va
    vb = torch.ones(tb.shape, dtype=torch.bool) if vb is None else vb

    def one_way(za, zb, ta, tb, va, vb):
        B, Ta, _ = za.shape
        Tb = zb.shape[1]
        losses = []
        for i in range(B):
            for t in range(Ta):
                if not va[i, t]:
                    continue
                num = den = 0.0
                for j in range(B):
                    for u in range(Tb):
                        if not vb[j, u]:
                            continue
                        e = math.exp(float(za[i, t] @ zb[j, u]) / tau)
                        den += e
                        if j == i and int(ta[i, t]) == int(tb[j, u]):
                            num += e
                if num > 0:
                    losses.append(-math.log(num / den))
        return sum(losses) / len(losses)

    return 0.5 * (one_way(za, zb, ta, tb, va, vb) + one_way(zb, za, tb, ta, vb, va))


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- video level


@pytest.mark.parametrize("B,D", [(2, 3), (5, 8), (8, 16)])
@pytest.mark.parametrize("tau", [0.07, 0.5, 1.0])
def test_ntxent_matches_loop(B, D, tau):
    a, b = randn(B, D, seed=1), randn(B, D, seed=2)
    assert float(NTXentLoss(tau)(a, b)) == pytest.approx(ntxent_loop(a, b, tau), rel=1e-5)


@pytest.mark.parametrize("B,D", [(2, 3), (5, 8), (8, 16)])
@pytest.mark.parametrize("tau", [0.07, 0.5, 1.0])
def test_cross_modal_matches_loop(B, D, tau):
    a, b = randn(B, D, seed=3), randn(B, D, seed=4)
    assert float(CrossModalNTXentLoss(tau)(a, b)) == pytest.approx(clip_loop(a, b, tau), rel=1e-5)


@pytest.mark.parametrize("B", [1, 3, 16])
@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_video_losses_closed_form_identical_embeddings(B, tau):
    # Every sample is the same vector: all similarities are 1/τ, so NT-Xent = −log(e/((2B−1)e)) = log(2B − 1)
    # and the CLIP-style loss = −log(e/(B·e)) = log B.
    z = torch.ones(B, 4)
    assert float(NTXentLoss(tau)(z, z)) == pytest.approx(math.log(2 * B - 1), abs=1e-5)
    assert float(CrossModalNTXentLoss(tau)(z, z)) == pytest.approx(math.log(B), abs=1e-5)


def test_video_losses_closed_form_orthogonal_alignment():
    # a = b = one-hot rows: positives score 1/τ, negatives 0, so NT-Xent = log(1 + (2B−2)·e^(−1/τ)) → 0 as τ → 0.
    B, tau = 4, 0.5
    z = torch.eye(B)
    assert float(NTXentLoss(tau)(z, z)) == pytest.approx(math.log(1 + (2 * B - 2) * math.exp(-1 / tau)), rel=1e-4)
    assert float(CrossModalNTXentLoss(tau)(z, z)) == pytest.approx(math.log(1 + (B - 1) * math.exp(-1 / tau)),
                                                                   rel=1e-4)
    assert float(NTXentLoss(0.01)(z, z)) < 1e-6


@pytest.mark.parametrize("cls", [NTXentLoss, CrossModalNTXentLoss])
def test_video_losses_symmetric_aligned_lower_and_grad(cls):
    a, b = randn(6, 8, seed=5), randn(6, 8, seed=6)
    loss = cls(0.2)
    assert float(loss(a, b)) == pytest.approx(float(loss(b, a)), rel=1e-6)
    aligned = a + 0.05 * b
    shuffled = aligned[torch.tensor([1, 2, 3, 4, 5, 0])]
    assert float(loss(a, aligned)) < float(loss(a, shuffled))
    a.requires_grad_(True), b.requires_grad_(True)
    loss(a, b).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", [NTXentLoss, CrossModalNTXentLoss, FrameInfoNCELoss])
@pytest.mark.parametrize("tau", [0, -0.1, float("nan"), "0.1"])
def test_bad_temperature(cls, tau):
    with pytest.raises(ValueError, match="temperature"):
        cls(tau)


def test_video_loss_shape_check():
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        NTXentLoss()(torch.zeros(3, 4), torch.zeros(2, 4))


# ---------------------------------------------------------------- frame level


@pytest.mark.parametrize("B,Ta,Tb,D", [(1, 3, 3, 4), (2, 4, 6, 5), (3, 5, 4, 8)])
@pytest.mark.parametrize("tau", [0.1, 0.7])
def test_frame_loss_matches_loop_with_shifted_windows(B, Ta, Tb, D, tau):
    # View a covers frames s..s+Ta−1, view b a shifted window at half the frame rate: only shared frame ids are
    # positives; the rest are negatives only.
    za, zb = randn(B, Ta, D, seed=7), randn(B, Tb, D, seed=8)
    ta = torch.arange(Ta)[None].repeat(B, 1) + torch.arange(B)[:, None]  # (B, Ta)
    tb = 2 * torch.arange(Tb)[None].repeat(B, 1) + 1  # (B, Tb): 1, 3, 5, ...
    expected = frame_loop(za, zb, ta, tb, tau)
    assert float(FrameInfoNCELoss(tau)(za, zb, ta, tb)) == pytest.approx(expected, rel=1e-5)


def test_frame_loss_positives_are_exactly_the_overlap():
    # Frame a(i, t) and b(i, u) share a timestamp only on the overlap [2, 4]; if the loss pairs by timestamp, moving
    # one overlapping frame of b onto its partner lowers the loss, while doing so for the positional partner (same
    # index t, different timestamp) does not help as a positive would.
    B, T, D, tau = 2, 5, 6, 0.2
    za, zb = randn(B, T, D, seed=9), randn(B, T, D, seed=10)
    ta = torch.tensor([[0, 1, 2, 3, 4]] * B)
    tb = torch.tensor([[2, 3, 4, 5, 6]] * B)
    loss = FrameInfoNCELoss(tau)
    base = float(loss(za, zb, ta, tb))
    assert base == pytest.approx(frame_loop(za, zb, ta, tb, tau), rel=1e-5)
    # positives used: (a t=2, b u=0), (a t=3, b u=1), (a t=4, b u=2): making them identical drives the loss down
    zb_aligned = zb.clone()
    zb_aligned[:, :3] = za[:, 2:]
    assert float(loss(za, zb_aligned, ta, tb)) < base
    # same frames compared by position instead of timestamp (a t=0..2 ↔ b u=0..2) are no positives
    zb_positional = zb.clone()
    zb_positional[:, :3] = za[:, :3]
    assert float(loss(za, zb_positional, ta, tb)) > float(loss(za, zb_aligned, ta, tb))


def test_frame_loss_masks_exclude_padding():
    B, T, D, tau = 2, 6, 4, 0.3
    za, zb = randn(B, T, D, seed=11), randn(B, T, D, seed=12)
    ta = tb = torch.arange(T)[None].repeat(B, 1)
    va = torch.ones(B, T, dtype=torch.bool)
    vb = torch.ones(B, T, dtype=torch.bool)
    va[0, 4:] = False
    vb[1, 5:] = False
    loss = FrameInfoNCELoss(tau)
    masked = float(loss(za, zb, ta, tb, va, vb))
    assert masked == pytest.approx(frame_loop(za, zb, ta, tb, tau, va, vb), rel=1e-5)
    # padded frames' embeddings do not matter at all (neither as anchors, positives nor negatives)
    za2, zb2 = za.clone(), zb.clone()
    za2[0, 4:] = randn(2, D, seed=13)
    zb2[1, 5:] = randn(1, D, seed=14)
    assert float(loss(za2, zb2, ta, tb, va, vb)) == pytest.approx(masked, rel=1e-6)
    # without the masks the padded frames would be anchors, positives and negatives: a different value
    assert masked != pytest.approx(float(loss(za, zb, ta, tb)), rel=1e-3)


def test_frame_loss_padding_gets_no_gradient():
    za, zb = randn(2, 4, 3, seed=15).requires_grad_(True), randn(2, 4, 3, seed=16).requires_grad_(True)
    t = torch.arange(4)[None].repeat(2, 1)
    valid = torch.tensor([[True, True, True, False], [True, True, True, True]])
    FrameInfoNCELoss(0.5)(za, zb, t, t, valid, valid).backward()
    assert za.grad[0, 3].abs().sum() == 0 and zb.grad[0, 3].abs().sum() == 0
    assert za.grad[:, :3].abs().sum() > 0 and zb.grad[:, :3].abs().sum() > 0
    assert torch.isfinite(za.grad).all() and torch.isfinite(zb.grad).all()


def test_frame_loss_symmetric_and_aligned_lower():
    B, T, D = 3, 4, 8
    za, zb = randn(B, T, D, seed=17), randn(B, T, D, seed=18)
    t = torch.arange(T)[None].repeat(B, 1)
    loss = FrameInfoNCELoss(0.1)
    assert float(loss(za, zb, t, t)) == pytest.approx(float(loss(zb, za, t, t)), rel=1e-6)
    aligned = za + 0.05 * zb
    shuffled = aligned[:, torch.tensor([1, 2, 3, 0])]
    assert float(loss(za, aligned, t, t)) < float(loss(za, shuffled, t, t))


def test_frame_loss_duplicate_timestamps_sum_in_numerator():
    za, zb = randn(1, 3, 4, seed=19), randn(1, 4, 4, seed=20)
    ta = torch.tensor([[0, 1, 2]])
    tb = torch.tensor([[0, 0, 1, 1]])  # frames repeated (e.g. frame-rate upsampling)
    assert float(FrameInfoNCELoss(0.2)(za, zb, ta, tb)) == pytest.approx(frame_loop(za, zb, ta, tb, 0.2), rel=1e-5)


def test_frame_loss_without_positives_is_zero_with_grad(caplog):
    za, zb = randn(2, 3, 4, seed=21).requires_grad_(True), randn(2, 3, 4, seed=22).requires_grad_(True)
    ta, tb = torch.arange(3)[None].repeat(2, 1), torch.arange(3)[None].repeat(2, 1) + 10
    loss = FrameInfoNCELoss(0.1)
    with caplog.at_level(logging.WARNING, logger="crossvideo_kedro.losses"):
        value = loss(za, zb, ta, tb)
        loss(za, zb, ta, tb)
    assert float(value.detach()) == 0.0
    value.backward()
    assert torch.equal(za.grad, torch.zeros_like(za)) and zb.grad is not None
    assert sum("no frame" in r.message for r in caplog.records) == 1  # warned once


def test_frame_loss_bad_shapes():
    with pytest.raises(ValueError, match="tb must have shape"):
        FrameInfoNCELoss()(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.zeros(2, 4))


# ---------------------------------------------------------------- CrossVideoLoss


def crossvideo(weights=None, temperatures=None, **params) -> CrossVideoLoss:
    """The objective of a ``pretrain.loss`` block (``weights``/``temperatures`` left out when None)."""
    given = {k: v for k, v in (("weights", weights), ("temperatures", temperatures)) if v is not None}
    return CrossVideoLoss(parse(LossConfig, {**given, **params}, "pretrain.loss"))


def embeddings(B=4, T=5, D=8, seed=0, image_views=2):
    """A model-output dict: two point views, image views aligned with them frame by frame."""
    g = torch.Generator().manual_seed(seed)
    unit = lambda *s: F.normalize(torch.randn(*s, generator=g), dim=-1)  # noqa: E731
    times = torch.stack([torch.arange(T), torch.arange(T) + 2])[:, None].repeat(1, B, 1)  # (2, B, T)
    out = {"point_video": unit(2, B, D), "point_frame": unit(2, B, T, D), "point_times": times}
    iv = (image_views, B) if image_views == 2 else (B,)
    out.update(image_video=unit(*iv, D), image_frame=unit(*iv, T, D),
               image_times=times if image_views == 2 else times[0])
    L, h, w = 3, 3, 4  # cross_dense: L tokens per frame on (h, w) maps of the same views
    out.update(point_dense=unit(2, B, T, L, D), image_dense=torch.randn(2, B, T, D, h, w, generator=g),
               dense_uv=torch.rand(2, B, T, L, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0]),
               dense_valid=torch.rand(2, B, T, L, generator=g) > 0.2)
    return out


def test_crossvideo_loss_terms_match_components():
    out = embeddings()
    temps = {"intra_video": 0.1, "intra_frame": 0.2, "cross_video": 0.3, "cross_frame": 0.4,
             "image_intra_video": 0.5, "image_intra_frame": 0.6, "cross_dense": 0.7}
    weights = {"intra_video": 1.0, "intra_frame": 0.5, "cross_video": 2.0, "cross_frame": 0.25,
               "image_intra_video": 0.1, "image_intra_frame": 0.3, "cross_dense": 0.2}
    total, terms = crossvideo(weights, temps)(out)
    pv, pf, pt = out["point_video"], out["point_frame"], out["point_times"]
    iv, if_, it = out["image_video"], out["image_frame"], out["image_times"]
    mean = lambda x: F.normalize(x.mean(0), dim=-1)  # noqa: E731  (CrossPoint: mean of the views)
    expected = {
        "intra_video": ntxent_loop(pv[0], pv[1], 0.1),
        "intra_frame": frame_loop(pf[0], pf[1], pt[0], pt[1], 0.2),
        "cross_video": ntxent_loop(mean(pv), mean(iv), 0.3),
        "cross_frame": 0.5 * (frame_loop(pf[0], if_[1], pt[0], it[1], 0.4)  # each point view vs the other
                              + frame_loop(pf[1], if_[0], pt[1], it[0], 0.4)),  # view's images
        "image_intra_video": ntxent_loop(iv[0], iv[1], 0.5),
        "image_intra_frame": frame_loop(if_[0], if_[1], it[0], it[1], 0.6),
        "cross_dense": same_location_loop(out["point_dense"], out["image_dense"], out["dense_uv"],
                                          out["dense_valid"], 0.7),
    }
    assert set(terms) == set(TERMS)
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(value, rel=1e-5), name
    assert float(total) == pytest.approx(sum(weights[k] * v for k, v in expected.items()), rel=1e-5)


def test_crossvideo_loss_single_image_view_matches_by_timestamp():
    out = embeddings(image_views=1)
    _, terms = crossvideo({"cross_video": 1.0, "cross_frame": 1.0}, 0.2)(out)
    pf, pt = out["point_frame"], out["point_times"]
    expected = 0.5 * sum(frame_loop(pf[v], out["image_frame"], pt[v], out["image_times"], 0.2) for v in (0, 1))
    assert float(terms["cross_frame"]) == pytest.approx(expected, rel=1e-5)
    pv = F.normalize(out["point_video"].mean(0), dim=-1)
    assert float(terms["cross_video"]) == pytest.approx(ntxent_loop(pv, out["image_video"], 0.2), rel=1e-5)


def test_crossvideo_loss_passes_masks():
    out = embeddings()
    valid = torch.ones(2, 4, 5, dtype=torch.bool)
    valid[0, 1, 3:] = False
    out["point_valid"] = valid
    _, terms = crossvideo({"intra_frame": 1.0})(out)
    pf, pt = out["point_frame"], out["point_times"]
    assert float(terms["intra_frame"]) == pytest.approx(
        frame_loop(pf[0], pf[1], pt[0], pt[1], 0.1, valid[0], valid[1]), rel=1e-5)


def test_zero_weight_removes_term_and_its_inputs():
    out = embeddings()
    intra_only = {k: out[k] for k in ("point_video", "point_frame", "point_times")}  # no image keys at all
    loss = crossvideo({"intra_video": 1.0, "intra_frame": 1.0, "cross_video": 0.0, "cross_frame": 0})
    total, terms = loss(intra_only)
    assert set(terms) == {"intra_video", "intra_frame"}
    assert loss.required_inputs == ("point_frame", "point_times", "point_video")
    assert float(total) == pytest.approx(float(terms["intra_video"] + terms["intra_frame"]))
    video_only = crossvideo({"intra_video": 1.0, "cross_video": 2.0})
    total, terms = video_only({"point_video": out["point_video"], "image_video": out["image_video"]})
    assert set(terms) == {"intra_video", "cross_video"}
    assert float(total) == pytest.approx(float(terms["intra_video"] + 2 * terms["cross_video"]))


def test_default_weights_and_missing_inputs():
    loss = CrossVideoLoss()
    assert crossvideo().active == loss.active  # the block's defaults
    assert loss.active == ("intra_video", "intra_frame", "cross_video", "cross_frame")
    out = embeddings()
    del out["image_frame"]
    with pytest.raises(ValueError, match="image_frame.*cross_frame"):
        loss(out)


def test_crossvideo_loss_gradients_reach_every_input():
    out = {k: (v.clone().requires_grad_(True) if v.is_floating_point() else v) for k, v in embeddings().items()}
    total, _ = crossvideo({name: 1.0 for name in TERMS})(out)
    total.backward()
    for key in ("point_video", "point_frame", "image_video", "image_frame", "point_dense", "image_dense"):
        assert out[key].grad is not None and out[key].grad.abs().sum() > 0, key


TERM_NAMES = str(list(TERMS)).replace("[", r"\[").replace("]", r"\]")


@pytest.mark.parametrize(
    "params,message",
    [
        ({"weights": {"intra_vid": 1.0}},
         r"unknown parameter\(s\) \['pretrain.loss.weights.intra_vid'\] \('intra_vid': did you mean 'intra_video'\?\); "
         rf"expected {TERM_NAMES}"),
        ({"weights": {"intra_video": 1.0}, "temperatures": {"crossvideo": 0.1}},
         r"unknown parameter\(s\) \['pretrain.loss.temperatures.crossvideo'\]"),
        ({"weights": {"intra_video": -1.0}}, r"pretrain.loss.weights.intra_video must be >= 0, got -1.0"),
        ({"weights": {"intra_video": float("inf")}},
         "pretrain.loss.weights.intra_video must be a finite number, got inf"),
        ({"weights": {"intra_video": "1"}}, "pretrain.loss.weights.intra_video must be a finite number, got '1'"),
        ({"weights": {"intra_video": 1.0}, "temperatures": {"cross_video": 0.0}},
         "pretrain.loss.temperatures.cross_video must be > 0, got 0.0"),
        ({"weights": {"intra_video": 1.0}, "temperatures": -1.0},
         r"pretrain.loss.temperatures must be a finite number > 0 \(one for every term\) or a mapping"),
        ({"weights": {"intra_video": 0.0, "cross_video": 0}},
         rf"pretrain.loss.weights are all 0: give at least one of {TERM_NAMES} a weight > 0"),
        ({"weights": {}}, "pretrain.loss.weights are all 0"),
        ({"cross_negatives": "clip"}, r"pretrain.loss.cross_negatives must be one of \['both', 'other'\], got 'clip'"),
    ],
)
def test_a_bad_loss_block_is_one_line_naming_the_key(params, message):
    with pytest.raises(ValueError, match=message) as error:
        parse(LossConfig, params, "pretrain.loss")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=message):
        parse(PretrainConfig, {"loss": params}, "pretrain")  # the same line inside the pretrain block


def test_a_loss_block_keeps_what_it_was_given_and_the_objective_fills_in_the_rest():
    config = parse(LossConfig, {"weights": {"cross_video": 2, "intra_frame": 0.5}, "temperatures": 0.2},
                   "pretrain.loss")
    assert config.temperatures == dict.fromkeys(TERMS, 0.2)  # one number: every term
    loss = CrossVideoLoss(config)
    assert loss.weights == {**dict.fromkeys(TERMS, 0.0), "cross_video": 2.0, "intra_frame": 0.5}
    assert loss.active == ("intra_frame", "cross_video")
    assert crossvideo({"intra_video": 1.0}, {"intra_video": 0.3}).temperatures == {**dict.fromkeys(TERMS, 0.1),
                                                                                   "intra_video": 0.3}


def test_image_intra_needs_two_image_views():
    with pytest.raises(ValueError, match="two views"):
        crossvideo({"image_intra_video": 1.0})(embeddings(image_views=1))


# ------------------------------------------------------------------ groups: clips of one sequence are never negatives


def ntxent_group_loop(a, b, groups, tau) -> float:
    """SimCLR's loop with the samples of the anchor's own group (other than its positive) left out."""
    z = F.normalize(torch.cat([a, b]), dim=1).double()
    g = torch.cat([groups, groups])
    n, B = len(z), len(a)
    total = 0.0
    for i in range(n):
        j = (i + B) % n
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n) if k != i and (k == j or g[k] != g[i]))
        total += -math.log(math.exp(float(z[i] @ z[j]) / tau) / denom)
    return total / n


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_ntxent_groups_mask_same_sequence_negatives(tau):
    torch.manual_seed(0)
    a, b = torch.randn(6, 8), torch.randn(6, 8)
    groups = torch.tensor([0, 0, 1, 2, 2, 2])
    assert float(NTXentLoss(tau)(a, b, groups)) == pytest.approx(ntxent_group_loop(a, b, groups, tau), rel=1e-6)
    distinct = torch.arange(6)
    assert float(NTXentLoss(tau)(a, b, distinct)) == pytest.approx(ntxent_loop(a, b, tau), rel=1e-6)
    # two clips of one sequence that look the same: a negative without groups, ignored with them
    b2 = b.clone()
    b2[1] = a[0]
    assert float(NTXentLoss(tau)(a, b2, groups)) < float(NTXentLoss(tau)(a, b2))


def test_frame_infonce_groups_make_the_same_moment_a_positive_across_clips():
    """Clips 0 and 1 are cut from one sequence and share global frame key 5: a positive, never a negative."""
    torch.manual_seed(1)
    za, zb = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    ta = torch.tensor([[3, 4, 5], [5, 6, 7]])
    tb = torch.tensor([[4, 5, 6], [6, 7, 8]])
    loss = FrameInfoNCELoss(0.2)
    plain = loss(za, zb, ta, tb)
    plain_rows = loss.last_positive_rows
    grouped = loss(za, zb, ta, tb, groups=torch.tensor([0, 0]))
    assert loss.last_positive_rows > plain_rows  # frame (0, 5) now also matches clip 1's frame 5, and back
    assert plain_rows == 2 * 2 + 2 * 2  # ta∩tb per clip: {4, 5} and {6, 7}, both directions
    assert float(grouped) != pytest.approx(float(plain))
    # the naive definition with clip identity replaced by group identity
    za_flat, zb_flat = F.normalize(za, dim=-1).reshape(-1, 4), F.normalize(zb, dim=-1).reshape(-1, 4)
    ka, kb = ta.reshape(-1), tb.reshape(-1)
    logits = za_flat @ zb_flat.T / 0.2
    pos = ka[:, None] == kb[None]
    rows = pos.any(1)
    one_way = lambda lg, p, r: (lg[r].logsumexp(1) - lg[r].masked_fill(~p[r], -math.inf).logsumexp(1)).mean()  # noqa: E731
    expected = 0.5 * (one_way(logits, pos, rows) + one_way(logits.T, pos.T, pos.T.any(1)))
    assert float(grouped) == pytest.approx(float(expected), rel=1e-5)


def test_crossvideo_loss_reports_the_positives_it_used():
    out = embeddings()
    loss = crossvideo({"intra_frame": 1.0, "cross_frame": 1.0})
    loss(out)
    assert set(loss.positives) == {"intra_frame", "cross_frame"}
    assert loss.positives["intra_frame"] > 0 and loss.positives["cross_frame"] > 0


def test_cross_negatives_other_uses_the_clip_style_loss_with_groups():
    out = embeddings()
    both = crossvideo({"cross_video": 1.0}, 0.2)
    other = crossvideo({"cross_video": 1.0}, 0.2, cross_negatives="other")
    point = F.normalize(F.normalize(out["point_video"], dim=-1).mean(0), dim=-1)
    image = F.normalize(F.normalize(out["image_video"], dim=-1).mean(0), dim=-1)
    assert float(other(out)[1]["cross_video"]) == pytest.approx(clip_loop(point, image, 0.2), rel=1e-5)
    assert float(both(out)[1]["cross_video"]) == pytest.approx(ntxent_loop(point, image, 0.2), rel=1e-5)
    # a gap between the modalities: every point near every other point, each image near its own point only
    gap = {"point_video": torch.stack([torch.eye(4)[0] + 0.01 * torch.randn(6, 4)] * 2),
           "image_video": torch.stack([torch.eye(4)[1] + 0.3 * torch.randn(6, 4)] * 2)}
    assert float(both(gap)[1]["cross_video"]) > math.log(11)  # above chance: same-modality negatives dominate
    groups = torch.tensor([0, 0, 1, 2])
    masked = CrossModalNTXentLoss(0.2)(point, image, groups)
    assert float(masked) < float(CrossModalNTXentLoss(0.2)(point, image))
