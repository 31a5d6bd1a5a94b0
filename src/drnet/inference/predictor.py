"""``predict`` through drnet's fast inference path, for the segmentation and classification
tasks (their training options, channels_last and checkpointing, are
:func:`drnet.fast.prepare_for_training`; mixed precision is Lightning's own,
``--trainer.precision bf16-mixed``). Detection keeps torchvision's own handling: its models
take lists of images."""

from __future__ import annotations

from torch import nn

from drnet.errors import DrnetValueError
from drnet.fast import FastInference, optimize_for_inference
from drnet.models.factory import with_output_stride


class Evaluator:
    """The network evaluation and prediction run: the task's model, or the same weights at
    ``output_stride`` (rebuilt at every start, sharing the parameters, so it always holds the
    current weights). Kept outside the task's modules: it never enters a checkpoint."""

    def __init__(self, model: nn.Module, output_stride: int | None) -> None:
        self.output_stride = output_stride
        self._base = model
        self._model: nn.Module | None = None
        if output_stride is not None:
            with_output_stride(model, output_stride)  # an impossible stride fails here

    def start(self, model: nn.Module) -> None:
        self._base = model
        if self.output_stride is not None:
            self._model = with_output_stride(model, self.output_stride).eval()

    def stop(self) -> None:
        self._model = None

    @property
    def model(self) -> nn.Module:
        return self._model if self._model is not None else self._base


class Predictor:
    """Builds the fast inference copy of a task's model once per run (the weights may have
    changed since the last one) and hands it out; ``fast=False`` uses the model as it is, in
    eval mode. ``engine`` is :func:`drnet.optimize_for_inference`'s (``"auto"``: the fastest
    installed engine on a CPU in fp32)."""

    def __init__(self, fast: bool, dtype: str | None, engine: str = "auto") -> None:
        if not fast and dtype not in (None, "fp32"):
            raise DrnetValueError(f"predict_dtype={dtype!r} needs fast_predict=True (the fast path "
                                  "is what casts the model)")
        if not fast and engine not in ("auto", "torch"):
            raise DrnetValueError(f"engine={engine!r} needs fast_predict=True (the fast path is "
                                  "what runs an engine)")
        self.fast = fast
        self.dtype = dtype
        self.engine = engine
        self._model: FastInference | None = None

    def start(self, model: nn.Module) -> None:
        self._model = optimize_for_inference(model, dtype=self.dtype, engine=self.engine) \
            if self.fast else None

    def stop(self) -> None:
        self._model = None

    def __call__(self, model: nn.Module) -> nn.Module:
        return self._model if self._model is not None else model
