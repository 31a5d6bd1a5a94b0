"""Residual blocks with per-conv dilation and an honoured ``residual`` flag.

Module and parameter names follow torchvision (``conv1``, ``bn1``, ``conv2``, ``bn2``,
``conv3``, ``bn3``, ``downsample``), which is also the official DRN layout, so both families of
checkpoints load without renaming.
"""

from __future__ import annotations

from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.layers.norm import NormLayer, get_norm_layer
from drnet.layers.padding import get_padding


def conv3x3(in_chs: int, out_chs: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias (a norm layer follows), padded to keep alignment."""
    return nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=get_padding(3, dilation),
                     dilation=dilation, bias=False)


def conv1x1(in_chs: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False)


def make_downsample(in_chs: int, out_chs: int, stride: int, norm_layer: NormLayer) -> nn.Sequential:
    """Projection shortcut (1x1 conv + norm), named ``downsample.0`` / ``.1`` as in torchvision."""
    return nn.Sequential(conv1x1(in_chs, out_chs, stride), norm_layer(out_chs))


class _Block(nn.Module):
    """Shared checks and shortcut logic of both block types."""

    expansion: int = 1
    last_norm: str = "bn2"

    def _init_shortcut(self, downsample: nn.Module | None, residual: bool) -> None:
        if downsample is not None and not residual:
            raise DrnetValueError("a block with residual=False has no shortcut, so downsample "
                                  "must be None")
        self.downsample = downsample
        self.residual = residual

    def _add_shortcut(self, out: Tensor, x: Tensor) -> Tensor:
        if self.residual:  # in place: no extra activation-sized buffer
            out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero (Goyal et al., 2017), if the norm has a weight."""
        weight = getattr(getattr(self, self.last_norm), "weight", None)
        if weight is not None:
            nn.init.zeros_(weight)


def _check(stride: int, dilation: int, first_dilation: int | None) -> int:
    if stride < 1 or dilation < 1 or (first_dilation is not None and first_dilation < 1):
        raise DrnetValueError(f"stride and dilations must be >= 1, got stride={stride}, "
                              f"dilation={dilation}, first_dilation={first_dilation}")
    return dilation if first_dilation is None else first_dilation


class BasicBlock(_Block):
    """Two 3x3 convs. ``first_dilation`` (default ``dilation``) applies to ``conv1``, the conv
    that carries the stride; ``dilation`` applies to ``conv2``.

    Giving the formerly strided conv the previous stage's dilation and every later conv the new
    one is what keeps output-stride conversion exact (design.md §3) -- the placement torchvision
    refuses ("Dilation > 1 not supported in BasicBlock").
    """

    expansion = 1
    last_norm = "bn2"

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, *, dilation: int = 1,
                 first_dilation: int | None = None, residual: bool = True,
                 norm_layer: NormLayer | str | None = None) -> None:
        super().__init__()
        first = _check(stride, dilation, first_dilation)
        norm = get_norm_layer(norm_layer)
        self.conv1 = conv3x3(inplanes, planes, stride, first)
        self.bn1 = norm(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, 1, dilation)
        self.bn2 = norm(planes)
        self._init_shortcut(downsample, residual)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self._add_shortcut(out, x)


class Bottleneck(_Block):
    """1x1 -> 3x3 -> 1x1 (x4 channels), stride on the 3x3 (ResNet v1.5, as torchvision and DRN).

    The single 3x3 conv uses ``first_dilation`` if given, else ``dilation``. Unlike the
    official DRN code, ``residual=False`` really removes the shortcut.
    """

    expansion = 4
    last_norm = "bn3"

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, *, dilation: int = 1,
                 first_dilation: int | None = None, residual: bool = True,
                 norm_layer: NormLayer | str | None = None) -> None:
        super().__init__()
        first = _check(stride, dilation, first_dilation)
        norm = get_norm_layer(norm_layer)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = norm(planes)
        self.conv2 = conv3x3(planes, planes, stride, first)
        self.bn2 = norm(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = norm(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self._init_shortcut(downsample, residual)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self._add_shortcut(out, x)
