"""One mutant of ``tools/mutants.py``: a one-line change to one file and the tests that must
notice it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """One small change to one file, and the tests that must notice it."""

    id: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    why: str
    equivalent: str | None = None  # why it cannot change behaviour (expected to survive)
