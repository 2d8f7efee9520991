"""The numbers of the position-shortcut tests of the dense term (tests/test_dense_loss.py), printed.

Point features from the augmented xyz alone (a linear map fitted to the positives of 40 scenes, random Fourier
features) and image features from the cell position alone, against random point features, on 20 held-out scenes
(the 20 clips of one batch), for both negative sets of ``cross_dense``:

    PYTHONPATH=src:. python benchmarks/dense_shortcut.py
"""

from __future__ import annotations

import torch

from crossvideo_kedro.losses import DensePixelLoss, PointPixelInfoNCE
from tests.test_dense_loss import DIM, FRAMES, _fourier, _position_image, _slot_scenes


def main() -> None:
    g = torch.Generator().manual_seed(0)
    flat = _position_image(torch.randn(3, DIM, generator=g))[0]  # (D, h, w)
    train_xyz, train_uv, _ = _slot_scenes(range(40))
    xyz, uv, valid = _slot_scenes(range(40, 60))
    image = flat[None, None, None].expand(1, xyz.shape[1], FRAMES, -1, -1, -1)
    targets = PointPixelInfoNCE().sample(flat[None], torch.zeros(train_uv[0].numel() // 2, dtype=torch.long),
                                         train_uv.reshape(-1, 2))
    to_point = torch.linalg.lstsq(train_xyz.reshape(-1, 4), targets).solution
    features = {"random": torch.randn(*xyz.shape[:-1], DIM, generator=g), "fitted linear xyz": xyz @ to_point,
                "random Fourier xyz": _fourier(xyz, 1),
                "fitted, shuffled in frame": (xyz @ to_point)[:, :, :, torch.randperm(xyz.shape[3], generator=g)]}
    for negatives in ("same_location", "batch"):
        loss = DensePixelLoss(0.1, negatives, mask_radius=1.0)
        values = ", ".join(f"{name} {float(loss(z, image, uv, valid)):.3f}" for name, z in features.items())
        print(f"{negatives:13s} (nats): {values}")


if __name__ == "__main__":
    main()
