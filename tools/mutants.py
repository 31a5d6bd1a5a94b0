"""Mutation check: do the tests fail when the code is wrong?

Copies the working tree (tracked and untracked, not ignored files) to a scratch folder, then
applies each mutant of ``tools/mutant_list.py`` there, one at a time, runs only the tests the
mutant names (``pytest -x``, with a timeout) against the mutated copy, restores the file and
prints a table: *killed* (a test failed), *survived* (no test noticed: a gap), *equivalent*
(survived, and the list explains why it cannot change behaviour), *timeout*. The worktree is
never modified. Before the mutants, the same tests run once on the unmutated copy: a failure
there would make every mutant look killed, so the run stops.

    python tools/mutants.py                 # every mutant (about 10 minutes on 2 cores)
    python tools/mutants.py --list          # the mutants and their tests, nothing run
    python tools/mutants.py --only mask-nearest slide-row-stride

Exit status 0 when no mutant survives unexplained, 1 otherwise (2: the baseline failed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from mutant_list import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    """How one mutant fared."""

    mutant: Mutant
    status: str  # killed, survived, equivalent, timeout, error
    seconds: float
    detail: str = ""  # the first failing test, or what went wrong


def tree_files(root: Path) -> list[str]:
    """Tracked and untracked files of the worktree that git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, check=True, capture_output=True).stdout
    return sorted({f for f in out.decode().split("\0") if f and (root / f).is_file()})


def copy_tree(root: Path, dest: Path) -> None:
    for name in tree_files(root):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


def apply(tree: Path, mutant: Mutant) -> str:
    """Write the mutant into ``tree``; returns the file's original text."""
    path = tree / mutant.file
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        raise ValueError(f"{mutant.id}: the original snippet occurs {count} times in "
                         f"{mutant.file} (expected once); update its row in tools/mutants/*.toml")
    path.write_text(text.replace(mutant.original, mutant.replacement))
    return text


def run_pytest(tree: Path, args: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """``pytest -x`` in ``tree`` with its ``src`` first on the path; (exit code or None on
    timeout, output)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(tree)]),
           "PYTHONDONTWRITEBYTECODE": "1"}  # never reuse bytecode of another mutant
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the session this call started, children too
        output, _ = proc.communicate()
        return None, output


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" - ")[0]
    return output.strip().splitlines()[-1] if output.strip() else ""


def judge(mutant: Mutant, code: int | None, output: str) -> tuple[str, str]:
    if code is None:
        return "timeout", "no result within the timeout (counts as caught)"
    if code == 0:
        return ("equivalent", mutant.equivalent) if mutant.equivalent else (
            "survived", "every selected test passed")
    if code in (1, 2):  # failures, or an error while collecting (the mutant broke an import)
        return "killed", first_failure(output)
    return "error", f"pytest exit code {code}: {first_failure(output)}"


def run_mutants(mutants: Sequence[Mutant], timeout: float, baseline: bool,
                root: Path = ROOT) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="drnet-mutants-") as scratch:
        tree = Path(scratch)
        copy_tree(root, tree)
        for mutant in mutants:  # a stale snippet is reported before anything runs
            (tree / mutant.file).write_text(apply(tree, mutant))
        if baseline:
            args = sorted({a for m in mutants for a in _files(m.tests)})
            start = time.perf_counter()
            code, output = run_pytest(tree, args, timeout * 4)
            print(f"baseline: {len(args)} test files on the unmutated tree, exit code {code}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            if code != 0:
                print(output[-3000:])
                raise SystemExit(2)
        outcomes = []
        for index, mutant in enumerate(mutants, 1):
            original = apply(tree, mutant)
            start = time.perf_counter()
            try:
                code, output = run_pytest(tree, mutant.tests, timeout)
            finally:
                (tree / mutant.file).write_text(original)
            status, detail = judge(mutant, code, output)
            outcomes.append(Outcome(mutant, status, time.perf_counter() - start, detail))
            print(f"[{index}/{len(mutants)}] {mutant.id}: {status} "
                  f"({outcomes[-1].seconds:.0f} s) {detail}", flush=True)
    return outcomes


def _files(args: Sequence[str]) -> list[str]:
    """The test files among pytest arguments (a ``-k`` expression and node ids excluded)."""
    files, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-k":
            skip = True
        elif not arg.startswith("-"):
            files.append(arg.split("::")[0])
    return files


def table(outcomes: Sequence[Outcome]) -> str:
    width = max(len(o.mutant.id) for o in outcomes)
    lines = [f"{'mutant':<{width}}  {'module':<32}  {'result':<10}  {'s':>4}  detail",
             f"{'-' * width}  {'-' * 32}  {'-' * 10}  {'-' * 4}  {'-' * 6}"]
    for o in outcomes:
        module = o.mutant.file.removeprefix("src/drnet/")
        lines.append(f"{o.mutant.id:<{width}}  {module:<32}  {o.status:<10}  "
                     f"{o.seconds:4.0f}  {o.detail}")
    counts = {s: sum(o.status == s for o in outcomes)
              for s in ("killed", "timeout", "equivalent", "survived", "error")}
    total = sum(o.seconds for o in outcomes)
    lines.append(f"{len(outcomes)} mutants: " + ", ".join(f"{n} {s}" for s, n in counts.items())
                 + f"; {total / 60:.1f} min of tests")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the selected tests on the unmutated tree")
    parser.add_argument("--json", metavar="FILE", help="also write the outcomes as JSON")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the git checkout to copy (default: this one), e.g. a clone of an "
                             "older commit, to see which mutants its tests missed")
    args = parser.parse_args(argv)
    known = {m.id for m in MUTANTS}
    unknown = sorted(set(args.only or ()) - known)
    if unknown:
        parser.error(f"unknown mutant ids {unknown}; see --list")
    mutants = [m for m in MUTANTS if not args.only or m.id in args.only]
    if args.list:
        try:
            for m in mutants:
                mark = f"  [equivalent: {m.equivalent}]" if m.equivalent else ""
                print(f"{m.id}  {m.file}  {' '.join(m.tests)}\n    {m.why}{mark}")
        except BrokenPipeError:  # `--list | head`: the reader has all it wanted
            sys.stdout = None  # nothing left to flush at exit
        return 0
    outcomes = run_mutants(mutants, args.timeout, not args.no_baseline, args.root)
    print("\n" + table(outcomes))
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{**asdict(o.mutant), "status": o.status, "seconds": round(o.seconds, 1),
              "detail": o.detail} for o in outcomes], indent=2))
    return 1 if any(o.status in ("survived", "error") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
