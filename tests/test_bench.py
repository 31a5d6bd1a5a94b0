"""``drnet bench``: the JSON schema scripts rely on, the torchvision twin, the human tables.
No timing is asserted (shared CPUs): only structure, consistency and output agreement."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from drnet import create_model
from drnet.bench.torchvision_twin import NotComparableError, torchvision_twin
from drnet.cli import main
from drnet.fast.compare import relative_error

RESULT_KEYS = {"name", "label", "median_s", "q1_s", "q3_s", "min_s", "samples_s", "images_per_s",
               "gflops_per_s", "share_of_ceiling", "share_of_sgemm", "peak_mem_mb"}


def _bench_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["bench", *argv, "--json", "--warmup", "0", "--repeats", "2"]) == 0
    captured = capsys.readouterr()
    assert "[drnet bench]" in captured.err  # progress goes to stderr, JSON alone to stdout
    return json.loads(captured.out)


def test_json_schema_inference_and_training(capsys: pytest.CaptureFixture[str]) -> None:
    report = _bench_json(["drnseg_d_tiny", "--input", "32x40", "--batch", "2", "--mode", "both",
                          "--checkpointing", "all", "--engine", "torch"], capsys)
    assert report["schema"] == "drnet.bench/1"
    assert report["input"] == [2, 3, 32, 40]
    assert report["output_stride"] == 8
    assert {"device", "device_name", "threads", "torch", "bf16_native"} <= set(
        report["environment"])
    assert report["settings"]["checkpointing"] == "all"
    for mode, names in (("inference", ["drnet"]),
                        ("train", ["drnet", "drnet-no-checkpointing"])):
        part = report[mode]
        assert part["flops"] > 0
        assert [r["name"] for r in part["results"]] == names
        for r in part["results"]:
            assert set(r) == RESULT_KEYS
            assert len(r["samples_s"]) == 2
            assert r["q1_s"] <= r["median_s"] <= r["q3_s"]
            assert r["images_per_s"] == pytest.approx(2 / r["median_s"])
            assert r["peak_mem_mb"] > 0
        assert part["ceiling"]["gflops_per_s"] > 0
    assert report["inference"]["max_rel_diff_vs_eager_fp32"]["drnet"] < 1e-4
    assert set(report["train"]["time_ratios"]) == {"drnet-no-checkpointing/drnet"}
    assert set(report["train"]["memory_ratios"]) == {"drnet/drnet-no-checkpointing"}


def _flops_by_hand(model: torch.nn.Module, x: torch.Tensor) -> int:
    """2 x multiply-adds of every conv and linear layer, from the shapes they ran at."""
    total = 0

    def count(module: torch.nn.Module, _inputs: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += 2 * out.numel() * module.in_channels // module.groups * kh * kw
        else:
            total += 2 * out.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return total


def test_reported_numbers_are_measured(capsys: pytest.CaptureFixture[str]) -> None:
    """FLOPs against a count from the layer shapes; bf16 against fp32 must differ (a report
    of 0 would mean the fast path was compared with itself); rates follow from the times."""
    report = _bench_json(["resnet18", "--output-stride", "8", "--input", "32x48", "--batch",
                          "2", "--precision", "bf16", "--no-memory"], capsys)
    model = create_model("resnet18", output_stride=8).eval()
    part = report["inference"]
    assert part["flops"] == _flops_by_hand(model, torch.randn(2, 3, 32, 48))
    assert 1e-4 < part["max_rel_diff_vs_eager_fp32"]["drnet"] < 3e-2
    (result,) = part["results"]
    assert result["median_s"] == pytest.approx(sum(result["samples_s"]) / 2)  # of two rounds
    assert result["gflops_per_s"] == pytest.approx(part["flops"] / result["median_s"] / 1e9)
    assert result["images_per_s"] == pytest.approx(2 / result["median_s"])


def test_vs_torchvision_same_weights_same_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    report = _bench_json(["resnet50", "--output-stride", "16", "--input", "48x48", "--vs",
                          "torchvision", "--no-memory"], capsys)
    assert report["torchvision"] == {"compared": True, "note": None}
    part = report["inference"]
    assert [r["name"] for r in part["results"]] == ["drnet", "torchvision"]
    assert part["max_rel_diff_vs_eager_fp32"]["torchvision"] < 1e-5  # the same function
    assert set(part["time_ratios"]) == set(part["time_ratios_paired"]) == {"torchvision/drnet"}


def test_vs_engines_and_int8_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    from drnet.fast.engines import installed

    peers = [p for p in ("onnxruntime", "openvino") if installed(p)]
    if not peers:
        pytest.skip("no engine installed")
    report = _bench_json(["drnseg_d_tiny", "--input", "40x48", "--vs",
                          ",".join(["torchvision", *peers]), "--precision", "int8"], capsys)
    part = report["inference"]
    assert report["peers"] == ["torchvision", *peers]
    assert report["torchvision"]["compared"] is False  # no twin for DRNs: noted, not failed
    assert [r["name"] for r in part["results"]] == ["drnet", *peers]
    assert set(part["time_ratios"]) == {f"{p}/drnet" for p in peers}
    assert "int8" in part["results"][0]["label"]
    from drnet.fast.engines import AUTO_ORDER_INT8

    auto = next(e for e in AUTO_ORDER_INT8 if installed(e))
    assert f"engine {auto} (auto)" in part["results"][0]["label"]
    for peer in peers:  # fp32 peers on the same weights and input
        assert part["max_rel_diff_vs_eager_fp32"][peer] < 1e-4
    assert part["max_rel_diff_vs_eager_fp32"]["drnet"] < 0.2  # int8 of random weights
    assert all(r["peak_mem_mb"] is None for r in part["results"])  # engines' own memory
    assert part["sgemm"]["gflops_per_s"] > 0
    assert all(r["share_of_sgemm"] > 0 for r in part["results"])
    assert main(["bench", "drnseg_d_tiny", "--vs", "tensorrt"]) == 2
    assert "vs must name peers among" in capsys.readouterr().err


def test_not_comparable_is_reported_not_failed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "resnet18", "--output-stride", "8", "--input", "32x32", "--vs",
                 "torchvision", "--warmup", "0", "--repeats", "1", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "torchvision: torchvision's resnet18 has no dilated variant" in out
    assert "GFLOP/s" in out


@pytest.mark.parametrize("name", ["deeplabv3_resnet50", "fcn_resnet50"])
def test_segmentation_twins_compute_the_same_function(name: str) -> None:
    model = create_model(name, num_classes=3).eval()
    twin = torchvision_twin(name, model)
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        assert relative_error(twin(x), model(x)) < 1e-5


def test_twin_refusals_name_the_reason() -> None:
    with pytest.raises(NotComparableError, match="comparable: resnet18"):
        torchvision_twin("drn_d_22", create_model("drn_d_tiny"))
    with pytest.raises(NotComparableError, match="output stride 8"):
        torchvision_twin("fcn_resnet50", create_model("fcn_resnet18", output_stride=16))


def test_gpu_script_runs_end_to_end_in_cpu_smoke_mode(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    spec = importlib.util.spec_from_file_location("gpu_bench", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "gpu.json"
    assert module.main(["--cpu-smoke", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["schema"] == "drnet.gpu-bench/1"
    runs = {part["model"]: [r["run"] for r in part["results"]] for part in report["inference"]}
    assert "torchvision fp32 NCHW" in runs["resnet18"]
    assert "drnet bf16 channels_last space-to-batch" in runs["drnseg_d_tiny"]
    for part in report["inference"]:
        for r in part["results"]:
            tolerance = 1e-4 if "fp32" in r["run"] else 3e-2
            assert r["max_rel_diff_vs_eager_fp32"] < tolerance, r
    assert {r["name"] for r in report["train"]["results"]} == {"drnet", "drnet-no-checkpointing"}
    assert [r["run"] for r in report["sliding"]["results"]] == [
        "fp32 window_batch=1", "fp32 window_batch=4", "bf16 window_batch=1",
        "bf16 window_batch=4"]
