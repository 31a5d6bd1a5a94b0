"""Opt-in: make glibc malloc keep freed memory in the process instead of returning it.

Large tensors are ``mmap``-ed and unmapped again on free, so the next call page-faults the
same amount back in. With mmap off and a high trim threshold, freed blocks are reused. This
changes the whole process (every model benchmarked in it), never drnet's path alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Switch glibc malloc to keep freed memory; False where there is no glibc ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
