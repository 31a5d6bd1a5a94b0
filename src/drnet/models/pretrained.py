"""The known public checkpoints, and how ``pretrained=`` resolves to one of them or a file.

ResNet records come from torchvision's own weight enums (URL, ImageNet metrics, parameter
count), so they stay in step with torchvision. DRN records point at the official fyu/drn files.
File names carry the first hex digits of the file's SHA-256, checked on every use; the official
Cityscapes files carry none, so the digest of the first file that loads strictly is recorded and
checked from then on (see :mod:`drnet.models.sources`).
Each record also says how its inputs must be preprocessed (:attr:`PretrainedWeights.preprocessing`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from torchvision.models import ResNet50_Weights, get_model_weights

from drnet.errors import DrnetValueError
from drnet.models.preprocessing import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_MEAN,
    CITYSCAPES_PALETTE,
    CITYSCAPES_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
)

# The 1000 ImageNet classes in the order of every ImageNet-1k checkpoint (sorted WordNet ids).
IMAGENET_CLASSES: tuple[str, ...] = tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
_DRN_ROOT = "http://dl.yf.io/drn/"
# The older official host, same file names: the second place tried (fyu/drn history).
_DRN_MIRROR = "https://tigress-web.princeton.edu/~fy/drn/models/"
_HASH = re.compile(r"-([a-f0-9]{6,})\.")


@dataclass(frozen=True)
class PretrainedWeights:
    """One public checkpoint for one registered model."""

    model: str
    tag: str
    url: str
    num_classes: int
    source: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    overrides: Mapping[str, Any] = field(default_factory=dict)  # builder arguments it needs
    mirrors: tuple[str, ...] = ()  # tried after ``url``, in order (same file name or not)
    sha256: str | None = None  # the full digest, where one is published
    class_names: tuple[str, ...] | None = None
    palette: tuple[tuple[int, int, int], ...] | None = None

    @property
    def preprocessing(self) -> Preprocessing:
        """The normalisation (and classes) these weights were trained with."""
        return Preprocessing(self.mean, self.std, self.class_names, self.palette,
                             f"{self.model} {self.tag} weights ({self.source})")

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors)

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str | None:
        match = _HASH.search(self.file_name)
        return match[1] if match else None


def _torchvision_records() -> list[PretrainedWeights]:
    records = []
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        for weights in get_model_weights(name):
            metrics = weights.meta["_metrics"]["ImageNet-1K"]
            tag = weights.name.lower()  # imagenet1k_v1 / imagenet1k_v2
            source = f"torchvision {type(weights).__name__}.{weights.name}"
            records.append(PretrainedWeights(
                name, tag, weights.url, 1000, source,
                {"imagenet_top1": metrics["acc@1"], "imagenet_top5": metrics["acc@5"]},
                class_names=tuple(weights.meta["categories"])))
            if name == "resnet50" and weights.name == "IMAGENET1K_V1":
                # What the official drn_a_50(pretrained=True) loads: ResNet-50 weights.
                records.append(PretrainedWeights(
                    "drn_a_50", "resnet50_imagenet1k_v1", weights.url, 1000, source,
                    class_names=IMAGENET_CLASSES))
    return records


# (model, published ImageNet top-1 error) -- fyu/drn README.
_DRN_IMAGENET = {
    "drn_c_26": ("ddedf421", 24.9), "drn_c_42": ("9d336e8c", 22.9), "drn_c_58": ("0a53a92c", 21.7),
    "drn_d_22": ("4bd2f8ea", 25.8), "drn_d_38": ("eebb45f0", 23.8), "drn_d_54": ("0e0534ff", 21.2),
    "drn_d_105": ("12b40979", 20.6),
}
_DRN_CITYSCAPES = {"drn_d_22": 68.0, "drn_d_38": 71.4, "drn_d_105": 75.6}


def _drn_records() -> list[PretrainedWeights]:
    records = [
        PretrainedWeights(name, "imagenet1k", f"{_DRN_ROOT}{name}-{digest}.pth", 1000,
                          "fyu/drn (official)", {"imagenet_top1": round(100 - err, 1)},
                          mirrors=(f"{_DRN_MIRROR}{name}-{digest}.pth",),
                          class_names=IMAGENET_CLASSES)
        for name, (digest, err) in _DRN_IMAGENET.items()
    ]
    records += [
        PretrainedWeights(f"drnseg_{name.removeprefix('drn_')}", "cityscapes",
                          f"{_DRN_ROOT}{name}_cityscapes.pth", 19, "fyu/drn (official)",
                          {"cityscapes_val_miou": miou}, CITYSCAPES_MEAN, CITYSCAPES_STD,
                          MappingProxyType({"upsample": "transposed"}),
                          mirrors=(f"{_DRN_MIRROR}{name}_cityscapes.pth",),
                          class_names=tuple(CITYSCAPES_CLASSES),
                          palette=tuple(CITYSCAPES_PALETTE))
        for name, miou in _DRN_CITYSCAPES.items()
    ]
    return records


PRETRAINED: tuple[PretrainedWeights, ...] = (*_torchvision_records(), *_drn_records())
# The tag pretrained=True picks: torchvision's DEFAULT for ResNets, else the first listed.
_DEFAULT_TAG = {"resnet50": "imagenet1k_v2", "resnet101": "imagenet1k_v2",
                "resnet152": "imagenet1k_v2"}


def list_pretrained(model: str | None = None) -> list[PretrainedWeights]:
    """Known checkpoints, for one model or all."""
    return [w for w in PRETRAINED if model is None or w.model == model]


def resolve_pretrained(model: str, pretrained: bool | str | os.PathLike | None
                       ) -> PretrainedWeights | str | None:
    """Map ``pretrained`` to a known record, a URL, a local path, or ``None``.

    ``True`` picks the model's default tag; a string is a tag, an ``http(s)://`` URL, an
    ``hf-hub:owner/repo[@revision][/file]`` source or a path.
    """
    if pretrained is None or pretrained is False:
        return None
    known = list_pretrained(model)
    tags = [w.tag for w in known]
    if pretrained is True:
        if not known:
            raise DrnetValueError(f"no public checkpoint is known for {model}; pass "
                                  "pretrained=PATH to load your own")
        default = _DEFAULT_TAG.get(model, tags[0])
        return next(w for w in known if w.tag == default)
    text = os.fspath(pretrained)
    if text in tags:
        return next(w for w in known if w.tag == text)
    if text.startswith(("http://", "https://", "hf-hub:")) or Path(text).is_file():
        return text
    raise DrnetValueError(f"pretrained for {model} must be True, one of the tags {tags}, a URL, an "
                          f"hf-hub:owner/repo source or an existing checkpoint file; got {text!r}")


def record_for_file(file_name: str) -> PretrainedWeights | None:
    """The known record published under ``file_name`` (e.g. ``drn_d_22_cityscapes.pth``)."""
    return next((w for w in PRETRAINED if w.file_name == Path(file_name).name), None)
