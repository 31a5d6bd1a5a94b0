"""torchvision's model of the same architecture, loaded with a drnet model's weights.

``drnet bench --vs torchvision`` times both on the same input, so the ratio measures drnet's
execution, not different weights or layers. Only architectures that compute the same function
qualify; everything else is refused with the reason.
"""

from __future__ import annotations

import torchvision
from torch import Tensor, nn

from drnet.errors import DrnetError

# torchvision's replace_stride_with_dilation for each output stride (layer2, layer3, layer4).
_DILATE = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}
_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
_SEGMENTATION = ("deeplabv3_resnet50", "deeplabv3_resnet101", "fcn_resnet50", "fcn_resnet101")


class NotComparableError(DrnetError, ValueError):
    """torchvision has no model computing the same function; the message says why."""


class _OutOnly(nn.Module):
    """torchvision segmentation models return ``{"out": ...}``; drnet returns the tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)["out"]


def torchvision_twin(name: str, model: nn.Module) -> nn.Module:
    """torchvision's ``name`` holding ``model``'s weights (same output stride and classes)."""
    output_stride = getattr(model, "output_stride", None)
    num_classes = getattr(model, "num_classes", None)
    if name in _RESNETS:
        if output_stride != 32 and name in ("resnet18", "resnet34"):
            raise NotComparableError(
                f"torchvision's {name} has no dilated variant (BasicBlock refuses dilation), so "
                f"output_stride {output_stride} is not comparable")
        if not num_classes:
            raise NotComparableError("torchvision's ResNets always have a classifier; "
                                     "use num_classes > 0")
        twin = getattr(torchvision.models, name)(
            weights=None, num_classes=num_classes,
            replace_stride_with_dilation=_DILATE[output_stride])
        twin.load_state_dict(model.state_dict())  # identical key layout (design.md §3)
        return twin.eval()
    if name in _SEGMENTATION:
        if output_stride != 8 or getattr(model, "aux_head", None) is not None:
            raise NotComparableError(f"torchvision's {name} runs at output stride 8 without an "
                                     f"auxiliary head; got output_stride {output_stride}")
        builder = getattr(torchvision.models.segmentation, name)
        twin = builder(weights=None, weights_backbone=None, num_classes=num_classes,
                       aux_loss=False)
        twin.load_state_dict(_by_position(model.state_dict(), twin.state_dict()))
        return _OutOnly(twin).eval()
    raise NotComparableError(f"torchvision has no model with {name}'s architecture; comparable: "
                             f"{', '.join(_RESNETS)} (any output stride for 50-152), "
                             f"{', '.join(_SEGMENTATION)}")


def _by_position(source: dict[str, Tensor], target: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map ``source`` onto ``target``'s keys in registration order, checking every pair's shape
    and kind (weight, bias, running_mean, ...): the two models register layers in one order."""
    if len(source) != len(target):
        raise NotComparableError(f"{len(source)} tensors in drnet's state dict, {len(target)} in "
                                 f"torchvision's: the layers do not map one to one")
    mapped = {}
    for (key, value), (twin_key, twin_value) in zip(source.items(), target.items(), strict=True):
        if value.shape != twin_value.shape or key.rsplit(".", 1)[-1] != twin_key.rsplit(".", 1)[-1]:
            raise NotComparableError(f"drnet's {key} {tuple(value.shape)} does not map onto "
                                     f"torchvision's {twin_key} {tuple(twin_value.shape)}")
        mapped[twin_key] = value
    return mapped

