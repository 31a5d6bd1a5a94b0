"""Effective receptive field (Luo, Li, Urtasun, Zemel, NeurIPS 2016).

Not every pixel of the theoretical field matters equally: the mean ``|d out[centre] / d x|``
over random inputs concentrates in a roughly Gaussian blob that grows like the square root of
the depth, while the theoretical field grows linearly. The summary says how much of the
theoretical field holds most of the gradient mass.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from drnet.analysis.gradient import input_gradients
from drnet.analysis.receptive_field import check_input_size, receptive_field
from drnet.analysis.tracer import input_channels, model_device
from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class EffectiveRF:
    """Gradient mass of one central output over the input, with its summary figures."""

    model: str
    at: str  # module whose output was probed
    input_size: tuple[int, int]
    position: tuple[int, int]  # probed output position (row, col)
    samples: int
    random_weights: bool
    magnitude: Tensor  # (H, W) float64, sums to 1
    theoretical: tuple[tuple[int, int], tuple[int, int]]  # (rows, cols) of the analytic field,
    # clipped to the input

    @property
    def theoretical_area(self) -> int:
        (r0, r1), (c0, c1) = self.theoretical
        return (r1 - r0 + 1) * (c1 - c0 + 1)

    def mass_fraction(self, mass: float) -> float:
        """Smallest share of the theoretical field's area whose pixels hold ``mass`` of the
        gradient (e.g. 0.5: 50% of the mass sits in this fraction of the field)."""
        values = self.magnitude.flatten().sort(descending=True).values.cumsum(0)
        pixels = int(torch.searchsorted(values, torch.tensor(mass, dtype=values.dtype))) + 1
        return pixels / self.theoretical_area

    @property
    def std(self) -> tuple[float, float]:
        """Standard deviation (pixels) of the gradient mass along rows and columns."""
        out = []
        for marginal in (self.magnitude.sum(1), self.magnitude.sum(0)):
            coords = torch.arange(marginal.numel(), dtype=marginal.dtype)
            mean = (coords * marginal).sum()
            out.append(float(((coords - mean) ** 2 * marginal).sum().sqrt()))
        return out[0], out[1]

    def summary(self) -> dict[str, Any]:
        (r0, r1), (c0, c1) = self.theoretical
        return {"model": self.model, "at": self.at, "input_size": list(self.input_size),
                "position": list(self.position), "samples": self.samples,
                "random_weights": self.random_weights,
                "theoretical": {"rows": [r0, r1], "cols": [c0, c1]},
                "mass50": self.mass_fraction(0.5), "mass95": self.mass_fraction(0.95),
                "std": list(self.std)}


def effective_receptive_field(model: nn.Module, input_size: int | Sequence[int] = (224, 224),
                              *, at: str | None = None, samples: int = 8,
                              random_weights: bool = False, in_chans: int | None = None,
                              batch_size: int = 4, seed: int = 0, name: str | None = None,
                              position: tuple[int, int] | None = None) -> EffectiveRF:
    """Mean ``|gradient|`` of one output of ``at`` (default: the last spatial stage) at
    ``position`` (row, col of that output; default its centre) over ``samples``
    standard-normal inputs, in eval mode.

    With ``random_weights`` every sample also gets freshly initialised weights (each module's
    ``reset_parameters``), which gives the architecture's ERF rather than one network's.
    """
    size = check_input_size(input_size)
    if not isinstance(samples, int) or samples < 1:
        raise DrnetValueError(f"samples must be an int >= 1, got {samples!r}")
    if model_device(model).type == "meta":
        raise DrnetValueError("the model is on the meta device; the effective receptive field "
                              "needs real weights")
    chans = input_channels(model) if in_chans is None else in_chans
    report = receptive_field(model, size, in_chans=chans, stages=None if at is None else [at])
    stage = report.stage(at) if at is not None else report.last_spatial_stage
    if stage.rows is None or stage.cols is None or stage.rows.is_global or stage.cols.is_global:
        raise DrnetValueError(f"the output of {stage.name!r} has no image positions; pick `at`")
    if position is None:
        position = ((stage.shape[-2] - 1) // 2, (stage.shape[-1] - 1) // 2)
    elif not all(0 <= p < n for p, n in zip(position, stage.shape[-2:], strict=True)):
        raise DrnetValueError(f"position {tuple(position)} is outside the "
                              f"{tuple(stage.shape[-2:])} output of {stage.name!r}")
    position = (int(position[0]), int(position[1]))
    generator = torch.Generator().manual_seed(seed)
    modes = {m: m.training for m in model.modules()}
    total = torch.zeros(size, dtype=torch.float64)
    try:
        model.eval()
        done = 0
        while done < samples:
            count = 1 if random_weights else min(batch_size, samples - done)
            net = _reinitialised(model, seed + done) if random_weights else model
            x = torch.randn(count, chans, *size, generator=generator)
            total += input_gradients(net, x, [position] * count, stage.name).sum(0).double()
            done += count
    finally:
        for m, training in modes.items():
            m.training = training
    if not total.sum() > 0:
        raise DrnetValueError(f"the gradient of {stage.name!r} is zero for every sample")
    clip = [(max(int(lo), 0), min(int(hi), n - 1)) for (lo, hi), n in (
        (stage.rows.interval(position[0]), size[0]), (stage.cols.interval(position[1]), size[1]))]
    return EffectiveRF(name or report.model, stage.name, size, position, samples,
                       random_weights, total / total.sum(), (clip[0], clip[1]))


def _reinitialised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every module's parameters re-drawn (deterministic by seed)."""
    net = copy.deepcopy(model).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in net.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return net
