"""Interleaved timing: candidates take turns, so a load change on a shared machine hits all.

Each round runs every candidate once; ratios are taken between medians of the same rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the measured rounds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> tuple[float, float]:
        """(first, third) quartile; (min, max) with fewer than 4 samples."""
        if len(self.samples) < 4:
            return min(self.samples), max(self.samples)
        q = statistics.quantiles(self.samples, n=4)
        return q[0], q[2]

    def as_dict(self) -> dict[str, float | list[float]]:
        low, high = self.spread
        return {"median_s": self.median, "q1_s": low, "q3_s": high, "min_s": min(self.samples),
                "samples_s": list(self.samples)}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(candidates: dict[str, Callable[[], object]], *, warmup: int = 1,
                     repeats: int = 5, device: torch.device | str = "cpu",
                     progress: Callable[[str], None] | None = None) -> dict[str, Timing]:
    """Warm every candidate up, then time ``repeats`` rounds of one call each, in turn."""
    if repeats < 1 or warmup < 0:
        raise DrnetValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    device = torch.device(device)
    for i in range(warmup):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            if progress:
                progress(f"warm-up {i + 1}/{warmup} {name}: {time.perf_counter() - start:.3f} s")
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for i in range(repeats):
        for name, fn in candidates.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            samples[name].append(time.perf_counter() - start)
        if progress:
            progress(f"round {i + 1}/{repeats}: " + ", ".join(
                f"{n} {s[-1]:.3f} s" for n, s in samples.items()))
    return {name: Timing(tuple(s)) for name, s in samples.items()}
