"""The README's shell commands work as shown.

Every command in the README's ```bash blocks is classified by a rule below, and no command may
be left unclassified:

- cheap ``drnet`` commands run through the real CLI (``python -m drnet.cli``) in a scratch folder
  and must exit 0;
- expensive ``drnet`` commands (training, prediction on your data, downloads, exports of a
  trained checkpoint, the full demo) are *not run, by design*; their arguments are still checked:
  the argparse sub-commands are parsed by the CLI's own parser, and the Lightning sub-commands
  (fit/validate/test/predict) are run with ``--print_config``, which parses and validates every
  option and the config file without training;
- the set-up commands (``python3 -m venv ... pip install ...``) are not run here: they install
  the package (minutes); CI runs exactly them (``tests/test_project.py`` checks that).

So a misspelt sub-command or flag in the README fails this test.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

LIGHTNING = ("fit", "validate", "test", "predict")
# drnet sub-commands (first words) not run, and why; their arguments are parsed.
EXPENSIVE = {
    ("demo",): "trains three networks for ~4 minutes (drnet demo --quick runs instead)",
    ("export",): "exports a checkpoint that only a finished training run leaves",
    ("quantize",): "calibrates on a real data set",
    ("bench",): "times large models for minutes",
    ("weights", "fetch"): "downloads checkpoints",
    ("weights", "verify"): "needs a downloaded checkpoint",
    ("weights", "convert"): "needs a downloaded checkpoint",
}
for _command in LIGHTNING:
    EXPENSIVE[(_command,)] = ("trains or predicts on a data set that is not here (a GPU job for "
                              "the real configs)")
CHEAP_EXCEPTIONS = {"--quick"}  # flags that make an expensive sub-command cheap
SETUP = "installs the package into a new virtual environment (minutes); CI runs it (.ci/run)"


def readme_commands() -> list[str]:
    """Each command of the README's bash blocks: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.+?)\n```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(shlex.split(line, comments=True))
            if line:
                commands.append(line)
    return commands


def kind(command: str) -> tuple[str, str]:
    """("run" | "parse" | "skip", reason) for one README command."""
    words = shlex.split(command)
    if words[:3] == ["python3", "-m", "venv"]:
        return "skip", SETUP
    if words[0] != "drnet":
        raise AssertionError(f"README command of no known kind (give it a rule here): {command}")
    args = words[1:]
    for prefix, reason in EXPENSIVE.items():
        if tuple(args[:len(prefix)]) == prefix and not CHEAP_EXCEPTIONS & set(args):
            return "parse", reason
    return "run", "cheap"


COMMANDS = readme_commands()


def test_the_readme_shows_commands_of_every_kind() -> None:
    kinds = {kind(command)[0] for command in COMMANDS}
    assert kinds == {"run", "parse", "skip"}, kinds


@pytest.mark.parametrize("command", COMMANDS, ids=[c[:60] for c in COMMANDS])
def test_readme_command(command: str, tmp_path: Path) -> None:
    what, reason = kind(command)
    if what == "skip":
        pytest.skip(f"not run by design: {reason}")
    args = shlex.split(command)[1:]
    (tmp_path / "configs").symlink_to(ROOT / "configs")  # the README runs from the repository root
    if what == "parse" and args[0] not in LIGHTNING:
        from drnet.cli import build_parser

        build_parser().parse_args(args)  # a wrong sub-command or flag exits (SystemExit 2)
        return
    if what == "parse":
        args = [*args, "--print_config"]
    result = subprocess.run([sys.executable, "-m", "drnet.cli", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    output = f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"`{command}` exited {result.returncode} ({reason})\n{output}"
