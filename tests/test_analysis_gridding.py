"""Gridding of networks: hand-computed offsets, confirmed by backpropagation."""

from __future__ import annotations

import torch
from torch import nn

from drnet import create_model
from drnet.analysis import gradient_field, gridding, receptive_field


def dilated(*rates: int) -> nn.Sequential:
    return nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=r, dilation=r) for r in rates])


def test_constant_rate_stack_has_holes_and_hybrid_rates_do_not() -> None:
    # One stage each. Three 3x3 convs at dilation 2 read {-2, 0, 2} three times: even offsets
    # in [-6, 6]. Rates 1, 2, 5 reach every offset of [-8, 8] (HDC, Wang et al. 2018).
    model = nn.Sequential(dilated(2, 2, 2), dilated(1, 2, 5))
    report = receptive_field(model, 48, in_chans=2)
    naive, hybrid = gridding(report).stages
    assert naive.rows.offsets() == tuple(range(-6, 7, 2))
    assert naive.holes == ((-5, -3, -1, 1, 3, 5), (-5, -3, -1, 1, 3, 5))
    assert not naive.ok
    assert naive.coverage == (7 / 13) ** 2
    assert hybrid.rows.offsets() == tuple(range(-8, 9))
    assert hybrid.ok
    assert naive.dilations == ((2,),)
    assert hybrid.dilations == ((1, 2, 5),)


def test_backpropagation_reads_the_same_offsets() -> None:
    for rates in ((2, 2, 2), (1, 2, 5), (1, 4)):
        model = dilated(*rates)
        offsets = receptive_field(model, 31, in_chans=2, stages=[str(len(rates) - 1)]
                                  ).stages[0].cols.offsets()
        field = gradient_field(model, 31, in_chans=2)
        centre = field.position[1]
        assert tuple(c - centre for c in field.cols) == offsets, rates


def test_drn_degridding_stages_remove_the_holes() -> None:
    with torch.device("meta"):
        model = create_model("drn_d_22")
    grid = gridding(receptive_field(model, 64))
    stages = {row.name: row for row in grid.stages}
    # Stage 5: two BasicBlocks at dilation 2 -> even offsets to +-8; stage 6 at dilation 4 ->
    # multiples of 4 to +-16; stage 7: one conv at dilation 2; stage 8: one at dilation 1.
    assert stages["layer5"].rows.offsets() == tuple(range(-8, 9, 2))
    assert stages["layer6"].rows.offsets() == tuple(range(-16, 17, 4))
    assert stages["layer7"].rows.offsets() == (-2, 0, 2)
    assert stages["layer8"].ok
    cumulative = {row.name: row for row in grid.dilated}
    assert list(cumulative) == ["layer5", "layer5-layer6", "layer5-layer7", "layer5-layer8"]
    # Through stage 7 only even offsets (8 + 16 + 2 = 26); stage 8's +-1 fills every hole.
    assert cumulative["layer5-layer7"].rows.offsets() == tuple(range(-26, 27, 2))
    assert cumulative["layer5-layer8"].rows.offsets() == tuple(range(-27, 28))
    assert grid.dilated_part is cumulative["layer5-layer8"]
    assert grid.dilated_part.ok


def test_drn_c_degridding_and_a_constant_rate_resnet_stage() -> None:
    with torch.device("meta"):
        drn_c = create_model("drn_c_26")
        resnet = create_model("resnet50", output_stride=8)
    grid = gridding(receptive_field(drn_c, 64))
    # C-26: stage 7 and 8 are BasicBlocks without residual: two convs each (+-4, +-2).
    assert grid.dilated_part.rows.offsets() == tuple(range(-(8 + 16 + 4 + 2), 8 + 16 + 4 + 3))
    assert not {r.name: r for r in grid.dilated}["layer5-layer7"].ok
    # ResNet-50 at OS 8: layer4 is 3x3s at dilation 2, 4, 4 -> even offsets to +-10.
    layer4 = {r.name: r for r in gridding(receptive_field(resnet, 64)).stages}["layer4"]
    assert layer4.rows.offsets() == tuple(range(-10, 11, 2))
    assert layer4.dilations == ((2, 4),)


def test_drn_dilated_part_confirmed_by_backpropagation() -> None:
    # Stages 5-8 of DRN-D-22 run on their own input (128 channels at 1/8 resolution); the
    # centre output's gradient must be non-zero at exactly the offsets -27..27 along a row.
    model = create_model("drn_d_22")
    part = nn.Sequential(*(getattr(model, f"layer{i}") for i in range(5, 9)))
    field = gradient_field(part, (1, 61), in_chans=128, dtype=torch.float32)
    centre = field.position[1]
    assert tuple(c - centre for c in field.cols) == tuple(range(-27, 28))
    part7 = nn.Sequential(*(getattr(model, f"layer{i}") for i in range(5, 8)))
    field = gradient_field(part7, (1, 61), in_chans=128, dtype=torch.float32)
    assert tuple(c - field.position[1] for c in field.cols) == tuple(range(-26, 27, 2))
