"""``engine="auto"`` with several engines installed: time them on the first input, keep the
fastest.

Which engine is faster depends on the network and the CPU (on the project's AVX-512 EPYC,
OpenVINO ran ResNet-50 OS8 5 % faster than ONNX Runtime and DRN-D-22 3 % slower), so a fixed
order cannot always pick the best one. Like cuDNN's benchmark mode, the first call runs every
candidate on the real input (once to warm up and compile its shape, then ``rounds`` timed
passes, interleaved), keeps the fastest and frees the others; later calls cost nothing extra.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from torch import Tensor

from drnet.errors import DrnetValueError
from drnet.fast.engines.runner import EngineRunner


class FastestOf:
    """Behaves like an :class:`EngineRunner`; ``chosen`` names the engine kept (``None`` until
    the first call) and ``timings`` holds the measured seconds per candidate."""

    def __init__(self, runners: dict[str, EngineRunner], rounds: int = 2) -> None:
        if not runners:
            raise DrnetValueError("FastestOf needs at least one runner")
        self.runners = dict(runners)
        self.rounds = rounds
        self.chosen: str | None = None if len(runners) > 1 else next(iter(runners))
        self.timings: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        return self.chosen or f"fastest of {', '.join(self.runners)}"

    @property
    def graph(self) -> Any:
        return next(iter(self.runners.values())).graph

    def __call__(self, x: Tensor) -> Tensor | list[Tensor]:
        if self.chosen is None:
            self._choose(x)
        assert self.chosen is not None
        return self.runners[self.chosen](x)

    def run_dynamic(self, x: Tensor) -> Tensor | list[Tensor]:
        return self.runners[self.chosen or next(iter(self.runners))].run_dynamic(x)

    def _choose(self, x: Tensor) -> None:
        for runner in self.runners.values():
            runner(x)  # warm-up: compiles this shape where the runner caches shapes
        self.timings = {name: [] for name in self.runners}
        for _ in range(self.rounds):
            for name, runner in self.runners.items():
                start = time.perf_counter()
                runner(x)
                self.timings[name].append(time.perf_counter() - start)
        self.chosen = min(self.timings, key=lambda n: statistics.median(self.timings[n]))
        self.runners = {self.chosen: self.runners[self.chosen]}  # free the others
