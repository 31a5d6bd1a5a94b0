"""Padding, norm selection and residual blocks against hand-computed expectations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from drnet.layers import BasicBlock, Bottleneck, get_norm_layer, get_padding, make_downsample


@pytest.mark.parametrize(("kernel", "dilation", "expected"),
                         [(1, 1, 0), (3, 1, 1), (3, 2, 2), (3, 4, 4), (5, 3, 6), (7, 1, 3)])
def test_get_padding_keeps_size(kernel: int, dilation: int, expected: int) -> None:
    assert get_padding(kernel, dilation) == expected
    conv = nn.Conv2d(1, 1, kernel, padding=expected, dilation=dilation)
    assert conv(torch.zeros(1, 1, 11, 13)).shape[-2:] == (11, 13)


def test_get_padding_rejects_even_span() -> None:
    with pytest.raises(ValueError, match="odd effective kernel"):
        get_padding(2, 1)
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        get_padding(3, 0)


@pytest.mark.parametrize(("name", "cls"), [("batchnorm", nn.BatchNorm2d), ("bn", nn.BatchNorm2d),
                                           ("syncbn", nn.SyncBatchNorm),
                                           ("frozenbn", FrozenBatchNorm2d), ("gn", nn.GroupNorm)])
def test_norm_by_name(name: str, cls: type) -> None:
    assert isinstance(get_norm_layer(name)(64), cls)


def test_groupnorm_fits_small_channel_counts() -> None:
    assert get_norm_layer("gn")(16).num_groups == 16
    assert get_norm_layer("gn")(512).num_groups == 32
    assert get_norm_layer("gn8")(64).num_groups == 8
    with pytest.raises(ValueError, match="norm_layer must be one of"):
        get_norm_layer("layernorm")


def _basic_reference(block: BasicBlock, x: torch.Tensor, residual: bool) -> torch.Tensor:
    c1, c2 = block.conv1, block.conv2
    out = F.relu(block.bn1(F.conv2d(x, c1.weight, None, c1.stride, c1.padding, c1.dilation)))
    out = block.bn2(F.conv2d(out, c2.weight, None, 1, c2.padding, c2.dilation))
    if residual:
        out = out + (x if block.downsample is None else block.downsample(x))
    return F.relu(out)


@pytest.mark.parametrize("residual", [True, False])
def test_basic_block_dilation_and_residual(residual: bool) -> None:
    block = BasicBlock(8, 8, dilation=4, first_dilation=2, residual=residual).eval()
    assert (block.conv1.dilation, block.conv1.padding) == ((2, 2), (2, 2))
    assert (block.conv2.dilation, block.conv2.padding) == ((4, 4), (4, 4))
    x = torch.randn(2, 8, 15, 17)
    torch.testing.assert_close(block(x), _basic_reference(block, x, residual))


def test_bottleneck_honours_residual_flag() -> None:
    x = torch.randn(2, 64, 9, 9)
    with_res = Bottleneck(64, 16, dilation=2).eval()
    without = Bottleneck(64, 16, dilation=2, residual=False).eval()
    without.load_state_dict(with_res.state_dict())
    branch = without(x)  # relu(branch) only
    assert with_res.conv2.dilation == (2, 2)
    m = with_res
    branch_ref = m.bn3(m.conv3(F.relu(m.bn2(m.conv2(F.relu(m.bn1(m.conv1(x))))))))
    torch.testing.assert_close(with_res(x), F.relu(branch_ref + x))
    torch.testing.assert_close(branch, F.relu(branch_ref))
    assert not torch.allclose(branch, with_res(x))


def test_strided_blocks_and_downsample_shapes() -> None:
    x = torch.randn(2, 32, 15, 16)
    down = make_downsample(32, 256, 2, nn.BatchNorm2d)
    assert Bottleneck(32, 64, 2, down)(x).shape == (2, 256, 8, 8)
    block = BasicBlock(32, 64, 2, make_downsample(32, 64, 2, nn.BatchNorm2d))
    assert block(x).shape == (2, 64, 8, 8)


def test_block_rejects_downsample_without_residual() -> None:
    with pytest.raises(ValueError, match="residual=False"):
        BasicBlock(8, 16, downsample=make_downsample(8, 16, 1, nn.BatchNorm2d), residual=False)


def test_zero_init_last_zeroes_the_branch() -> None:
    block = Bottleneck(64, 16).eval()
    block.zero_init_last()
    x = torch.randn(1, 64, 5, 5)
    torch.testing.assert_close(block(x), F.relu(x))
