"""OpenVINO's CPU plugin (extra ``openvino``): LATENCY hint (one stream, every thread on one
inference), torch's thread count, and the precision asked for.

OpenVINO runs bf16 by default on CPUs with native bf16 (AVX512-BF16, AMX); drnet asks for f32
unless ``dtype="bf16"`` is chosen, so fp32 means fp32 on every CPU.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from drnet.fast.engines.onnx_graph import INPUT, OnnxGraph
from drnet.fast.engines.runner import EngineRunner, Shape


class OpenVinoRunner(EngineRunner):
    name = "openvino"

    def __init__(self, graph: OnnxGraph, *, threads: int | None = None, static_shapes: int = 0,
                 precision: str = "f32") -> None:
        import openvino as ov

        self.precision = precision
        self._core = ov.Core()
        with tempfile.TemporaryDirectory() as folder:  # read_model takes ONNX from a file
            path = os.path.join(folder, "model.onnx")
            with open(path, "wb") as f:
                f.write(graph.data)
            self._model = self._core.read_model(path)
        super().__init__(graph, threads=threads, static_shapes=static_shapes)

    def _compile(self, shape: Shape | None) -> Any:
        model = self._model
        if shape is not None:
            model = model.clone()
            model.reshape({INPUT: list(shape)})
        compiled = self._core.compile_model(model, "CPU", {
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": self.precision})
        return compiled.create_infer_request()

    def _infer(self, compiled: Any, array: np.ndarray) -> list[np.ndarray]:
        result = compiled.infer({0: array}, share_inputs=True, share_outputs=False)
        return [result[i] for i in range(len(self.graph.outputs))]
