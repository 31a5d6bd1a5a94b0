"""Export a model to ONNX, TorchScript or a ``torch.export`` ExportedProgram, then check it.

Height and width stay dynamic (ONNX and ExportedProgram: symbolic; TorchScript: traced with
shape arithmetic), and every export is run again at two input sizes -- ONNX through
onnxruntime -- and compared with the eager model. onnx/onnxruntime are imported only here.

The input normalisation of the weights (``model.preprocessing``) is written into the file, so
a deployment reads it instead of guessing: ONNX ``metadata_props`` ``drnet.mean``,
``drnet.std`` (JSON lists, RGB, for inputs in [0, 1]) and ``drnet.preprocessing`` (JSON, with
class names and colours); TorchScript and ExportedProgram an extra file ``preprocessing.json``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from drnet.errors import DrnetError, DrnetValueError
from drnet.fast.compare import relative_error
from drnet.models.preprocessing import Preprocessing

FORMATS = ("onnx", "torchscript", "exported-program")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported-program": ".pt2"}
TOLERANCE = 1e-4  # max |exported - eager| / max |eager|


class ExportCheckError(DrnetError, RuntimeError):
    """An exported model disagrees with the eager model; the message gives sizes and errors."""


class UnsupportedExportError(DrnetError, ValueError):
    """A model that no export format reproduces; the message says why and what to do."""


def check_exportable(model: nn.Module) -> None:
    """Refuse, before any work, the models whose export would fail or be wrong: torchvision's
    detectors take a list of images and resize each inside the model. The dynamo exporter
    fails on them (a ~1,100-line traceback); the TorchScript-based one runs, but ONNX's Resize
    samples at the given scale where the model recomputes it from the rounded size, so at image
    sizes other than the traced one the kept detections differ (measured on
    fasterrcnn_resnet18_dc5: boxes 120 px apart at 301x411)."""
    from drnet.fast.engines import takes_image_tensor

    if not takes_image_tensor(model):
        raise UnsupportedExportError(
            f"{type(model).__name__} (a detector) cannot be exported: it takes a list of "
            f"images and resizes each inside the model, which no exporter reproduces at every "
            f"image size; export its backbone (a registered drn_*/resnet* model with "
            f"features_only=True) and keep the detection heads in PyTorch")


@dataclass
class ExportReport:
    """Where the model went and how close the export is to eager, per checked input size."""

    path: Path
    format: str
    errors: dict[str, float] = field(default_factory=dict)  # "HxW" -> max relative error
    preprocessing: Preprocessing | None = None  # written into the file's metadata

    @property
    def ok(self) -> bool:
        return all(e <= TOLERANCE for e in self.errors.values())


def export_model(model: nn.Module, path: str | os.PathLike, format: str, *,
                 input_size: tuple[int, int] = (512, 512), batch: int = 1,
                 check_sizes: Sequence[tuple[int, int]] | None = None,
                 in_chans: int = 3, preprocessing: Preprocessing | None = None) -> ExportReport:
    """Export ``model`` (eval mode, fp32) to ``path`` and check it at ``check_sizes`` (default:
    ``input_size`` and an odd size not seen during export); raises :class:`ExportCheckError`
    if any output differs by more than ``TOLERANCE`` relative. ``preprocessing`` (default:
    ``model.preprocessing``) is written into the file's metadata (see the module docstring)."""
    if format not in FORMATS:
        raise DrnetValueError(f"format must be one of {FORMATS}, got {format!r}")
    check_exportable(model)
    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.randn(batch, in_chans, *input_size)
    exporter = {"onnx": _onnx, "torchscript": _torchscript, "exported-program": _program}[format]
    preprocessing = preprocessing or getattr(model, "preprocessing", None)
    run = exporter(model, example, path, preprocessing)
    sizes = list(check_sizes or [input_size, (input_size[0] * 3 // 4 + 1,
                                              input_size[1] * 3 // 4 + 3)])
    report = ExportReport(path, format, preprocessing=preprocessing)
    for height, width in sizes:
        x = torch.randn(batch, in_chans, height, width)
        with torch.no_grad():
            expected = model(x)
        report.errors[f"{height}x{width}"] = relative_error(run(x), expected)
    if not report.ok:
        raise ExportCheckError(f"{format} export of {type(model).__name__} differs from the "
                               f"eager model by more than {TOLERANCE} (relative): "
                               f"{report.errors}")
    return report


def _dynamic_hw(model: nn.Module) -> tuple[dict[int, object]]:
    """Height and width of the one input dynamic. Positional (a tuple), not keyed by the
    forward's parameter name: torch 2.6's ONNX exporter re-keyed a dict by ``input_names``."""
    return ({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC},)


def _extra_files(preprocessing: Preprocessing | None) -> dict[str, str]:
    return {} if preprocessing is None else {"preprocessing.json": preprocessing.to_json()}


def onnx_metadata(preprocessing: Preprocessing) -> dict[str, str]:
    """The ``metadata_props`` drnet writes into an ONNX file."""
    return {"drnet.mean": json.dumps(list(preprocessing.mean)),
            "drnet.std": json.dumps(list(preprocessing.std)),
            "drnet.preprocessing": preprocessing.to_json()}


def _onnx(model: nn.Module, example: Tensor, path: Path,
          preprocessing: Preprocessing | None) -> Callable[[Tensor], Tensor]:
    import onnx
    import onnxruntime

    torch.onnx.export(model, (example,), str(path), dynamo=True,
                      dynamic_shapes=_dynamic_hw(model), input_names=["image"],
                      output_names=["output"], external_data=False, verbose=False)
    if preprocessing is not None:
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, onnx_metadata(preprocessing))
        onnx.save(proto, str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"image": x.numpy()})[0])


def _torchscript(model: nn.Module, example: Tensor, path: Path,
                 preprocessing: Preprocessing | None) -> Callable[[Tensor], Tensor]:
    with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example)
        traced.save(str(path), _extra_files=_extra_files(preprocessing))
        loaded = torch.jit.load(str(path))
    return lambda x: loaded(x).detach()


def _program(model: nn.Module, example: Tensor, path: Path,
             preprocessing: Preprocessing | None) -> Callable[[Tensor], Tensor]:
    program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_hw(model))
    torch.export.save(program, str(path), extra_files=_extra_files(preprocessing))
    loaded = torch.export.load(str(path)).module()
    return lambda x: loaded(x).detach()

