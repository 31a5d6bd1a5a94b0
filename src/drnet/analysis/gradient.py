"""The receptive field measured by backpropagation, to check the analytic one on real networks.

The input pixels that can influence an output are exactly those with a non-zero gradient in a
network where no path is cut off: positive weights, identity normalisation and activations,
max-pooling replaced by average-pooling (a max passes gradient to one input only). Its extent
must equal :func:`~drnet.analysis.receptive_field.receptive_field`'s interval, which is an
independent computation from the layer geometry.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.ops.misc import FrozenBatchNorm2d

from drnet.analysis.axis import Axis
from drnet.analysis.receptive_field import (
    ReceptiveField,
    StageRF,
    check_input_size,
    receptive_field,
)
from drnet.analysis.rules import flat_tensors
from drnet.analysis.tracer import UnsupportedLayerError, input_channels, model_device
from drnet.errors import DrnetValueError

NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
         FrozenBatchNorm2d)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU,
               nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh,
               nn.Softplus, nn.Dropout, nn.Dropout2d)


def all_paths_active(model: nn.Module, dtype: torch.dtype = torch.float64) -> nn.Module:
    """A copy of ``model`` in which every path from input to output carries gradient.

    Weights become ``1 / (in_channels * sqrt(kernel_area))`` (positive: a layer scales values
    by ``sqrt(kernel_area)``, and an extreme tap's gradient by its inverse, so neither
    overflows nor underflows float32 over ~40 3x3 layers), biases zero; normalisation and
    activation modules become identity; max-pooling becomes average-pooling with the same
    window. Functional max-pooling or activations inside a ``forward`` are not replaced (with
    positive inputs ReLU is already the identity). A model built on the ``meta`` device (for
    its shapes only) is materialised on the CPU, its remaining float buffers set to 1.
    """
    active = copy.deepcopy(model).eval()
    for name, module in list(active.named_modules()):
        replacement = _replacement(name, module)
        if replacement is not None and name:  # the root itself has no parent to set it in
            active.set_submodule(name, replacement)
    if any(t.is_meta for t in (*active.parameters(), *active.buffers())):
        active = active.to_empty(device="cpu")
        with torch.no_grad():
            for buffer in active.buffers():
                if buffer.is_floating_point():
                    buffer.fill_(1.0)
    active = active.to(dtype)
    with torch.no_grad():
        biases = {id(m.bias) for m in active.modules()
                  if isinstance(getattr(m, "bias", None), nn.Parameter)}
        for p in active.parameters():
            if id(p) in biases:
                p.zero_()
            elif p.dim() >= 2:
                area = p[0, 0].numel()
                p.fill_(1.0 / (p.shape[1] * math.sqrt(area)))
            else:
                p.fill_(1.0)
    return active


def _replacement(name: str, module: nn.Module) -> nn.Module | None:
    if isinstance(module, NORMS + ACTIVATIONS):
        return nn.Identity()
    if isinstance(module, nn.MaxPool2d):
        if module.dilation not in (1, (1, 1)):
            raise DrnetValueError(f"module {name!r}: a dilated max-pool has no average-pool twin")
        return nn.AvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode)
    if isinstance(module, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveAvgPool2d(module.output_size)
    return None


class _Stop(Exception):  # noqa: N818  (control flow, not an error)
    pass


def probe_output(model: nn.Module, x: Tensor, at: str | None = None) -> Tensor:
    """``model(x)``, or the output of its submodule ``at`` (the rest of the forward is skipped)."""
    if at is None:
        return _first_tensor(model(x), "the model")
    modules = dict(model.named_modules())
    if at not in modules:
        raise DrnetValueError(f"{type(model).__name__} has no module {at!r}")
    captured = []

    def hook(module: nn.Module, args: object, output: object) -> None:
        captured.append(output)
        raise _Stop

    handle = modules[at].register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not captured:
        raise DrnetValueError(f"module {at!r} did not run in the forward pass")
    return _first_tensor(captured[0], f"module {at!r}")


def _first_tensor(output: object, what: str) -> Tensor:
    tensors = flat_tensors([output])
    if not tensors:
        raise DrnetValueError(f"{what} returned no tensor")
    return tensors[0]


def input_gradients(model: nn.Module, inputs: Tensor, positions: Sequence[tuple[int, int]],
                    at: str | None = None) -> Tensor:
    """``|d out_b[:, positions[b]] / d inputs_b|`` summed over channels, shape (B, H, W).

    Each batch element backpropagates from its own output position in one backward pass
    (the model must be in eval mode so batch elements stay independent).
    """
    x = inputs.detach().to(model_device(model)).requires_grad_(True)
    out = probe_output(model, x, at)
    if out.dim() != 4:
        raise DrnetValueError(f"the probed output has shape {tuple(out.shape)}; pick a module with "
                              "a spatial (N, C, H, W) output with `at`")
    if len(positions) != out.shape[0]:
        raise DrnetValueError(f"need one position per batch element, got {len(positions)}")
    for r, c in positions:
        if not (0 <= r < out.shape[2] and 0 <= c < out.shape[3]):
            raise DrnetValueError(f"position {(r, c)} is outside the {tuple(out.shape[2:])} output")
    target = sum(out[b, :, r, c].sum() for b, (r, c) in enumerate(positions))
    (grad,) = torch.autograd.grad(target, x)
    return grad.abs().sum(1).cpu()


@dataclass(frozen=True)
class GradientField:
    """Input pixels with a non-zero gradient of one output position."""

    position: tuple[int, int]  # (row, col) of the probed output
    output_size: tuple[int, int]
    rows: tuple[int, ...]  # input rows with any non-zero gradient
    cols: tuple[int, ...]
    magnitude: Tensor  # (H, W), |gradient| summed over input channels

    @property
    def row_extent(self) -> tuple[int, int]:
        return self.rows[0], self.rows[-1]

    @property
    def col_extent(self) -> tuple[int, int]:
        return self.cols[0], self.cols[-1]


def gradient_field(model: nn.Module, input_size: int | Sequence[int], *, at: str | None = None,
                   in_chans: int | None = None, position: tuple[int, int] | None = None,
                   active: bool = True, dtype: torch.dtype = torch.float64) -> GradientField:
    """Measure the field of one output position (default: the centre) by backpropagation.

    With ``active=True`` (default) the measurement runs on :func:`all_paths_active` of
    ``model``, so the non-zero extent is the true receptive field.
    """
    height, width = check_input_size(input_size)
    chans = input_channels(model) if in_chans is None else in_chans
    net = all_paths_active(model, dtype) if active else model
    x = torch.ones(1, chans, height, width, dtype=dtype)
    with torch.no_grad():
        out_size = tuple(probe_output(net, x.to(model_device(net)), at).shape[-2:])
    pos = position or ((out_size[0] - 1) // 2, (out_size[1] - 1) // 2)
    magnitude = input_gradients(net, x, [pos], at)[0]
    nonzero = magnitude > 0
    rows = tuple(int(i) for i in nonzero.any(1).nonzero().flatten())
    cols = tuple(int(i) for i in nonzero.any(0).nonzero().flatten())
    if not rows:
        raise DrnetValueError("the gradient is zero everywhere: the output does not depend on the "
                              "input")
    return GradientField(pos, out_size, rows, cols, magnitude)


@dataclass(frozen=True)
class AxisCheck:
    """Analytic versus measured input interval of two neighbouring outputs along one axis."""

    axis: str  # "rows" or "cols"
    input_size: tuple[int, int]
    positions: tuple[int, int]
    analytic: tuple[tuple[int, int], tuple[int, int]]
    measured: tuple[tuple[int, int], tuple[int, int]]

    @property
    def ok(self) -> bool:
        return self.analytic == self.measured


def verify_receptive_field(model: nn.Module, *, at: str | None = None,
                           in_chans: int | None = None,
                           dtype: torch.dtype = torch.float64) -> list[AxisCheck]:
    """Check size, jump and offset of ``at``'s field (default: last spatial stage) on each axis.

    Each axis is measured on a thin input: long enough along the axis for two neighbouring
    central outputs' fields to fit, and across it only as wide as the network needs to run
    (zero padding makes the other axis irrelevant), which keeps deep networks fast.
    float32 is several times faster on CPUs and exact enough for ~40-layer paths; a gradient
    that underflowed would shrink the measured extent, so it cannot hide a wrong analytic one.
    """
    chans = input_channels(model) if in_chans is None else in_chans
    thin, report = _smallest_input(model, chans, at)
    stage = report.stage(at) if at is not None else report.last_spatial_stage
    active = all_paths_active(model, dtype)
    checks = []
    for axis in ("rows", "cols"):
        size, fitted = _fitting_size(model, stage, chans, axis, thin)
        dim = -2 if axis == "rows" else -1
        u = (fitted.shape[dim] - 1) // 2
        geometry = fitted.rows if axis == "rows" else fitted.cols
        shape = (size, thin) if axis == "rows" else (thin, size)
        x = torch.ones(2, chans, *shape, dtype=dtype)
        positions = [(u, 0), (u + 1, 0)] if axis == "rows" else [(0, u), (0, u + 1)]
        grads = input_gradients(active, x, positions, stage.name) > 0
        measured = []
        for g in grads:
            idx = g.any(-1 if axis == "rows" else -2).nonzero().flatten()
            measured.append((int(idx[0]), int(idx[-1])))
        analytic = (geometry.interval(u), geometry.interval(u + 1))
        checks.append(AxisCheck(axis, shape, (u, u + 1), analytic, tuple(measured)))
    return checks


def _smallest_input(model: nn.Module, chans: int,
                    at: str | None) -> tuple[int, ReceptiveField]:
    """The smallest square input (a power of two) the model's forward pass accepts."""
    for size in (2 ** k for k in range(10)):
        try:
            report = receptive_field(model, size, in_chans=chans,
                                     stages=None if at is None else [at])
        except UnsupportedLayerError:
            raise
        except (RuntimeError, ValueError):
            continue
        return size, report
    raise DrnetValueError(f"{type(model).__name__} accepts no input up to 512x512")


