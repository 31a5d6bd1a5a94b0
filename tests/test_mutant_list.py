"""``tools/mutants.py``'s list stays applicable as the code moves: every snippet is found exactly
once, every mutated file still parses, every named test file exists. (Running the mutants takes
minutes; see docs/reliability.md, "Testing".)"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    tools = str(ROOT / "tools")
    if tools not in sys.path:  # the tools import each other by name, as when run as scripts
        sys.path.insert(0, tools)
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


MUTANT_LIST = _load("mutant_list")
MUTANTS = MUTANT_LIST.MUTANTS


def test_ids_are_unique_and_reasons_given() -> None:
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids))
    assert all(m.why for m in MUTANTS)
    assert all(m.original != m.replacement for m in MUTANTS)


ROW = ('[[mutant]]\nid = "x"\nfile = "f.py"\noriginal = "a"\nreplacement = "b"\n'
       'tests = ["tests/t.py"]\n')


@pytest.mark.parametrize(("text", "message"), [
    (ROW + 'why = "w"\nequivalnt = "typo"\n', r"row 1 \(x\): unknown keys \['equivalnt'\]"),
    (ROW, r"row 1 \(x\): missing keys \['why'\]"),
], ids=["unknown", "missing"])
def test_a_wrong_row_names_its_file_and_id(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"models\.toml: " + message):
        MUTANT_LIST.load(path)
    path.write_text(ROW + 'why = "w"\n')
    expected = MUTANT_LIST.Mutant("x", "f.py", "a", "b", ("tests/t.py",), "w")
    assert MUTANT_LIST.load(path) == (expected,)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_each_mutant_applies_once_and_parses(mutant) -> None:
    text = (ROOT / mutant.file).read_text()
    assert text.count(mutant.original) == 1, f"{mutant.id}: snippet not found exactly once"
    ast.parse(text.replace(mutant.original, mutant.replacement))
    files = [a.split("::")[0] for a in mutant.tests if a.startswith("tests/")]
    assert files
    assert all((ROOT / f).is_file() for f in files), files


def test_the_tool_lists_without_running(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "mutants.py"), "--list",
                          "--only", "mask-nearest"], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert out.startswith("mask-nearest  src/drnet/data/transforms.py  tests/test_data_transforms")
    unknown = subprocess.run([sys.executable, str(ROOT / "tools" / "mutants.py"), "--only",
                              "no-such-mutant"], capture_output=True, text=True, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown mutant ids ['no-such-mutant']" in unknown.stderr
