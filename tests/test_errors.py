"""Every error drnet raises on purpose shares DrnetError and keeps its builtin base."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drnet.analysis.layout import LayoutError
from drnet.analysis.rules import UnsupportedOperation
from drnet.analysis.tracer import UnsupportedLayerError
from drnet.bench.torchvision_twin import NotComparableError
from drnet.cli import is_user_error
from drnet.cli.run_folder import RunFolderError
from drnet.data.bad_samples import BadSampleError, TooManyBadSamplesError
from drnet.data.preprocessing import PreprocessingMismatchError
from drnet.errors import (
    DrnetError,
    DrnetTypeError,
    DrnetValueError,
    NonFiniteLossError,
    OutOfMemoryEstimateError,
)
from drnet.fast.engines import EngineNotApplicableError, MissingExtraError
from drnet.fast.engines.build import EngineCheckError
from drnet.fast.export import ExportCheckError, UnsupportedExportError
from drnet.models.sources import HashMismatchError, HubNotInstalledError, WeightsNotFoundError
from drnet.models.weights import CheckpointError
from drnet.tasks.prediction_files import PredictionOutputError

ERRORS = {
    UnsupportedOperation: ValueError, LayoutError: ValueError, UnsupportedLayerError: ValueError,
    BadSampleError: ValueError, TooManyBadSamplesError: ValueError,
    PreprocessingMismatchError: ValueError, EngineNotApplicableError: ValueError,
    MissingExtraError: ImportError, EngineCheckError: RuntimeError, ExportCheckError: RuntimeError,
    UnsupportedExportError: ValueError, NotComparableError: ValueError,
    CheckpointError: ValueError, WeightsNotFoundError: ValueError, HashMismatchError: ValueError,
    HubNotInstalledError: ImportError, PredictionOutputError: ValueError,
    RunFolderError: ValueError, DrnetValueError: ValueError, DrnetTypeError: TypeError,
    NonFiniteLossError: FloatingPointError, OutOfMemoryEstimateError: MemoryError,
}


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: error.__name__)
def test_error_derives_from_drnet_error_and_its_builtin(error: type[Exception]) -> None:
    assert issubclass(error, DrnetError)
    assert issubclass(error, ERRORS[error])
    assert is_user_error(error("message"))


def test_internal_bugs_are_not_user_errors() -> None:
    assert not is_user_error(RuntimeError("an internal bug"))
    assert not is_user_error(KeyError("missing"))
    # a ValueError or TypeError drnet did not raise on purpose (a library's, a bug's) is no
    # user error: the command shows its traceback
    assert not is_user_error(ValueError("invalid literal for int() with base 10: 'x'"))
    assert not is_user_error(TypeError("unsupported operand type(s)"))


def test_drnet_raises_no_bare_value_or_type_error() -> None:
    """Every deliberate check raises a DrnetError (so the CLI reports it in one line and a
    caller can catch them all); a bare builtin would read as an internal bug."""
    src = Path(__file__).resolve().parents[1] / "src" / "drnet"
    bare = [f"{path.relative_to(src)}:{number}"
            for path in sorted(src.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"raise (ValueError|TypeError|FloatingPointError)\(", line)]
    assert not bare, bare
