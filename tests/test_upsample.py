"""Official DRN transposed-conv upsampling against the bilinear formula and F.interpolate."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from drnet.layers import BilinearUpsample, TransposedBilinearUpsample, bilinear_kernel


def test_kernel_matches_the_official_loop() -> None:
    f = 8
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    expected = torch.tensor([[(1 - math.fabs(i / f - c)) * (1 - math.fabs(j / f - c))
                              for j in range(16)] for i in range(16)])
    torch.testing.assert_close(bilinear_kernel(8), expected)


def test_transposed_equals_bilinear_away_from_the_border() -> None:
    x = torch.randn(2, 5, 12, 10)
    size = (96, 80)
    official = TransposedBilinearUpsample(5, 8)(x, size)
    plain = BilinearUpsample()(x, size)
    assert official.shape == plain.shape == (2, 5, 96, 80)
    # Both sample input position (o - 3.5) / 8; only the zero- vs edge-padding differs.
    torch.testing.assert_close(official[..., 8:-8, 8:-8], plain[..., 8:-8, 8:-8])
    assert not torch.allclose(official[..., :2, :], plain[..., :2, :])


def test_transposed_crops_to_odd_sizes_and_is_not_trained() -> None:
    up = TransposedBilinearUpsample(3, 8)
    assert up(torch.randn(1, 3, 13, 7), (97, 51)).shape == (1, 3, 97, 51)
    assert not list(up.parameters())
    assert "weight" in up.state_dict()
    reference = F.conv_transpose2d(torch.ones(1, 3, 4, 4), up.weight, stride=8, padding=4,
                                   groups=3)
    torch.testing.assert_close(up(torch.ones(1, 3, 4, 4), (32, 32)), reference)
