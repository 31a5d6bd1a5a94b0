"""Turn an output stride into per-stage strides and dilations ("à trous" placement).

Design.md §3: when a stage's stride is replaced by dilation, its first 3x3 conv (the formerly
strided one) keeps the *previous* dilation and every later 3x3 conv uses the new one. With that
placement the output-stride-k network computes exactly the output-stride-32 function, sampled
more densely. Multi-grid (DeepLabv3, Chen et al. 2017, §3.2) multiplies the dilation of block i
of the last stage by ``unit_rates[i]``, first block included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drnet.errors import DrnetValueError

VALID_OUTPUT_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class StagePlan:
    """Stride and dilations of one stage."""

    stride: int
    dilation: int  # dilation of every 3x3 conv after the stage's first one
    first_dilation: int  # dilation of the stage's first (formerly strided) 3x3 conv
    unit_rates: tuple[int, ...] = ()  # multi-grid multipliers, one per block

    def block_dilations(self, index: int) -> tuple[int, int]:
        """(first_dilation, dilation) of block ``index`` of this stage."""
        if self.unit_rates:
            rate = self.dilation * self.unit_rates[index]
            return rate, rate
        return (self.first_dilation if index == 0 else self.dilation), self.dilation


def plan_stages(
    strides: Sequence[int],
    *,
    stem_stride: int,
    output_stride: int,
    dilations: Sequence[int] | None = None,
    multi_grid: Sequence[int] | None = None,
    last_stage_blocks: int | None = None,
    model_name: str = "model",
) -> tuple[StagePlan, ...]:
    """Plan the stages of a network whose stages nominally stride by ``strides``.

    Strides are kept while the running reduction stays within ``output_stride``; after that each
    stride is replaced by an equal factor of dilation. ``dilations`` overrides the resulting
    per-stage dilation (strides still follow ``output_stride``); ``multi_grid`` gives the last
    stage's per-block rates and must have ``last_stage_blocks`` entries.
    """
    if output_stride not in VALID_OUTPUT_STRIDES:
        raise DrnetValueError(f"output_stride must be one of {VALID_OUTPUT_STRIDES} for "
                              f"{model_name}, got {output_stride}")
    if dilations is not None:
        dilations = tuple(dilations)
        if len(dilations) != len(strides) or any(
            not isinstance(d, int) or d < 1 for d in dilations
        ):
            raise DrnetValueError(f"dilations must be {len(strides)} ints >= 1 (one per stage) for "
                                  f"{model_name}, got {dilations}")
    unit_rates: tuple[int, ...] = ()
    if multi_grid is not None:
        unit_rates = tuple(multi_grid)
        if any(not isinstance(r, int) or r < 1 for r in unit_rates) or (
            last_stage_blocks is not None and len(unit_rates) != last_stage_blocks
        ):
            raise DrnetValueError(f"multi_grid must be {last_stage_blocks} ints >= 1 (one per "
                                  f"block of the last stage) for {model_name}, got {unit_rates}")

    plans = []
    reduction, dilation = stem_stride, 1
    for i, nominal in enumerate(strides):
        previous = dilation
        if reduction * nominal > output_stride:
            stride, dilation = 1, dilation * nominal
        else:
            stride, reduction = nominal, reduction * nominal
        if dilations is not None:
            dilation = dilations[i]
            previous = dilations[i - 1] if i else 1
        last = i == len(strides) - 1
        plans.append(StagePlan(stride, dilation, previous, unit_rates if last else ()))
    if reduction != output_stride:
        raise DrnetValueError(f"{model_name} cannot reach output_stride {output_stride}: its "
                              f"stages stride to {reduction} at most")
    return tuple(plans)
