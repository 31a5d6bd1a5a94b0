"""ONNX Runtime's CPU execution provider (extra ``onnx``): all graph optimisations, intra-op
threads as torch's, one inference at a time."""

from __future__ import annotations

from typing import Any

import numpy as np

from drnet.fast.engines.onnx_graph import DYNAMIC, INPUT
from drnet.fast.engines.runner import EngineRunner, Shape


class OnnxRuntimeRunner(EngineRunner):
    name = "onnxruntime"

    def _compile(self, shape: Shape | None) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are not the user's
        if shape is not None:  # fix the symbolic input dimensions; ORT propagates them
            for axis, dim in DYNAMIC.items():
                options.add_free_dimension_override_by_name(dim, shape[axis])
        return ort.InferenceSession(self.graph.data, options, providers=["CPUExecutionProvider"])

    def _infer(self, compiled: Any, array: np.ndarray) -> list[np.ndarray]:
        return compiled.run(None, {INPUT: array})
