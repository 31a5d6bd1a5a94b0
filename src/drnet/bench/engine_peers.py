"""``drnet bench --vs onnxruntime,openvino``: the engines as a user runs them on drnet's ONNX
export, with each engine's own defaults (no BN folding by drnet, one dynamic-shape graph), the
same threads as torch, and fp32 (OpenVINO is told f32: on CPUs with native bf16 its default is
bf16). Written against the engines' APIs directly, not through :mod:`drnet.fast.engines`, so the
ratio measures what drnet adds."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from drnet.errors import DrnetValueError
from drnet.fast.engines import require
from drnet.fast.engines.onnx_graph import INPUT, export_graph

# "eager": drnet's own model as built, eager fp32 NCHW with batch norm: the baseline for models
# torchvision does not have (DRNs), computing what torchvision's eager model would.
# "drnet-torch": drnet's fast path in PyTorch itself (BN folded, channels_last), as before
# engines existed.
PEERS = ("drnet-torch", "eager", "torchvision", "onnxruntime", "openvino")
LABELS = {"onnxruntime": "ONNX Runtime {version} CPU EP, fp32, drnet's ONNX export, defaults",
          "openvino": "OpenVINO {version} CPU, fp32 (f32 hint), LATENCY hint, drnet's ONNX "
                      "export"}


def engine_peer(name: str, model: nn.Module, threads: int | None = None
                ) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A function of a float32 NCHW array returning the first output, and its label."""
    require(name)
    threads = threads or torch.get_num_threads()
    data = export_graph(model.eval()).data
    if name == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        return (lambda x: session.run(None, {INPUT: x})[0],
                LABELS[name].format(version=ort.__version__))
    if name == "openvino":
        import openvino as ov

        core = ov.Core()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.onnx")
            with open(path, "wb") as f:
                f.write(data)
            compiled = core.compile_model(core.read_model(path), "CPU", {
                "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        return (lambda x: request.infer({0: x})[0],
                LABELS[name].format(version=ov.__version__.split("-")[0]))
    raise DrnetValueError(f"engine peer must be 'onnxruntime' or 'openvino', got {name!r}")
