"""drnet backbones as segmentation_models_pytorch (SMP) encoders, through timm's registry.

SMP takes any timm model as an encoder (``encoder_name="tu-<timm name>"``), so after
``import drnet.integrations.timm`` every SMP architecture builds on drnet's exact backbones::

    smp.DeepLabV3("tu-drnet_resnet50", encoder_output_stride=8)     # exact à trous ResNet-50
    smp.DeepLabV3("tu-drnet_drn_d_22_os32", encoder_output_stride=8)  # the published DRN-D-22
    smp.Unet("tu-drnet_drn_d_22_os32")                                # DRN-D-22 strided to 32

SMP probes an encoder's levels at its default output stride and needs them to halve at every
level (2, 4, ..., 32, or 1, 2, ..., 32); the published DRNs stop striding at 8, hence the
``_os32`` names (:func:`encoder_name` picks the right one). Most SMP architectures refuse inputs
their encoder's output stride does not divide; :class:`PadToMultiple` predicts at any size.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.integrations.timm import PREFIX, PYRAMID_SUFFIX, list_timm_names

SMP_PREFIX = "tu-"


def encoder_name(backbone: str, tag: str | None = None) -> str:
    """SMP's ``encoder_name`` for a drnet backbone (``"resnet50"``, ``"drn_d_22"``): the ResNets
    as they are, the DRN-C/D through their ``_os32`` names; ``tag`` picks pretrained weights
    (``encoder_name("drn_d_22", "imagenet1k")`` -> ``"tu-drnet_drn_d_22_os32.imagenet1k"``, with
    ``encoder_weights=True``)."""
    name = backbone.removeprefix(SMP_PREFIX).removeprefix(PREFIX).removesuffix(PYRAMID_SUFFIX)
    if name == "drn_a_50":
        raise DrnetValueError("backbone drn_a_50 exists only at output stride 8, where SMP cannot "
                              "probe its levels: use 'resnet50' with encoder_output_stride=8 (the "
                              "same ImageNet weights, dilation placed exactly)")
    names = list_timm_names()
    for candidate in (PREFIX + name + PYRAMID_SUFFIX, PREFIX + name):
        if candidate in names:
            return SMP_PREFIX + candidate + (f".{tag}" if tag else "")
    backbones = dict.fromkeys(n.removeprefix(PREFIX).removesuffix(PYRAMID_SUFFIX) for n in names
                              if n != PREFIX + "drn_a_50")
    raise DrnetValueError(f"backbone must be a drnet backbone ({', '.join(backbones)}), got "
                          f"{backbone!r}")


class PadToMultiple(nn.Module):
    """Run ``model`` on its input zero-padded at the bottom and right to a multiple of
    ``multiple`` and crop its output back, so SMP models predict at any (odd) input size.

    ``multiple`` defaults to the SMP encoder's ``output_stride`` (what SMP checks). Zeros are the
    mean colour once inputs are normalised. A ``(masks, labels)`` output (SMP's ``aux_params``)
    has its masks cropped.
    """

    def __init__(self, model: nn.Module, multiple: int | None = None) -> None:
        super().__init__()
        if multiple is None:
            multiple = getattr(getattr(model, "encoder", None), "output_stride", None)
        if not isinstance(multiple, int) or multiple < 1:
            raise DrnetValueError("multiple must be an int >= 1 (or model an SMP model with "
                                  f"encoder.output_stride), got {multiple!r}")
        self.model = model
        self.multiple = multiple

    def forward(self, x: Tensor) -> Any:
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        out = self.model(F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x)
        if isinstance(out, tuple):
            return (out[0][..., :height, :width], *out[1:])
        return out[..., :height, :width]
