"""Inference engines behind ``optimize_for_inference(engine=...)``: PyTorch itself, or the model
exported to ONNX and run by ONNX Runtime or OpenVINO (optional extras, imported only here).

On CPUs the engines' graph compilers (fused conv + activation, pre-packed weights, their own
blocked layouts) run fp32 faster than eager PyTorch, and they are the route to int8 (see
:mod:`drnet.fast.quantize`); ``"auto"`` picks the fastest installed one (README, Speed).
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import torch
from torch import nn

from drnet.errors import DrnetError, DrnetValueError

Engine = Literal["auto", "torch", "onnxruntime", "openvino"]
ENGINES = ("auto", "torch", "onnxruntime", "openvino")
# What "auto" tries on a CPU, fastest first as measured (README, Engines and int8): OpenVINO was
# as fast as ONNX Runtime on DRN-D-22 and faster on ResNet-50 in fp32, and ~4x faster in int8
# (AVX512-VNNI kernels), on the project's AMD EPYC.
AUTO_ORDER = ("openvino", "onnxruntime")
AUTO_ORDER_INT8 = ("openvino", "onnxruntime")
# engine -> (module it imports, the pip extra that installs it)
PACKAGES = {"onnxruntime": ("onnxruntime", "onnxruntime"), "openvino": ("openvino", "openvino")}


class MissingExtraError(DrnetError, ImportError, ValueError):
    """An engine whose package is not installed; the message names the extra to install."""


class EngineNotApplicableError(DrnetError, ValueError):
    """The engine cannot run this model or these options; the message says why."""


def installed(engine: str) -> bool:
    """Whether ``engine``'s package (and the ``onnx`` exporter it needs) can be imported."""
    if engine == "torch":
        return True
    module, _ = PACKAGES[engine]
    return all(importlib.util.find_spec(m) is not None for m in (module, "onnx"))


def require(engine: str) -> None:
    """Raise :class:`MissingExtraError` unless ``engine`` can run here."""
    if not installed(engine):
        module, extra = PACKAGES[engine]
        raise MissingExtraError(f"engine={engine!r} needs the {module} and onnx packages, which "
                                f"are not installed: pip install 'drnet[{extra}]'")


def takes_image_tensor(model: nn.Module) -> bool:
    """False for torchvision's detectors, which take a list of images of any sizes."""
    from torchvision.models.detection import FCOS, RetinaNet
    from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

    return not isinstance(model, GeneralizedRCNN | RetinaNet | FCOS)


def choose_engine(engine: str, model: nn.Module, *, device: torch.device | str = "cpu",
                  dtype: torch.dtype | None = None, compile: object = False,
                  space_to_batch: bool = False, int8: bool = False) -> str:
    """The engine that runs ``model``: ``engine`` itself after checking that it applies, or for
    ``"auto"`` the first installed of :data:`AUTO_ORDER` (:data:`AUTO_ORDER_INT8` for ``int8``)
    where one applies (fp32 or int8 on a CPU, an image-tensor model, no torch-only option),
    else ``"torch"`` (int8 has no torch engine: then an error names the extra)."""
    if engine not in ENGINES:
        raise DrnetValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    torch_only = [name for name, used in (("compile", compile), ("space_to_batch", space_to_batch))
                  if used]
    device = torch.device(device)
    if int8 and dtype is not None:
        raise EngineNotApplicableError(f"int8 and dtype {dtype} exclude each other")
    if engine == "auto":
        order = AUTO_ORDER_INT8 if int8 else AUTO_ORDER
        if int8:  # the quantizer needs onnxruntime whichever engine runs the result
            engine = next((e for e in order if installed(e) and installed("onnxruntime")),
                          "onnxruntime")
        elif device.type != "cpu" or dtype is not None or torch_only or not takes_image_tensor(
                model):
            return "torch"
        else:
            return next((e for e in order if installed(e)), "torch")
    if engine == "torch":
        if int8:
            raise EngineNotApplicableError("int8 runs in engine='onnxruntime' or 'openvino' "
                                           "(drnet.fast.quantize), not in engine='torch'")
        return engine
    if not takes_image_tensor(model):
        raise EngineNotApplicableError(
            f"engine={engine!r} runs models that take an image tensor; {type(model).__name__} "
            f"takes a list of images and resizes them inside the model (use engine='torch')")
    if device.type != "cpu":
        raise EngineNotApplicableError(f"engine={engine!r} runs on the CPU here, got device "
                                       f"{device}; use engine='torch' on {device.type}")
    if torch_only:
        raise EngineNotApplicableError(f"{' and '.join(torch_only)} are options of "
                                       f"engine='torch', not of engine={engine!r}")
    if dtype is not None and not (engine == "openvino" and dtype == torch.bfloat16):
        raise EngineNotApplicableError(
            f"engine={engine!r} runs fp32{' or bf16' if engine == 'openvino' else ''} (int8 "
            f"through drnet.fast.quantize), got dtype {dtype}; use engine='torch' for it")
    if int8:
        require("onnxruntime")  # the quantizer, whichever engine runs the result
    require(engine)
    return engine
