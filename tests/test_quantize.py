"""int8 post-training quantization: which layers stay fp32 (found on the graph, for every head),
that a trained model keeps its answers (per-pixel classes and mIoU against the eager fp32 model
on held-out images), and the CLI's file, metadata and errors."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
import torch.nn.functional as F

from drnet import create_model
from drnet.cli import main
from drnet.data import SyntheticContextDataModule
from drnet.fast import optimize_for_inference
from drnet.fast.engines import installed
from drnet.fast.engines.onnx_graph import export_graph
from drnet.fast.quantize import QuantizeConfig, fp32_nodes, quantize
from drnet.tasks.metrics import SegmentationMetrics

pytestmark = pytest.mark.skipif(not installed("onnxruntime"), reason="onnxruntime missing")


def _kept(name: str, **kwargs) -> dict[str, str]:
    model = create_model(name, **kwargs).eval()
    return fp32_nodes(onnx.load_from_string(export_graph(model).data))


def test_first_conv_pooling_branch_and_classifier_stay_fp32() -> None:
    assert _kept("drnseg_d_tiny", num_classes=3) == {
        "/layer0/layer0.0/Conv": "first conv: reads the image",
        "/head/classifier/Conv": "classifier: writes the output",
        "/up/Resize": "after the classifier (upsampling)"}
    aspp = _kept("deeplabv3_drn_d_tiny", num_classes=3)
    assert aspp["/head/aspp/branches.4/project/project.0/Conv"] == \
        "after global pooling: runs on 1x1 maps"
    assert sum("after global pooling" in why for why in aspp.values()) == 1
    assert "/head/classifier/Conv" in aspp
    resnet = _kept("resnet18", num_classes=5)
    assert set(resnet) == {"/conv1/Conv", "/fc/Gemm"}


@pytest.fixture(scope="module")
def trained() -> tuple[torch.nn.Module, SyntheticContextDataModule]:
    """drn-d-tiny segmentation after 120 steps on the context set (64x64): far from chance,
    with class boundaries that rounding could move."""
    torch.manual_seed(0)
    data = SyntheticContextDataModule(num_train=960, num_val=24, image_size=64, batch_size=8,
                                      val_batch_size=8)
    data.setup("fit")
    model = create_model("drnseg_d_tiny", num_classes=data.num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    weight = torch.tensor(data.class_weights)
    for batch in data.train_dataloader():
        loss = F.cross_entropy(model(batch["image"]), batch["mask"], weight=weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), data


@pytest.mark.parametrize("engine", [
    "onnxruntime",
    pytest.param("openvino", marks=pytest.mark.skipif(not installed("openvino"),
                                                      reason="openvino missing"))])
def test_int8_keeps_the_answers_of_a_trained_model(trained, engine: str) -> None:
    model, data = trained
    fast = optimize_for_inference(model, engine=engine, int8_calibration=data.train_dataloader(),
                                  quantize=QuantizeConfig(max_images=64))
    assert fast.engine == engine
    scores = {k: SegmentationMetrics(data.num_classes) for k in ("fp32", "int8")}
    agree = pixels = 0
    with torch.inference_mode():
        for batch in data.val_dataloader():  # images the calibration never saw
            fp32, int8 = model(batch["image"]).argmax(1), fast(batch["image"]).argmax(1)
            scores["fp32"].update(fp32, batch["mask"])
            scores["int8"].update(int8, batch["mask"])
            agree += int((fp32 == int8).sum())
            pixels += fp32.numel()
    miou = {k: float(m.compute()["mIoU"]) for k, m in scores.items()}
    assert miou["fp32"] > 0.3  # trained: well above chance
    assert agree / pixels > 0.98
    assert abs(miou["int8"] - miou["fp32"]) < 0.01  # 1 point


def test_quantize_reports_what_it_did(trained) -> None:
    model, data = trained
    result = quantize(model, [b["image"] for b in data.val_dataloader()],
                      QuantizeConfig(max_images=10, keep_fp32=("/layer1",)))
    assert result.calibration_images == 10  # cut inside the second batch of 8
    assert result.kept_fp32["/layer1/layer1.0/Conv"] == "asked for"
    proto = onnx.load_from_string(result.graph.data)
    ops = [n.op_type for n in proto.graph.node]
    assert "QuantizeLinear" in ops
    # a kept conv reads a float input that no DequantizeLinear produced
    producers = {o: n.op_type for n in proto.graph.node for o in n.output}
    first = next(n for n in proto.graph.node if n.name == "/layer0/layer0.0/Conv")
    assert first.input[0] == "image"
    kept = next(n for n in proto.graph.node if n.name == "/layer1/layer1.0/Conv")
    assert producers.get(kept.input[0]) != "DequantizeLinear"
    with pytest.raises(ValueError, match="no ONNX node is named '/nothing'"):
        quantize(model, [torch.randn(1, 3, 32, 32)], QuantizeConfig(keep_fp32=("/nothing",)))
    with pytest.raises(ValueError, match="calibration gave no images"):
        quantize(model, [])


def test_cli_writes_an_int8_file_with_metadata_and_scores(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    out = tmp_path / "tiny.int8.onnx"
    data = ["--data-arg", "num_train=16", "--data-arg", "num_val=4", "--data-arg",
            "image_size=48", "--data-arg", "batch_size=8"]
    assert main(["quantize", "drnseg_d_tiny", "--num-classes", "5", *data,
                 "--calibration-images", "8", "--evaluate", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "calibrated on 8 images); kept in fp32:" in text
    assert "/head/classifier/Conv: classifier: writes the output" in text
    assert "validation (4 images): mIoU fp32" in text
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["drnet.mean"]) == list(SyntheticContextDataModule.default_mean)
    assert main(["export", "drnseg_d_tiny", "--int8", "--format", "torchscript"]) == 2
    assert "--int8 writes ONNX; got --format torchscript" in capsys.readouterr().err
    assert main(["quantize", "drnseg_d_tiny", "--data", "NoSuchModule"]) == 2
    assert "--data 'NoSuchModule' is not a DataModule class" in capsys.readouterr().err
