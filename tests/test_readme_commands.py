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

So a misspelt sub-command or flag in the README fails this test. The fine-tuning tour (fit,
validate, predict, resume, export) also runs end to end, in the README's order, on a tiny folder
data set, with overrides that make it cheap (a tiny model, 2 steps, CPU).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.datasets import FOLDER_NUM_CLASSES

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


def readme_commands(text: str | None = None) -> list[str]:
    """Each command of the README's (or ``text``'s) bash blocks: continuation lines joined,
    comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.+?)\n```", text or README.read_text(), flags=re.S):
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
    if command in tour():
        pytest.skip("runs for real in test_the_fine_tuning_tour_runs_end_to_end")
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


# Appended to the tour's commands: the README's own arguments stay, these make them cheap.
TINY_FIT = ["--model.model", "drnseg_d_tiny", "--model.pretrained_backbone", "null"]
TINY_DATA = ["--data.crop_size", "32", "--data.batch_size", "2", "--trainer.max_steps", "2"]
HERE = ["--data.num_workers", "0", "--trainer.accelerator", "cpu"]


def tour() -> list[str]:
    """The README's drnet commands from "Fine-tune on your own images and masks" to "Export"."""
    text = README.read_text()
    start = text.index("### Fine-tune on your own images and masks")
    return [c for c in readme_commands(text[start:text.index("\n## ", start)])
            if c.startswith("drnet ")]


@pytest.mark.slow
def test_the_fine_tuning_tour_runs_end_to_end(folder_root: Path, tmp_path: Path) -> None:
    commands = tour()
    assert [shlex.split(c)[1] for c in commands] == [
        "fit", "fit", "validate", "predict", "fit", "export"], commands
    assert "--data.num_classes 3" in commands[0]
    assert FOLDER_NUM_CLASSES == 3  # the tiny set's classes: the README's --data.num_classes
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    (tmp_path / "my_data").symlink_to(folder_root)
    (tmp_path / "new_photos").symlink_to(folder_root / "images" / "val")
    for command in commands:
        args = shlex.split(command)[1:]
        if args[0] == "fit":
            args += (TINY_DATA if "--ckpt_path" in args else TINY_FIT + TINY_DATA) + HERE
        elif args[0] in LIGHTNING:
            args += HERE
        result = subprocess.run([sys.executable, "-m", "drnet.cli", *args], cwd=tmp_path,
                                capture_output=True, text=True, timeout=600)
        output = f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        assert result.returncode == 0, f"`{' '.join(args)}` exited {result.returncode}\n{output}"
    assert (tmp_path / "my_model.onnx").is_file()
    assert sorted(p.name for p in (tmp_path / "my_predictions").iterdir())[:2] == [
        "img_0.png_labels.png", "img_0.png_overlay.png"]
