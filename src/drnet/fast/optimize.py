"""``optimize_for_inference``: the fast way to run any drnet model (or any CNN) for prediction.

Each step is measured in the README (Speed): folding batch norm saves a pass over every
activation; channels_last lets oneDNN/cuDNN run convolutions without reordering to and from NCHW;
a reduced dtype halves memory traffic where the hardware has native support; ``torch.compile``
fuses what is left. Everything runs under ``torch.inference_mode``. On a CPU the folded model can
instead run in ONNX Runtime or OpenVINO (:mod:`drnet.fast.engines`), whose graph compilers go
further; ``engine="auto"`` picks the fastest one installed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from drnet.errors import DrnetTypeError, DrnetValueError
from drnet.fast.engines import AUTO_ORDER, choose_engine, installed
from drnet.fast.fold import fold_batchnorm

if TYPE_CHECKING:
    from drnet.fast.quantize import QuantizeConfig

DTYPES = {None: None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bf16"``/``torch.bfloat16`` -> ``torch.bfloat16``; ``None``/``"fp32"`` -> ``None``."""
    if isinstance(dtype, torch.dtype) or dtype is None:
        valid = (None, torch.float32, torch.bfloat16, torch.float16)
        if dtype not in valid:
            raise DrnetValueError(f"dtype must be one of {valid}, got {dtype}")
        return None if dtype is torch.float32 else dtype
    if dtype not in DTYPES:
        raise DrnetValueError(f"dtype must be one of {[k for k in DTYPES if k]} or a torch dtype, "
                              f"got {dtype!r}")
    return parse_dtype(DTYPES[dtype])


class FastInference(nn.Module):
    """An optimised copy of a model: ``forward`` converts the input (memory format, dtype), runs
    under ``torch.inference_mode`` and returns outputs in the input's dtype.

    ``model`` is the optimised copy itself, of the original class (its other methods, e.g.
    ``forward_features``, work but see inputs unconverted); other attributes (``num_classes``,
    ``feature_info``, ...) are read from it. ``engine`` says what runs ``forward``: ``"torch"``
    (``model``), or ``"onnxruntime"``/``"openvino"`` (``runner``, on the model's ONNX export).
    """

    def __init__(self, model: nn.Module, *, channels_last: bool, dtype: torch.dtype | None,
                 compile: bool | str | dict[str, Any] = False, engine: str = "torch",
                 runner: Any = None) -> None:
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.dtype = dtype
        self.engine = engine
        # Not registered children: they share (or copied) the parameters of ``model``.
        self.__dict__["runner"] = runner
        self.__dict__["_run"] = _compiled(model, compile) if compile else model

    def forward(self, x: Tensor) -> Any:
        if self.runner is not None:
            return self.runner(x)
        in_dtype = x.dtype
        with torch.inference_mode():
            if self.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if self.dtype is not None:
                x = x.to(self.dtype)
            out = self._run(x)
            return _cast(out, in_dtype) if self.dtype is not None else out

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":
                raise
            return getattr(super().__getattr__("model"), name)


