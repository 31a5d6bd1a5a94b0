"""The docs' "Use drnet from timm, SMP and the Hugging Face Hub" examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "integrations.md"
SECTION = "# Use drnet from timm, SMP and the Hugging Face Hub"


def examples() -> list[str]:
    text = PAGE.read_text()
    section = text[text.index(SECTION):]
    return re.findall(r"```python\n(.+?)\n```", section, flags=re.S)


def test_there_is_one_example_per_library() -> None:
    blocks = examples()
    assert len(blocks) == 3
    assert ["timm.create_model" in blocks[0], "smp." in blocks[1],
            "from_pretrained" in blocks[2]] == [True] * 3


@pytest.mark.parametrize("index", [0, 1, 2])
def test_example_runs(index: int, tmp_path, monkeypatch) -> None:
    pytest.importorskip("timm")
    pytest.importorskip("segmentation_models_pytorch")
    monkeypatch.chdir(tmp_path)  # the Hub example writes a folder
    exec(compile(examples()[index], f"docs/integrations.md example {index + 1}", "exec"), {})
