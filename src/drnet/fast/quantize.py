"""int8 post-training quantization: static, per-channel, QDQ, calibrated on the user's images.

ONNX Runtime's quantizer (extra ``onnxruntime``) inserts QuantizeLinear/DequantizeLinear pairs
around every conv of the model's ONNX export: weights int8 per output channel (symmetric),
activations uint8 per tensor with ranges from calibration images. ONNX Runtime and OpenVINO both
run the result with int8 kernels. NNCF (OpenVINO's quantizer) would add scikit-learn, scipy and
five more packages for the same QDQ graph, and PyTorch's PT2E x86 path needs torch.compile with
inductor on every input shape; ONNX Runtime's quantizer needs nothing beyond the engine.

Layers kept in fp32 (:func:`fp32_nodes`), found on the graph so the rule holds for every model:

- the first conv: it reads the normalised image, whose 3 channels carry fine detail that 8 bits
  per tensor would blur, and it has few input channels, so int8 saves little time there;
- everything after a global pooling (the ASPP image-pooling branch, a classifier's ``fc``): it
  runs on 1x1 maps, costs nothing, and its activations have other ranges than the maps around;
- the classifier that writes the output (the last conv or gemm) and what follows it (the
  upsampling): rounding the logits themselves moves class boundaries directly.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.fast.engines.onnx_graph import INPUT, OnnxGraph, export_graph
from drnet.models.preprocessing import Preprocessing

Method = Literal["minmax", "percentile", "entropy"]
WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# Ops between a classifier and the output that do not change what it computes (upsampling).
_AFTER_CLASSIFIER = ("ConvTranspose", "Resize", "Upsample", "Identity", "Cast", "Softmax",
                     "LogSoftmax", "Slice")


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize; the defaults are the measured ones (README, Speed: int8)."""

    max_images: int = 300  # calibration images used (the first ones the loader gives)
    # Activation ranges: min/max (the calibration graph reduces each tensor to two numbers), or
    # histograms ("percentile", "entropy": ONNX Runtime keeps every calibration activation in
    # memory, so use few images, all of one size).
    method: Method = "minmax"
    keep_fp32: Sequence[str] = ()  # more ONNX node names (or name prefixes) to keep in fp32
    default_fp32: bool = True  # keep the first conv, post-pooling layers and classifier in fp32
    reduce_range: bool = False  # 7-bit weights: for CPUs without VNNI (u8s8 overflow)

    def __post_init__(self) -> None:
        if self.max_images < 1:
            raise DrnetValueError(f"max_images must be >= 1, got {self.max_images}")
        if self.method not in ("minmax", "percentile", "entropy"):
            raise DrnetValueError("method must be 'minmax', 'percentile' or 'entropy', got "
                                  f"{self.method!r}")


@dataclass(frozen=True)
class QuantizedGraph:
    """An int8 QDQ ONNX model, the nodes kept in fp32 (name -> why) and the images seen."""

    graph: OnnxGraph
    kept_fp32: dict[str, str] = field(default_factory=dict)
    calibration_images: int = 0
    quantized_nodes: int = 0


def quantize(model: nn.Module, calibration: Iterable[Any],
             config: QuantizeConfig | None = None) -> QuantizedGraph:
    """Quantize ``model`` (fp32, eval; BN folded or not: the exporter folds it) to int8 QDQ.

    ``calibration`` yields normalised image batches (tensors, or dicts with ``"image"`` as a
    drnet DataModule's loaders do); the first ``config.max_images`` images set the activation
    ranges. Raises :class:`MissingExtraError` without onnxruntime.
    """
    from drnet.fast.engines import require

    require("onnxruntime")
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    config = config or QuantizeConfig()
    graph = export_graph(model.eval())
    proto = onnx.load_from_string(graph.data)
    kept = fp32_nodes(proto) if config.default_fp32 else {}
    names = [n.name for n in proto.graph.node]
    for prefix in config.keep_fp32:
        matched = [n for n in names if n == prefix or n.startswith(prefix.rstrip("/") + "/")]
        if not matched:
            raise DrnetValueError(f"keep_fp32: no ONNX node is named {prefix!r} or below it; node "
                                  f"names look like {names[1]!r}")
        kept.update(dict.fromkeys(matched, "asked for"))
    histogram = config.method != "minmax"
    batches = _Calibration(calibration, config.max_images, single=histogram)
    first = batches.next()
    if first is None:
        raise DrnetValueError("calibration gave no images: pass a loader or a list of image "
                              "batches")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.pending: np.ndarray | None = first

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch, self.pending = self.pending, None
            batch = batch if batch is not None else batches.next()
            return None if batch is None else {INPUT: batch}

    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[config.method]
    reader = Reader()
    root = logging.getLogger()  # the quantizer logs a pre-processing hint on the root logger
    level = root.level
    with tempfile.TemporaryDirectory() as folder:
        source, target = os.path.join(folder, "fp32.onnx"), os.path.join(folder, "int8.onnx")
        with open(source, "wb") as f:
            f.write(graph.data)
        root.setLevel(logging.ERROR)
        try:
            quantize_static(source, target, reader, quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=config.reduce_range,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=sorted(kept), calibrate_method=method,
                            extra_options={"ActivationSymmetric": False,
                                           "WeightSymmetric": True})
        finally:
            root.setLevel(level)
        with open(target, "rb") as f:
            data = f.read()
    quantized = sum(n.op_type in WEIGHT_OPS for n in proto.graph.node) - sum(
        n.op_type in WEIGHT_OPS for n in proto.graph.node if n.name in kept)
    return QuantizedGraph(OnnxGraph(data, graph.outputs, graph.as_list), kept, batches.seen,
                          quantized)


