"""What starting ``drnet`` and ``import drnet`` cost: help and version run no torch, and the model
API loads neither detection, Lightning nor plots.

Import sets are asserted rather than times (a loaded test machine makes timings flaky); torch
alone takes over a second to import, so "no torch" is what keeps ``drnet --help`` under one.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from drnet.cli import COMMANDS

HEAVY = ("torch", "torchvision", "lightning", "matplotlib")


def _loaded_after(code: str) -> set[str]:
    """The modules loaded by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.splitlines()[-1].split())


def _run_cli(argv: list[str]) -> str:
    return (f"from drnet.cli import main\ntry:\n    main({argv!r})\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n")


@pytest.mark.parametrize("argv", [["--help"], ["--version"],
                                  *([name, "--help"] for name in COMMANDS)],
                         ids=lambda argv: " ".join(argv))
def test_help_and_version_import_no_torch(argv: list[str]) -> None:
    loaded = _loaded_after(_run_cli(argv))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_import_drnet_runs_no_torch() -> None:
    loaded = _loaded_after("import drnet; assert drnet.__version__")
    assert not loaded & set(HEAVY)


def test_model_api_imports_no_detection_lightning_or_plots() -> None:
    loaded = _loaded_after("import drnet; drnet.create_model('resnet18', num_classes=3); "
                           "assert 'fcos_resnet18_fpn' in drnet.list_models()")
    assert "torch" in loaded
    unwanted = {m for m in loaded if m.startswith(
        ("lightning", "matplotlib", "drnet.tasks", "drnet.models.detection.", "drnet.data"))}
    assert not unwanted, sorted(unwanted)


def test_detector_names_still_resolve_lazily() -> None:
    from drnet.models import detection

    assert detection.anchor_sizes_for.__module__ == "drnet.models.detection.detectors"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = detection.nothing
