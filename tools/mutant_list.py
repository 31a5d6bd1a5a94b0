"""The mutants ``tools/mutants.py`` applies: small, realistic one-line bugs in critical modules,
kept as data by area in ``tools/mutants/models.toml`` (the model code) and
``tools/mutants/pipeline.toml`` (the path from data to results), loaded here in that order.

Each ``[[mutant]]`` row names the ``file``, an ``original`` snippet that must occur exactly once
in it, its ``replacement``, the pytest arguments that should catch it (``tests``: files, node ids
or ``-k`` selections: only the relevant tests, so a run stays short) and ``why`` the bug would
matter to a user. ``equivalent`` (optional) holds the reason when the mutant cannot change
behaviour; such a mutant is expected to survive.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency, tomli, is the same parser
    import tomli as tomllib

__all__ = ["MUTANTS", "Mutant", "load"]

AREAS = ("models", "pipeline")  # the files of tools/mutants/, in the order of MUTANTS
HERE = Path(__file__).resolve().parent / "mutants"


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


KEYS = tuple(f.name for f in fields(Mutant))
OPTIONAL = ("equivalent",)


def _row(path: Path, index: int, row: object) -> Mutant:
    name = f"{path}: row {index + 1}"
    if not isinstance(row, dict):
        raise ValueError(f"{name}: expected a [[mutant]] table, got {type(row).__name__}")
    if isinstance(row.get("id"), str):
        name += f" ({row['id']})"
    unknown = sorted(set(row) - set(KEYS))
    missing = [k for k in KEYS if k not in row and k not in OPTIONAL]
    if unknown or missing:
        problems = [f"{what} keys {keys}" for what, keys in (("unknown", unknown),
                                                            ("missing", missing)) if keys]
        raise ValueError(f"{name}: {', '.join(problems)} (a row has {', '.join(KEYS)}; "
                         f"{', '.join(OPTIONAL)} optional)")
    for key, value in row.items():
        ok = (isinstance(value, list) and all(isinstance(a, str) for a in value)
              if key == "tests" else isinstance(value, str))
        if not ok:
            kind = "a list of strings" if key == "tests" else "a string"
            raise ValueError(f"{name}: {key} must be {kind}, got {value!r}")
    return Mutant(**{**row, "tests": tuple(row["tests"])})


def load(path: Path) -> tuple[Mutant, ...]:
    """The mutants of one TOML file, checked: a wrong key or type names the file and the row."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: {error}") from error
    if set(data) - {"mutant"} or not isinstance(data.get("mutant", []), list):
        raise ValueError(f"{path}: expected only [[mutant]] rows, got keys {sorted(data)}")
    return tuple(_row(path, i, row) for i, row in enumerate(data.get("mutant", [])))


def load_all(paths: list[Path]) -> tuple[Mutant, ...]:
    mutants = tuple(m for path in paths for m in load(path))
    seen: set[str] = set()
    for m in mutants:
        if m.id in seen:
            raise ValueError(f"mutant id {m.id!r} is used twice in {', '.join(map(str, paths))}")
        seen.add(m.id)
    return mutants


MUTANTS: tuple[Mutant, ...] = load_all([HERE / f"{area}.toml" for area in AREAS])