def write_onnx(graph: OnnxGraph, path: str | os.PathLike,
               preprocessing: Preprocessing | None) -> Preprocessing | None:
    """Write ``graph`` to ``path`` with the weights' normalisation in its metadata (the
    ``drnet.*`` metadata_props of :mod:`drnet.fast.export`); returns what was written."""
    import onnx

    from drnet.atomic_files import atomic_write
    from drnet.fast.export import onnx_metadata

    proto = onnx.load_from_string(graph.data)
    if preprocessing is not None:
        onnx.helper.set_model_props(proto, onnx_metadata(preprocessing))
    with atomic_write(path) as handle:
        handle.write(proto.SerializeToString())
    return preprocessing


class _Calibration:
    """float32 arrays of at most ``max_images`` images in all, counted as they go; ``single``:
    one image per array, all of one size (ONNX Runtime's histograms stack them)."""

    def __init__(self, source: Iterable[Any], max_images: int, single: bool = False) -> None:
        self.seen = 0
        self._batches = self._read(source, max_images)
        if single:
            self._batches = self._one_by_one(self._batches)

    @staticmethod
    def _one_by_one(batches: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        size = None
        for batch in batches:
            for image in batch:
                if size is not None and image.shape != size:
                    raise DrnetValueError("method 'percentile'/'entropy' needs calibration images "
                                          f"of one size, got {size[1:]} and {image.shape[1:]}; use "
                                          "'minmax'")
                size = image.shape
                yield image[None]

    def next(self) -> np.ndarray | None:
        return next(self._batches, None)

    def _read(self, source: Iterable[Any], max_images: int) -> Iterator[np.ndarray]:
        for item in source:
            images = item["image"] if isinstance(item, dict) else item
            if not isinstance(images, Tensor):
                raise DrnetValueError("calibration must yield image tensors or dicts with "
                                      f"'image', got {type(images).__name__}")
            images = images if images.dim() == 4 else images[None]
            images = images[:max_images - self.seen].detach().to("cpu", torch.float32)
            self.seen += images.shape[0]
            yield images.contiguous().numpy()
            if self.seen >= max_images:
                return


def fp32_nodes(proto: Any) -> dict[str, str]:
    """The nodes :mod:`drnet.fast.quantize` keeps in fp32 by default, with the reason (see the
    module docstring), found on the graph: consumers of the input, of a global pooling, and the
    path from the last weighted op to each output."""
    nodes = list(proto.graph.node)
    consumers: dict[str, list[Any]] = {}
    producer: dict[str, Any] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node
    kept: dict[str, str] = {}
    for node in consumers.get(INPUT, []):
        if node.op_type in WEIGHT_OPS:
            kept[node.name] = "first conv: reads the image"
    for pool in (n for n in nodes if n.op_type in ("GlobalAveragePool", "ReduceMean")):
        stack = list(pool.output)
        while stack:
            for node in consumers.get(stack.pop(), []):
                if node.op_type in ("Resize", "Upsample", "Concat") or node.name in kept:
                    continue  # back on the full-size maps
                if node.op_type in WEIGHT_OPS:
                    kept[node.name] = "after global pooling: runs on 1x1 maps"
                stack.extend(node.output)
    for output in proto.graph.output:
        node = producer.get(output.name)
        while node is not None:
            if node.op_type in WEIGHT_OPS and node.op_type != "ConvTranspose":
                kept[node.name] = "classifier: writes the output"
                break
            if node.op_type not in _AFTER_CLASSIFIER:
                break  # an output that is no classifier's (e.g. a feature map)
            kept[node.name] = "after the classifier (upsampling)"
            node = next((producer[i] for i in node.input if i in producer), None)
    return kept
