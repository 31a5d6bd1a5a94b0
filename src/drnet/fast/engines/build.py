"""Build an engine for a (folded, eval-mode, fp32) model and check it against the model."""

from __future__ import annotations

import torch
from torch import nn

from drnet.errors import DrnetError, DrnetValueError
from drnet.fast.compare import relative_error
from drnet.fast.engines.onnx_graph import OnnxGraph, export_graph, in_channels
from drnet.fast.engines.runner import EngineRunner

CHECK_TOLERANCE = 1e-4  # fp32: max |engine - torch| / max |torch|, the export's bound
CHECK_SIZE = (1, 45, 61)  # batch, height, width: odd, unlike the traced 2x64x64
# Shapes compiled for exactly their size, by default (benchmarks/engine_shapes.py): OpenVINO
# ran them 1-3 % faster than its dynamic graph; ONNX Runtime ran them slower.
STATIC_SHAPES = {"onnxruntime": 0, "openvino": 4}


class EngineCheckError(DrnetError, RuntimeError):
    """An engine's output differs from the PyTorch model's; the message gives the error."""


def make_runner(engine: str, graph: OnnxGraph, *, dtype: torch.dtype | None = None,
                threads: int | None = None, static_shapes: int | None = None) -> EngineRunner:
    """The runner of ``engine`` for an exported graph (fp32, or bf16 for OpenVINO);
    ``static_shapes`` defaults to :data:`STATIC_SHAPES`."""
    if static_shapes is None:
        static_shapes = STATIC_SHAPES.get(engine, 0)
    if engine == "onnxruntime":
        from drnet.fast.engines.onnxruntime import OnnxRuntimeRunner

        return OnnxRuntimeRunner(graph, threads=threads, static_shapes=static_shapes)
    if engine == "openvino":
        from drnet.fast.engines.openvino import OpenVinoRunner

        precision = "bf16" if dtype == torch.bfloat16 else "f32"
        return OpenVinoRunner(graph, threads=threads, static_shapes=static_shapes,
                              precision=precision)
    raise DrnetValueError(f"engine must be 'onnxruntime' or 'openvino', got {engine!r}")


def build_runner(engine: str, model: nn.Module, *, dtype: torch.dtype | None = None,
                 threads: int | None = None, static_shapes: int | None = None,
                 check: bool = True, graph: OnnxGraph | None = None) -> EngineRunner:
    """Export ``model`` (unless ``graph`` is its export), compile it with ``engine`` and (fp32)
    check it at :data:`CHECK_SIZE`: a graph that traced a size-dependent branch fails here, not
    in a user's results."""
    model = model.eval()
    runner = make_runner(engine, graph or export_graph(model), dtype=dtype, threads=threads,
                         static_shapes=static_shapes)
    if check and dtype is None:
        batch, height, width = CHECK_SIZE
        x = torch.randn(batch, in_channels(model), height, width)
        with torch.no_grad():
            expected = model(x)
        got = runner.run_dynamic(x)
        pairs = zip(got, expected, strict=True) if isinstance(got, list) else [(got, expected)]
        error = max(relative_error(a, b) for a, b in pairs)
        if error > CHECK_TOLERANCE:
            raise EngineCheckError(f"engine {engine!r} differs from the PyTorch model of "
                                   f"{type(model).__name__} by {error:.1e} (relative) at "
                                   f"{height}x{width}; tolerance {CHECK_TOLERANCE}")
    return runner
