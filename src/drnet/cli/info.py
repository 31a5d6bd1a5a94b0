"""``drnet info``: build a model, run it once and show each stage's shape, stride and dilation."""

from __future__ import annotations

import argparse
from typing import Any

from drnet.errors import DrnetValueError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered model name, e.g. resnet50 or drn_d_22")
    parser.add_argument("--output-stride", type=int, help="8, 16 or 32 (ResNets)")
    parser.add_argument("--input", default="224x224", type=parse_size, metavar="HxW",
                        help="input size for the trial forward pass (default 224x224)")


def parse_size(text: str) -> tuple[int, int]:
    """``"512x1024"`` -> (512, 1024); ``"512"`` -> (512, 512)."""
    parts = text.lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 512x1024 or 512, got {text!r}")
    return size  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    import torch

    from drnet.cli.models import format_table
    from drnet.models import create_model

    kwargs = {} if args.output_stride is None else {"output_stride": args.output_stride}
    model = create_model(args.model, **kwargs).eval()
    trunk = stages_of(model)
    height, width = args.input
    with torch.inference_mode():
        maps = trunk(torch.zeros(1, 3, height, width))
    rows = [("stage", "channels", "stride", "dilation", "shape")]
    for info, fmap in zip(trunk.feature_info, maps, strict=True):
        rows.append((info.module, str(info.num_chs), str(info.reduction), str(info.dilation),
                     "x".join(map(str, fmap.shape[1:]))))
    print(format_table(rows))
    last = maps[-1].shape[-2:]
    trunk_params = sum(p.numel() for p in trunk.parameters()) / 1e6
    params = (f"{trunk_params:.2f} M parameters without the classifier" if _is_backbone(model)
              else f"{trunk_params:.2f} M in the backbone stages above, "
                   f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M in all")
    print(f"\n{args.model}: input {height}x{width} -> last map {last[0]}x{last[1]}, "
          f"output stride {trunk.output_stride} (measured {height / last[0]:.2f} x "
          f"{width / last[1]:.2f}), {params}")
    return 0


def stages_of(model: Any) -> Any:
    """The feature extractor whose stages ``drnet info`` lists: a backbone's trunk, a
    segmentation model's backbone, or the backbone stages a detector reads."""
    from drnet.models import FeatureListNet, SegmentationModel

    if _is_backbone(model):
        return FeatureListNet(model)
    if isinstance(model, SegmentationModel):
        return FeatureListNet(model.backbone)
    body = getattr(getattr(model, "backbone", None), "body", None)
    if isinstance(body, FeatureListNet):  # torchvision detectors: backbone.body
        return body
    raise DrnetValueError(f"drnet info does not know the stages of a {type(model).__name__}")


def _is_backbone(model: Any) -> bool:
    from drnet.models import Backbone

    return isinstance(model, Backbone)
