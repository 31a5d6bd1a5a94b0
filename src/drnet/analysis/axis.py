"""One spatial axis of a receptive field: which input coordinates an output position reads.

Design.md §5 in closed form. Output position ``u`` of a tensor reads input coordinates
``[lo + u * jump, hi + u * jump]``, so ``hi - lo + 1`` is the receptive-field size, ``jump`` the
effective stride and ``-lo`` the effective padding, on the unbounded input grid (intervals are
not clipped to the image). Tracking the interval's two ends instead of
(size, padding) keeps even kernels and unions of branches exact. ``support`` is the set of
offsets that are really read (a bit mask), which is what exposes gridding holes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from drnet.errors import DrnetValueError

Number = int | Fraction


def as_number(value: Number) -> Number:
    """A Fraction with denominator 1 becomes an int, so exact results print as integers."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    return value


def json_number(value: Number | None) -> int | float | None:
    """A JSON-friendly number: ints stay ints, fractions (half pixels) become floats."""
    if value is None or isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else float(value)


@dataclass(frozen=True)
class Axis:
    """Where each output position looks along one input axis.

    ``jump is None`` means the axis was pooled away (global pooling, flatten + linear): every
    output then reads the same interval ``[lo, hi]``. ``support`` has bit ``i`` set when input
    coordinate ``lo + i`` is read; it is ``None`` after resampling (interpolation, uneven
    adaptive pooling), where ``exact`` is also ``False`` and the interval is an upper bound.
    """

    lo: Number
    hi: Number
    jump: Number | None
    support: int | None = field(repr=False)
    exact: bool = True

    @classmethod
    def identity(cls) -> Axis:
        """A tensor's own pixels: position ``u`` reads exactly coordinate ``u``."""
        return cls(0, 0, 1, 1)

    # --- the numbers people ask for -------------------------------------------------------
    @property
    def size(self) -> Number:
        """Receptive-field size in input pixels."""
        return as_number(self.hi - self.lo + 1)

    @property
    def padding(self) -> Number:
        """Effective padding: how far the first output's field starts before the input."""
        return as_number(-self.lo)

    @property
    def centre(self) -> Number:
        """Input coordinate of output position 0's field centre (``u * jump`` more for ``u``)."""
        return as_number(Fraction(self.lo + self.hi) / 2)

    @property
    def is_global(self) -> bool:
        return self.jump is None

    def interval(self, position: int) -> tuple[Number, Number]:
        """Input coordinates read by output ``position`` (both ends included)."""
        step = 0 if self.jump is None else self.jump * position
        return as_number(self.lo + step), as_number(self.hi + step)

    def offsets(self) -> tuple[int, ...]:
        """Offsets (relative to output 0's aligned input position) that are really read."""
        if self.support is None or not isinstance(self.lo, int):
            raise DrnetValueError("sampled offsets are known only for exact integer geometry")
        return tuple(self.lo + i for i in set_bits(self.support))

    def holes(self) -> tuple[int, ...]:
        """Offsets inside ``[lo, hi]`` that no path reads: the gridding holes."""
        read = set(self.offsets())
        return tuple(i for i in range(int(self.lo), int(self.hi) + 1) if i not in read)

    def coverage(self) -> float:
        """Fraction of ``[lo, hi]`` that is read (1.0: no holes)."""
        return len(self.offsets()) / int(self.size)

    def to_dict(self) -> dict[str, Any]:
        holes = len(self.holes()) if self.support is not None and self.exact else None
        return {"rf": json_number(self.size), "jump": json_number(self.jump),
                "padding": json_number(self.padding), "centre": json_number(self.centre),
                "lo": json_number(self.lo), "hi": json_number(self.hi), "holes": holes,
                "exact": self.exact}

    # --- how layers transform it ------------------------------------------------------------
    def window(self, kernel: int, stride: int, dilation: int, padding: int) -> Axis:
        """After a conv or pooling window: output ``v`` reads inputs ``v*s - p + t*d``."""
        if self.jump is None:
            return self  # every position already reads the whole field
        jump = self.jump
        support = self.support
        if support is not None:
            support = or_shifts(support, [t * dilation * jump for t in range(kernel)])
        return Axis(as_number(self.lo - padding * jump),
                    as_number(self.hi + (dilation * (kernel - 1) - padding) * jump),
                    as_number(jump * stride), support, self.exact)

    def shift(self, positions: int, step: int = 1) -> Axis:
        """Output ``u`` is input ``positions + u * step`` (padding: negative, crop: positive)."""
        if self.jump is None:
            return self
        return Axis(as_number(self.lo + positions * self.jump),
                    as_number(self.hi + positions * self.jump), as_number(self.jump * step),
                    self.support, self.exact)

    def pooled(self, count: int) -> Axis:
        """Every output reads all ``count`` positions of this axis (global pooling, softmax)."""
        if self.jump is None:
            return self
        support = self.support
        if support is not None:
            support = or_shifts(support, [u * self.jump for u in range(count)])
        return Axis(self.lo, as_number(self.hi + (count - 1) * self.jump), None, support,
                    self.exact)

    def resampled(self, starts: Sequence[int], ends: Sequence[int], in_size: int,
                  out_size: int) -> Axis:
        """After a layer whose output ``u`` reads inputs ``starts[u]..ends[u]``.

        Windows that advance by a constant integer stride with a constant width are an ordinary
        window (exact). Otherwise (interpolation, uneven adaptive pooling, transposed convs) the
        jump becomes ``jump * in_size / out_size`` and the interval is the tightest bound that
        holds for every output position (``exact=False``).
        """
        if self.jump is None:
            return self
        if out_size > 1 and in_size % out_size == 0:
            stride = in_size // out_size
            widths = {e - s for s, e in zip(starts, ends, strict=True)}
            firsts = {s - u * stride for u, s in enumerate(starts)}
            if len(widths) == 1 and len(firsts) == 1:
                return self.window(widths.pop() + 1, stride, 1, -firsts.pop())
        if out_size == 1:
            return self.window(ends[0] - starts[0] + 1, 1, 1, -starts[0])
        jump = Fraction(self.jump) * in_size / out_size
        lo = min(self.lo + s * self.jump - u * jump for u, s in enumerate(starts))
        hi = max(self.hi + e * self.jump - u * jump for u, e in enumerate(ends))
        return Axis(as_number(lo), as_number(hi), as_number(jump), None, False)


