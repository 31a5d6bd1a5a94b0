"""Inference engines: each one's output equals the eager fp32 model (1e-4 relative, the export
bound) for every kind of output, at batch > 1 and odd sizes; "auto" chooses only what applies;
a missing package or an option an engine cannot run is one clear error."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from drnet import create_model
from drnet.fast import optimize_for_inference
from drnet.fast.compare import relative_error
from drnet.fast.engines import (
    AUTO_ORDER,
    EngineNotApplicableError,
    MissingExtraError,
    choose_engine,
    installed,
)
from drnet.fast.engines.build import EngineCheckError, build_runner
from tests.fixtures.models import random_norm_stats

ENGINES = [pytest.param(e, marks=pytest.mark.skipif(not installed(e), reason=f"{e} missing"))
           for e in ("onnxruntime", "openvino")]


def _error(out: torch.Tensor | list[torch.Tensor], ref: torch.Tensor | list[torch.Tensor]) -> float:
    if isinstance(ref, list):
        assert isinstance(out, list)
        assert len(out) == len(ref)
        return max(relative_error(a, b) for a, b in zip(out, ref, strict=True))
    assert isinstance(out, torch.Tensor)
    assert (out.shape, out.dtype) == (ref.shape, ref.dtype)
    return relative_error(out, ref)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("name", "kwargs"), [
    ("drnseg_d_tiny", {"num_classes": 4}),  # segmentation: logits at the input size
    ("resnet18", {"output_stride": 8, "num_classes": 6}),  # classifier logits (N, classes)
    ("drn_d_tiny", {"features_only": True}),  # a list of stage maps
])
def test_engine_equals_eager_fp32(engine: str, name: str, kwargs: dict) -> None:
    torch.manual_seed(0)
    model = random_norm_stats(create_model(name, **kwargs)).eval()
    fast = optimize_for_inference(model, engine=engine, static_shapes=1)
    assert fast.engine == engine
    for shape in [(2, 3, 45, 37), (3, 3, 64, 80), (1, 3, 33, 50)]:  # the 2nd+ run dynamically
        x = torch.randn(*shape)
        with torch.no_grad():
            assert _error(fast(x), model(x)) < 1e-4, shape
    assert fast.runner.cached_shapes == [(2, 3, 45, 37)]
    assert type(fast.model) is type(model)  # attributes are still read from the model


def test_openvino_bf16_agrees_on_classes() -> None:
    if not installed("openvino"):
        pytest.skip("openvino missing")
    torch.manual_seed(0)
    model = random_norm_stats(create_model("drnseg_d_tiny", num_classes=4)).eval()
    fast = optimize_for_inference(model, engine="openvino", dtype="bf16")
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        out, ref = fast(x), model(x)
    assert relative_error(out, ref) < 3e-2
    assert (out.argmax(1) == ref.argmax(1)).float().mean() > 0.95


def test_auto_chooses_what_applies() -> None:
    model = create_model("drnseg_d_tiny", num_classes=3)
    fastest = next((e for e in AUTO_ORDER if installed(e)), "torch")
    assert choose_engine("auto", model) == fastest
    assert choose_engine("auto", model, dtype=torch.bfloat16) == "torch"
    assert choose_engine("auto", model, space_to_batch=True) == "torch"
    assert choose_engine("auto", model, device="cuda") == "torch"
    detector = create_model("fasterrcnn_drn_d_tiny", num_classes=3)
    assert choose_engine("auto", detector) == "torch"
    assert optimize_for_inference(model, dtype="bf16").engine == "torch"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"engine": "tensorrt"}, "engine must be one of"),
    ({"engine": "onnxruntime", "dtype": torch.bfloat16}, "runs fp32"),
    ({"engine": "onnxruntime", "space_to_batch": True}, "space_to_batch are options of"),
    ({"engine": "openvino", "device": "cuda"}, "runs on the CPU"),
])
def test_options_an_engine_cannot_run_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose_engine(model=create_model("drn_d_tiny"), **kwargs)


def test_detector_is_refused_by_name() -> None:
    detector = create_model("fasterrcnn_drn_d_tiny", num_classes=3)
    with pytest.raises(EngineNotApplicableError, match="FasterRCNN takes a list of images"):
        choose_engine("onnxruntime", detector)


@pytest.mark.parametrize(("engine", "extra"), [("onnxruntime", "onnxruntime"),
                                               ("openvino", "openvino")])
def test_missing_package_names_the_extra(engine: str, extra: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == engine else real(name, *a))
    model = create_model("drn_d_tiny")
    with pytest.raises(MissingExtraError, match=rf"pip install 'drnet\[{extra}\]'"):
        optimize_for_inference(model, engine=engine)
    assert choose_engine("auto", model) != engine  # auto moves on to what is installed


class _EvenWidthDoubles(nn.Module):
    """A size-dependent branch: the tracer bakes in the branch of the traced (even) width."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * 2 if x.shape[-1] % 2 == 0 else y


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("engine", ENGINES)
def test_a_wrongly_traced_graph_fails_when_built(engine: str) -> None:
    with pytest.raises(EngineCheckError, match="differs from the PyTorch model"):
        build_runner(engine, _EvenWidthDoubles())


class _Slow:
    """A stand-in runner that takes ``seconds`` per call and returns its name's length."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls = seconds, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import time

        self.calls += 1
        time.sleep(self.seconds)
        return torch.full((1,), self.seconds)


def test_fastest_of_keeps_the_faster_runner_measured_on_the_first_input() -> None:
    from drnet.fast.engines.fastest import FastestOf

    slow, quick = _Slow(0.03), _Slow(0.001)
    runner = FastestOf({"slow": slow, "quick": quick}, rounds=2)
    assert runner.chosen is None
    out = runner(torch.zeros(1, 3, 8, 8))
    assert runner.chosen == "quick"
    assert out.item() == pytest.approx(0.001)
    assert (slow.calls, quick.calls) == (3, 4)  # warm-up + 2 timed each; the answer by quick
    runner(torch.zeros(1, 3, 8, 8))
    assert (slow.calls, quick.calls) == (3, 5)  # no more measuring, the slow one is dropped
    assert list(runner.runners) == ["quick"]


def test_auto_with_both_engines_measures_and_matches_eager() -> None:
    if not (installed("openvino") and installed("onnxruntime")):
        pytest.skip("needs both engines")
    model = random_norm_stats(create_model("drnseg_d_tiny", num_classes=4)).eval()
    fast = optimize_for_inference(model)
    assert fast.engine == "auto"
    x = torch.randn(2, 3, 40, 56)
    with torch.no_grad():
        out, ref = fast(x), model(x)
    assert fast.runner.chosen in ("openvino", "onnxruntime")
    assert set(fast.runner.timings) == {"openvino", "onnxruntime"}
    assert relative_error(out, ref) < 1e-4
