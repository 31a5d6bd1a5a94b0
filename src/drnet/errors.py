"""DrnetError, the base of every error drnet raises on purpose.

Code that calls drnet can catch one class, and the ``drnet`` command reports these errors in one
line (their message says what is wrong and what was expected) while any other exception, an
internal bug, keeps its traceback. Each subclass also derives from the builtin it replaces
(``ValueError``, ``ImportError``, ``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class DrnetError(Exception):
    """An error drnet raised deliberately; its message names the fault and the expectation."""