def union(axes: Sequence[Axis], counts: Sequence[int]) -> Axis:
    """The field of a sum, product or concatenation of branches: the union of theirs.

    ``counts[i]`` is how many positions branch ``i`` has along this axis; it is needed when a
    pooled branch (e.g. a squeeze-excitation scale) meets a spatial one, which then reads all
    of its positions too.
    """
    if len(axes) == 1:
        return axes[0]
    if any(a.jump is None for a in axes):
        axes = [a.pooled(n) for a, n in zip(axes, counts, strict=True)]
    jumps = {a.jump for a in axes}
    if len(jumps) > 1:
        raise DrnetValueError(f"branches with different effective strides {sorted(jumps)} are "
                              "combined; their fields cannot be described by one stride")
    lo = min(a.lo for a in axes)
    hi = max(a.hi for a in axes)
    support: int | None = 0
    for a in axes:
        if a.support is None or support is None or not isinstance(a.lo, int):
            support = None
        else:
            support |= a.support << int(a.lo - lo)
    return Axis(lo, hi, jumps.pop(), support, all(a.exact for a in axes))


def set_bits(mask: int) -> list[int]:
    """Indices of the set bits of ``mask``, in increasing order (linear time)."""
    return [i for i, bit in enumerate(reversed(bin(mask)[2:])) if bit == "1"]


def or_shifts(mask: int, shifts: Sequence[Number]) -> int | None:
    """Union of ``mask`` shifted by each of ``shifts`` (all must be non-negative integers)."""
    if any(not isinstance(s, int) for s in shifts):
        return None
    out = 0
    for s in shifts:
        out |= mask << s
    return out
