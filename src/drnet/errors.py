"""DrnetError, the base of every error drnet raises on purpose.

Code that calls drnet can catch one class, and the ``drnet`` command reports these errors in one
line (their message says what is wrong and what was expected) while any other exception, an
internal bug, keeps its traceback. Each subclass also derives from the builtin it replaces
(``ValueError``, ``ImportError``, ``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class DrnetError(Exception):
    """An error drnet raised deliberately; its message names the fault and the expectation."""


class DrnetValueError(DrnetError, ValueError):
    """A bad value (an argument, a file's content, a shape) that drnet checked and refused."""


class DrnetTypeError(DrnetError, TypeError):
    """An argument of the wrong kind that drnet checked and refused."""


class NonFiniteLossError(DrnetError, FloatingPointError):
    """The training loss became NaN or inf; the message names the step and what to try."""


class OutOfMemoryEstimateError(DrnetError, MemoryError):
    """An input whose estimated peak memory exceeds what is free; nothing was run."""
