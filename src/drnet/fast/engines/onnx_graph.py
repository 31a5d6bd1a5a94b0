"""The ONNX graph an engine runs: torch's TorchScript-based exporter, batch/height/width dynamic.

That exporter rather than the dynamo one: it exports a ResNet-50 in a few seconds instead of
tens, it handles torchvision's detectors, and its node names carry the module path
(``/backbone/layer1/layer1.0/conv1/Conv``), which is how :mod:`drnet.fast.quantize` keeps
chosen layers in fp32.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

OPSET = 17
INPUT = "image"
DYNAMIC = {0: "batch", 2: "height", 3: "width"}


@dataclass(frozen=True)
class OnnxGraph:
    """A serialised ONNX model and how its outputs map back onto the PyTorch model's."""

    data: bytes
    outputs: tuple[str, ...]
    as_list: bool  # the model returns a list of tensors (features_only), not one tensor


def in_channels(model: nn.Module) -> int:
    """Input channels of the first convolution (3 unless built with another ``in_chans``)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.in_channels if conv is not None else 3


def export_graph(model: nn.Module, example: Tensor | None = None) -> OnnxGraph:
    """Export ``model`` (eval mode, fp32) with dynamic batch, height and width.

    Traced at batch 2 (a batch of 1 can be taken for a broadcast dimension) and 64x64 unless
    ``example`` is given; callers check the graph at another size.
    """
    model = model.eval()
    if example is None:
        example = torch.randn(2, in_channels(model), 64, 64)
    with torch.no_grad():
        sample = model(example)
    as_list = isinstance(sample, list | tuple)
    samples = list(sample) if as_list else [sample]
    outputs = tuple(f"output{i}" for i in range(len(samples))) if as_list else ("output",)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's deprecation notice and tracer chatter
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT], output_names=list(outputs),
                          dynamic_axes={INPUT: DYNAMIC, **{
                              name: _dynamic_axes(name, out.dim())
                              for name, out in zip(outputs, samples, strict=True)}},
                          do_constant_folding=True)
    return OnnxGraph(buffer.getvalue(), outputs, as_list)


def _dynamic_axes(name: str, rank: int) -> dict[int, str]:
    """Batch always; height and width for maps (a classifier's logits have neither)."""
    return {0: "batch", **({2: f"{name}_height", 3: f"{name}_width"} if rank == 4 else {})}
