"""Export round trips: each file is loaded back (ONNX through onnxruntime) and compared with the
eager model at two input sizes, one of them odd and unseen during export (tolerance 1e-4
relative, the issue's bound)."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from drnet import create_model
from drnet.cli import main
from drnet.fast.export import TOLERANCE, ExportCheckError, export_model
from tests.fixtures.models import random_norm_stats


def _load(path: Path, fmt: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Each format's own loader, not drnet's: what a deployment would run."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
    if fmt == "torchscript":
        with warnings.catch_warnings():  # torch.jit is deprecated in torch 2.14
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path))
    return torch.export.load(str(path)).module()


@pytest.mark.parametrize(("name", "fmt"), [
    ("drnseg_d_tiny", "onnx"),  # segmentation: output at the (dynamic) input size
    ("drn_d_tiny", "exported-program"),
    ("drnseg_d_tiny", "torchscript"),
])
def test_round_trip_at_two_sizes(name: str, fmt: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = random_norm_stats(create_model(name, num_classes=3)).eval()
    report = export_model(model, tmp_path / f"model.{fmt}", fmt, input_size=(64, 80),
                          check_sizes=[(64, 80), (45, 37)])
    assert report.path == tmp_path / f"model.{fmt}"
    assert set(report.errors) == {"64x80", "45x37"}
    # The written file, loaded here, computes the eager function at the export size and at an
    # odd size it never saw.
    exported = _load(report.path, fmt)
    for size in ((64, 80), (45, 37), (33, 50)):
        x = torch.randn(1, 3, *size)  # the batch size is fixed at export
        with torch.no_grad():
            expected = model(x)
            got = exported(x)
        assert got.shape == expected.shape
        scale = float(expected.abs().max())
        torch.testing.assert_close(got, expected, rtol=0, atol=TOLERANCE * scale)


class _ExportsAnotherFunction(torch.nn.Module):
    """Doubles its output only while being exported or traced: a stand-in for any export that
    silently computes something else, which the check must catch by running the file."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        exporting = getattr(torch.compiler, "is_exporting", torch.compiler.is_compiling)  # < 2.7
        if exporting() or torch.jit.is_tracing():
            return y * 2
        return y


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # trace's own check notices
@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "exported-program"])
def test_the_check_runs_the_exported_file(fmt: str, tmp_path: Path) -> None:
    with pytest.raises(ExportCheckError, match="differs from the eager model"):
        export_model(_ExportsAnotherFunction(), tmp_path / f"double.{fmt}", fmt,
                     input_size=(8, 8), check_sizes=[(8, 8), (5, 7)])


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated in 2.14
def test_cli_exports_a_lightning_checkpoint(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    model = create_model("drnseg_d_tiny", num_classes=4)
    ckpt = tmp_path / "last.ckpt"  # the layout drnet fit writes: task hparams + "model." keys
    torch.save({"hyper_parameters": {"model": "drnseg_d_tiny", "num_classes": 4,
                                     "model_kwargs": None, "aux_weight": 0.0},
                "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    out = tmp_path / "seg.pt"
    assert main(["export", str(ckpt), "--format", "torchscript", "--input", "48x64",
                 "--output", str(out)]) == 0
    printed = capsys.readouterr()
    assert f"wrote {out}" in printed.out
    assert f"drnet: exporting to {out} (torchscript)" in printed.err  # a progress line per step
    loaded = torch.jit.load(str(out))
    x = torch.randn(1, 3, 33, 41)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=1e-4, atol=1e-5)


def test_export_rebuilds_a_detection_checkpoint_with_its_resize(tmp_path: Path) -> None:
    """The detector's own resize (min_size/max_size) is part of what the task trained: drnet
    export must rebuild it from the checkpoint, not fall back to the defaults."""
    from drnet.cli.export import add_arguments, build
    from drnet.tasks import DetectionTask

    task = DetectionTask("fasterrcnn_drn_d_tiny", num_classes=4, min_size=[48, 56], max_size=96)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"hyper_parameters": dict(task.hparams),
                "state_dict": {f"model.{k}": v for k, v in task.model.state_dict().items()}},
               ckpt)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    model, name = build(parser.parse_args([str(ckpt)]))
    assert name == "last"
    assert tuple(model.transform.min_size) == (48, 56)
    assert model.transform.max_size == 96
    for key, value in task.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_cli_errors_name_what_is_missing(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "weights.pth"
    torch.save(create_model("drn_d_tiny").state_dict(), weights)
    assert main(["export", str(weights)]) == 2
    assert "name it with --arch" in capsys.readouterr().err
    assert main(["export", "drn_d_2"]) == 2
    assert "unknown model 'drn_d_2'" in capsys.readouterr().err
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    assert main(["export", str(broken)]) == 2
    assert str(broken) in capsys.readouterr().err


def test_bad_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format must be one of"):
        export_model(create_model("drn_d_tiny"), tmp_path / "m", "tflite")


@pytest.mark.parametrize(("name", "kwargs"), [
    ("resnet18", {"output_stride": 8, "num_classes": 5}),  # classifier logits (N, classes)
    ("deeplabv3_drn_d_tiny", {"num_classes": 3}),  # ASPP with image pooling
])
def test_every_tensor_family_exports(name: str, kwargs: dict, tmp_path: Path) -> None:
    model = create_model(name, **kwargs).eval()
    report = export_model(model, tmp_path / "m.onnx", "onnx", input_size=(64, 64),
                          check_sizes=[(64, 64), (45, 37)])
    assert max(report.errors.values()) <= TOLERANCE


def test_detectors_are_refused_up_front_in_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "fasterrcnn_resnet18_dc5", "--num-classes", "3", "--output",
                 str(tmp_path / "det.onnx")]) == 2
    err = capsys.readouterr().err
    assert "FasterRCNN (a detector) cannot be exported: it takes a list of images" in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("drnet: ")]
    assert len(lines) == 2  # the message and the traceback hint (not counting progress lines)
    assert not (tmp_path / "det.onnx").exists()
