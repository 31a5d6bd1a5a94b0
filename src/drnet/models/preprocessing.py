"""What a model's weights expect of their input: normalisation, and class names and colours.

Weights are only correct with the preprocessing they were trained with: the official DRN
Cityscapes models use the statistics of their data set's ``info.json``, torchvision's ResNets
ImageNet's. A :class:`Preprocessing` travels with the weights (``model.preprocessing``, like
torchvision's ``Weights.transforms()`` and timm's ``pretrained_cfg``) and is what every path of
drnet uses: the Python API, the data modules of ``drnet fit/validate/test/predict``, the
checkpoints ``drnet fit`` writes and the metadata of ``drnet export``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from drnet.errors import DrnetTypeError, DrnetValueError

Stats = tuple[float, float, float]
Colour = tuple[int, int, int]

IMAGENET_MEAN: Stats = (0.485, 0.456, 0.406)
IMAGENET_STD: Stats = (0.229, 0.224, 0.225)
# The official DRN Cityscapes info.json (fyu/drn, datasets/cityscapes/info.json), every digit.
CITYSCAPES_MEAN: Stats = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
CITYSCAPES_STD: Stats = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)


def _cityscapes_table() -> tuple[list[str], list[Colour]]:
    """The 19 evaluated classes in train-id order, from torchvision's copy of cityscapesScripts'
    ``labels.py``."""
    from torchvision.datasets import Cityscapes

    classes = sorted((c for c in Cityscapes.classes if 0 <= c.train_id < 255),
                     key=lambda c: c.train_id)
    return [c.name for c in classes], [tuple(c.color) for c in classes]


CITYSCAPES_CLASSES, CITYSCAPES_PALETTE = _cityscapes_table()


@dataclass(frozen=True)
class Preprocessing:
    """Input normalisation (``(x / 255 - mean) / std`` per RGB channel) and, where the weights
    define them, class names and colours. ``source`` says where it comes from, for messages."""

    mean: Stats
    std: Stats
    class_names: tuple[str, ...] | None = None
    palette: tuple[Colour, ...] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        mean = tuple(float(m) for m in self.mean)
        std = tuple(float(s) for s in self.std)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise DrnetValueError(f"preprocessing needs 3 means and 3 stds > 0, got {mean}, "
                                  f"{std}{f' ({self.source})' if self.source else ''}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        if self.palette is not None:
            object.__setattr__(self, "palette",
                               tuple(tuple(int(v) for v in c) for c in self.palette))

    def normalize(self, image: Tensor) -> Tensor:
        """``(image - mean) / std`` for float images in [0, 1], shaped (..., 3, H, W)."""
        mean = torch.tensor(self.mean, dtype=image.dtype, device=image.device).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype, device=image.device).view(3, 1, 1)
        return (image - mean) / std

    def transforms(self) -> v2.Compose:
        """A torchvision v2 pipeline: PIL image / uint8 tensor / array -> normalised float
        tensor (3, H, W), bit for bit the official DRN test transform (``ToTensor`` then
        ``Normalize``)."""
        return v2.Compose([v2.ToImage(), UnitFloat(),
                           v2.Normalize(mean=list(self.mean), std=list(self.std))])

    def same_statistics(self, mean: Sequence[float], std: Sequence[float],
                        tol: float = 1e-6) -> bool:
        """Whether ``mean``/``std`` are these statistics (to ``tol``: JSON keeps ~17 digits)."""
        return all(abs(a - float(b)) <= tol for a, b in zip(
            (*self.mean, *self.std), (*mean, *std), strict=True))

    def with_source(self, source: str) -> Preprocessing:
        return replace(self, source=source)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and strings: safe in a ``weights_only`` checkpoint and in JSON."""
        return {"mean": list(self.mean), "std": list(self.std),
                "class_names": None if self.class_names is None else list(self.class_names),
                "palette": None if self.palette is None else [list(c) for c in self.palette],
                "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        return cls(tuple(data["mean"]), tuple(data["std"]),
                   None if data.get("class_names") is None else tuple(data["class_names"]),
                   None if data.get("palette") is None else tuple(
                       tuple(c) for c in data["palette"]),
                   str(data.get("source") or ""))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def describe(mean: Sequence[float], std: Sequence[float]) -> str:
    """``mean (0.485, 0.456, 0.406) std (0.229, 0.224, 0.225)`` with 4 decimals, for messages."""
    def fmt(values: Sequence[float]) -> str:
        return "(" + ", ".join(f"{float(v):.4f}" for v in values) + ")"
    return f"mean {fmt(mean)} std {fmt(std)}"



class UnitFloat(v2.Transform):
    """uint8 images -> float32 in [0, 1] by *dividing* by 255, as ``ToTensor`` does.

    ``v2.ToDtype(scale=True)`` multiplies by 1/255 instead, which differs in the last bit for
    some values: enough to flip the argmax of a near-tie, so official checkpoints would not give
    the official labels on every pixel. Float images are taken to be in [0, 1] already (as
    ``ToDtype`` does); other inputs (masks, boxes, paths) pass through.
    """

    _transformed_types = (tv_tensors.Image,)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if inpt.is_floating_point():
            return inpt.to(torch.float32)
        if inpt.dtype != torch.uint8:
            raise DrnetTypeError(f"expected a uint8 or float image, got {inpt.dtype}")
        return tv_tensors.wrap(inpt.to(torch.float32).div(255), like=inpt)