def optimize_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
                           dtype: str | torch.dtype | None = None,
                           compile: bool | str | dict[str, Any] = False,
                           space_to_batch: bool = False, engine: str = "auto",
                           static_shapes: int | None = None, threads: int | None = None,
                           int8_calibration: Iterable[Any] | None = None,
                           quantize: QuantizeConfig | None = None) -> FastInference:
    """A fast, eval-mode copy of ``model`` for prediction (``model`` itself is not changed).

    - ``fold_bn``: fold batch norm into the preceding convs (fp32 results equal within ~1e-6
      relative; every registered model folds completely).
    - ``channels_last``: weights and inputs in NHWC (the layout oneDNN and cuDNN prefer).
    - ``dtype``: ``torch.bfloat16``/``"bf16"`` or ``torch.float16``/``"fp16"`` runs the folded
      model in that dtype (weights cast once, input cast on entry, output cast back). Fast only
      where the hardware has native support (CUDA; CPUs with AVX512-BF16/AMX).
    - ``compile``: ``True`` (inductor with frozen weights), a mode string (``"max-autotune"``)
      or a dict of ``torch.compile`` keyword arguments; the first call compiles (tens of
      seconds on a CPU).
    - ``space_to_batch``: run each run of same-dilation blocks undilated on the sub-grids
      (:mod:`drnet.fast.space_to_batch`); exact, but slower on CPUs (see README).
    - ``engine``: ``"torch"``, ``"onnxruntime"`` (extra ``onnx``), ``"openvino"`` (extra
      ``openvino``; fp32 or bf16) or ``"auto"``: on a CPU in fp32 the fastest installed engine,
      measured on the first input when both are installed
      (:class:`~drnet.fast.engines.fastest.FastestOf`; ``runner.chosen`` says which), else
      torch. An engine runs the folded model's ONNX export
      (batch, height and width dynamic), checked against it at an odd size when built, with
      ``threads`` threads (default torch's) and ``static_shapes`` input shapes compiled for
      exactly their shape (the first ones seen; later ones run the dynamic graph).
    - ``int8_calibration``: normalised image batches (a DataLoader of a drnet DataModule, or
      tensors): run int8, quantized with ``quantize`` (:mod:`drnet.fast.quantize`: static,
      per-channel QDQ; first conv, post-pooling layers and classifier kept in fp32) in an
      engine (``"auto"``: OpenVINO, then ONNX Runtime).
    """
    if not isinstance(model, nn.Module):
        raise DrnetTypeError(f"model must be an nn.Module, got {type(model).__name__}")
    dtype = parse_dtype(dtype)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    int8 = int8_calibration is not None
    measure = engine == "auto" and not int8
    engine = choose_engine(engine, model, device=device, dtype=dtype, compile=compile,
                           space_to_batch=space_to_batch, int8=int8)
    model = fold_batchnorm(model) if fold_bn else copy.deepcopy(model).eval()
    if engine != "torch":
        from drnet.fast.engines.build import build_runner, make_runner

        if int8:
            from drnet.fast.quantize import quantize as quantize_model

            graph = quantize_model(model, int8_calibration, quantize).graph
            runner = make_runner(engine, graph, threads=threads, static_shapes=static_shapes)
        elif measure and len(candidates := [e for e in AUTO_ORDER if installed(e)]) > 1:
            from drnet.fast.engines.fastest import FastestOf
            from drnet.fast.engines.onnx_graph import export_graph

            graph = export_graph(model)  # once, for every candidate
            runner = FastestOf({e: build_runner(e, model, threads=threads, graph=graph,
                                                static_shapes=static_shapes)
                                for e in candidates})
            engine = "auto"
        else:
            runner = build_runner(engine, model, dtype=dtype, threads=threads,
                                  static_shapes=static_shapes)
        for p in model.parameters():
            p.requires_grad_(False)
        return FastInference(model, channels_last=False, dtype=dtype, engine=engine,
                             runner=runner)
    if space_to_batch:
        from drnet.fast.space_to_batch import convert_space_to_batch

        convert_space_to_batch(model)
    if dtype is not None:
        model = model.to(dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return FastInference(model, channels_last=channels_last, dtype=dtype, compile=compile)


def _compiled(model: nn.Module, options: bool | str | dict[str, Any]) -> nn.Module:
    if isinstance(options, str):
        return torch.compile(model, mode=options)
    if isinstance(options, dict):
        return torch.compile(model, **options)
    # Freezing: parameters become constants, so inductor can pre-pack conv weights (inference).
    return torch.compile(model, options={"freezing": True})


def _cast(out: Any, dtype: torch.dtype) -> Any:
    if isinstance(out, Tensor):
        return out.to(dtype) if out.is_floating_point() else out
    if isinstance(out, list | tuple):
        return type(out)(_cast(o, dtype) for o in out)
    if isinstance(out, dict):
        return {k: _cast(v, dtype) for k, v in out.items()}
    return out
