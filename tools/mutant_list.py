"""The mutants ``tools/mutants.py`` applies: small, realistic one-line bugs in critical modules,
kept by area in ``mutant_list_models.py`` (the model code) and ``mutant_list_pipeline.py`` (the
path from data to results).

Each row names the file, a snippet that must occur exactly once in it, its replacement, the
pytest arguments that should catch it (files, node ids or ``-k`` selections: only the relevant
tests, so a run stays short) and why the bug would matter to a user. ``equivalent`` holds the
reason when the mutant cannot change behaviour; such a mutant is expected to survive.
"""

from __future__ import annotations

from mutant_list_models import MODEL_MUTANTS
from mutant_list_pipeline import PIPELINE_MUTANTS
from mutant_record import Mutant

__all__ = ["MUTANTS", "Mutant"]

MUTANTS: tuple[Mutant, ...] = (*MODEL_MUTANTS, *PIPELINE_MUTANTS)
