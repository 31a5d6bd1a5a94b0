"""Building blocks: padding, normalisation and residual blocks with dilation."""

from drnet.layers.blocks import BasicBlock, Bottleneck, conv1x1, conv3x3, make_downsample
from drnet.layers.norm import GroupNorm, NormLayer, get_norm_layer
from drnet.layers.padding import get_padding

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "GroupNorm",
    "NormLayer",
    "conv1x1",
    "conv3x3",
    "get_norm_layer",
    "get_padding",
    "make_downsample",
]
from drnet.layers.upsample import BilinearUpsample, TransposedBilinearUpsample, bilinear_kernel

__all__ += ["BilinearUpsample", "TransposedBilinearUpsample", "bilinear_kernel"]
