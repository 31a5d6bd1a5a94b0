"""Symmetric "same" padding for odd kernels, so dilation never shifts a feature map."""

from __future__ import annotations

from drnet.errors import DrnetValueError


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps a stride-1 conv's output aligned with (and as large as) its input.

    The effective kernel of a dilated conv is ``dilation * (kernel_size - 1) + 1``; padding half
    of its span on each side keeps output pixel ``i`` centred on input pixel ``i``. That centring
    is what makes stride-to-dilation conversion exact (design.md §3).
    """
    if kernel_size < 1:
        raise DrnetValueError(f"kernel_size must be >= 1, got {kernel_size}")
    if dilation < 1:
        raise DrnetValueError(f"dilation must be >= 1, got {dilation}")
    span = dilation * (kernel_size - 1)
    if span % 2:
        raise DrnetValueError("symmetric padding needs an odd effective kernel; "
                              f"kernel_size={kernel_size} with dilation={dilation} spans "
                              f"{span + 1} pixels")
    return span // 2