def _fitting_size(model: nn.Module, stage: StageRF, chans: int, axis: str,
                  thin: int) -> tuple[int, StageRF]:
    """Shortest input along ``axis`` (from an estimate, in steps of the jump) that holds the
    fields of two central outputs; returns it with the stage's field traced at that size."""
    geometry = _exact_axis(stage, axis)
    size = int(2 * max(-geometry.lo, geometry.hi) + 3 * geometry.jump)
    for _ in range(16):
        shape = (size, thin) if axis == "rows" else (thin, size)
        fitted = receptive_field(model, shape, in_chans=chans, stages=[stage.name]).stage(
            stage.name)
        geometry = _exact_axis(fitted, axis)
        n = fitted.shape[-2 if axis == "rows" else -1]
        u = (n - 1) // 2
        if n >= 2 and geometry.interval(u)[0] >= 0 and geometry.interval(u + 1)[1] < size:
            return size, fitted
        size += int(geometry.jump)
    raise DrnetValueError(f"could not find an input size that holds the field of {stage.name!r}")


def _exact_axis(stage: StageRF, axis: str) -> Axis:
    geometry = stage.rows if axis == "rows" else stage.cols
    if geometry is None or geometry.is_global or not geometry.exact:
        raise DrnetValueError(f"the field of {stage.name!r} is not spatial and exact; pick another "
                              "`at`")
    return geometry
