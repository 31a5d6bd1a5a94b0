"""What every engine shares: the tensor contract and the cache of shape-specialised compilations.

An engine compiles the dynamic graph once; with ``static_shapes=K`` it also compiles the first K
input shapes it sees for exactly that shape (constant shapes let the compiler pick kernels and
plan memory ahead) and runs any later shape dynamically. Sliding-window inference sees one
shape; a data set of mixed sizes sees many, and never pays more than K compilations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from drnet.errors import DrnetValueError
from drnet.fast.engines.onnx_graph import OnnxGraph

Shape = tuple[int, ...]


class EngineRunner:
    """Runs an :class:`OnnxGraph` on CPU float32 tensors; returns what the model returns (one
    tensor, or a list for ``features_only`` models). Subclasses compile and infer."""

    name = "engine"

    def __init__(self, graph: OnnxGraph, *, threads: int | None = None,
                 static_shapes: int = 0) -> None:
        if static_shapes < 0:
            raise DrnetValueError(f"static_shapes must be >= 0, got {static_shapes}")
        self.graph = graph
        self.threads = threads or torch.get_num_threads()
        self.static_shapes = static_shapes
        self._dynamic = self._compile(None)
        self._static: dict[Shape, Any] = {}

    def __call__(self, x: Tensor) -> Tensor | list[Tensor]:
        return self._run(x, static=True)

    def run_dynamic(self, x: Tensor) -> Tensor | list[Tensor]:
        """Through the dynamic compilation, leaving the shape cache alone."""
        return self._run(x, static=False)

    def _run(self, x: Tensor, static: bool) -> Tensor | list[Tensor]:
        if not isinstance(x, Tensor) or x.dim() != 4:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise DrnetValueError(f"engine {self.name!r} takes an image batch tensor (N, C, H, W), "
                                  f"got {got}")
        if x.device.type != "cpu" or x.dtype != torch.float32:
            raise DrnetValueError(f"engine {self.name!r} takes float32 CPU tensors, got {x.dtype} "
                                  f"on {x.device}")
        array = x.detach().contiguous().numpy()
        compiled = self.compiled_for(array.shape) if static else self._dynamic
        outputs = [torch.from_numpy(np.ascontiguousarray(a)) for a in self._infer(compiled, array)]
        return outputs if self.graph.as_list else outputs[0]

    def compiled_for(self, shape: Shape) -> Any:
        """The compilation that runs ``shape``: its own if cached or room is left, else the
        dynamic one."""
        if shape in self._static:
            return self._static[shape]
        if len(self._static) < self.static_shapes:
            self._static[shape] = self._compile(shape)
            return self._static[shape]
        return self._dynamic

    @property
    def cached_shapes(self) -> list[Shape]:
        return list(self._static)

    def _compile(self, shape: Shape | None) -> Any:
        raise NotImplementedError

    def _infer(self, compiled: Any, array: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError
