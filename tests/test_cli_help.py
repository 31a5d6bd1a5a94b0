"""``drnet fit --model.help TASK`` / ``--data.help DATAMODULE``: every argument says what it
does (jsonargparse reads the classes' Google-style "Args:" sections with docstring-parser)."""

from __future__ import annotations

import re

import pytest

import drnet.data
from drnet.cli import main

pytest.importorskip("docstring_parser")  # without it jsonargparse shows types and defaults only

TASKS = ["SegmentationTask", "ClassificationTask", "DetectionTask"]
DATA_MODULES = [name for name in drnet.data.__all__ if name.endswith("DataModule")]


# "--model.lr LR", "--model.flip {true,false}", "--model.names NAMES, --model.names+ NAMES"
METAVAR = r"(?: (?:\[[^\]]*\]|\{[^}]*\}|[^\s,]+))?"
INVOCATION = re.compile(rf"--[^\s,]+{METAVAR}(?:, --[^\s,]+{METAVAR})*")


def option_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Each ``--group.name`` option of a help page -> its description (without "(type: ...)")."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    text = capsys.readouterr().out.split("Help for", 1)[1]
    options = {}
    for entry in re.split(r"\n  (?=--)", text)[1:]:  # one per option, with its help lines
        invocation = INVOCATION.match(entry)
        assert invocation is not None, entry
        described = re.split(r"\((?:required, )?type: ", entry[invocation.end():])[0]
        options[entry.split()[0]] = " ".join(described.split())
    return options


@pytest.mark.parametrize("task", TASKS)
def test_every_task_argument_is_described(task: str, capsys: pytest.CaptureFixture[str]) -> None:
    options = option_help(["fit", "--model.help", f"drnet.tasks.{task}"], capsys)
    assert len(options) >= 15
    assert [name for name, text in options.items() if not text] == []


@pytest.mark.parametrize("data", DATA_MODULES)
def test_every_datamodule_argument_is_described(data: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    options = option_help(["fit", "--data.help", f"drnet.data.{data}"], capsys)
    assert options
    assert [name for name, text in options.items() if not text] == []
