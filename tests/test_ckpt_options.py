"""With ``--ckpt_path``, the checkpoint gives architecture and weights and the command line says
how to evaluate and predict (issue 17), through the real CLI; and train at one output stride,
evaluate at another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import drnet
from drnet.cli import main
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
_small = runs.small_synthetic_args  # a tiny synthetic run under a root folder


def _saved_model_args(root: Path) -> dict:
    newest = max(root.rglob("config.yaml"), key=lambda p: p.stat().st_mtime_ns)
    return yaml.safe_load(newest.read_text())["model"]["init_args"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two steps of drnet fit of a ResNet-18 DRNSeg at output stride 16: a model far from
    predicting one class."""
    root = tmp_path_factory.mktemp("fit")
    assert main(["fit", *_small(root), "--trainer.max_steps", "2", "--trainer.max_epochs", "1",
                 "--model.init_args.model", "drnseg_resnet18",
                 "--model.init_args.model_kwargs", "{output_stride: 16}"]) == 0
    return root, next(root.rglob("last.ckpt"))


def test_validate_obeys_evaluation_flags_given_with_a_checkpoint(trained, capsys) -> None:
    root, ckpt = trained
    assert main(["validate", *_small(root), "--ckpt_path", str(ckpt)]) == 0
    plain = runs.last_metric(root)
    assert _saved_model_args(root)["val_scales"] == [1.0]
    # The (default) config names another model: the checkpoint's is used, and that is said.
    assert _saved_model_args(root)["model"] == "drnseg_resnet18"
    assert "model='drnseg_resnet18' (the config's 'drnseg_d_tiny' is not used)" in \
        capsys.readouterr().out

    assert main(["validate", *_small(root), "--ckpt_path", str(ckpt),
                 "--model.val_scales", "[0.75,1,1.25]", "--model.val_flip", "true"]) == 0
    assert runs.last_metric(root) != plain
    saved = _saved_model_args(root)
    assert saved["val_scales"] == [0.75, 1.0, 1.25]
    assert saved["val_flip"] is True

    assert main(["validate", *_small(root), "--ckpt_path", str(ckpt), "--model.val_mode",
                 "slide", "--model.val_crop_size", "[24,24]", "--model.val_stride",
                 "[12,12]"]) == 0
    assert runs.last_metric(root) != plain
    saved = _saved_model_args(root)
    assert (saved["val_mode"], saved["val_crop_size"]) == ("slide", [24, 24])
    # The architecture still came from the checkpoint (output stride 16), not the default.
    assert saved["model_kwargs"] == {"output_stride": 16}


def test_options_that_cannot_apply_are_errors(trained, capsys) -> None:
    root, ckpt = trained

    def first_error(args: list[str]) -> str:
        assert main(args) == 2
        return capsys.readouterr().err.strip().splitlines()[0]

    line = first_error(["validate", *_small(root), "--ckpt_path", str(ckpt), "--model.lr", "1"])
    assert "--model.lr does not apply to drnet validate" in line
    line = first_error(["validate", *_small(root), "--ckpt_path", str(ckpt),
                        "--model.predict_dtype", "bf16"])
    assert "--model.predict_dtype does not apply to drnet validate" in line
    line = first_error(["predict", *_small(root), "--ckpt_path", str(ckpt),
                        "--model.print_class_table", "false"])
    assert "--model.print_class_table does not apply to drnet predict" in line
    line = first_error(["validate", *_small(root), "--ckpt_path", str(ckpt),
                        "--model.model", "drnseg_d_22"])
    assert "--model.model 'drnseg_d_22' conflicts with" in line
    assert str(ckpt) in line
    line = first_error(["validate", *_small(root), "--ckpt_path", str(ckpt),
                        "--model.pretrained", "some.pth"])
    assert "cannot apply with --ckpt_path" in line
    line = first_error(["validate", "--model", "drnet.tasks.SegmentationTask",
                        "--data", "drnet.data.FolderSegmentationDataModule",
                        "--data.root", str(root), "--data.num_classes", "3",
                        "--trainer.default_root_dir", str(root), "--ckpt_path", str(ckpt)])
    assert "was trained for 5 classes but FolderSegmentationDataModule has 3" in line


def test_train_at_16_evaluate_at_8_through_the_cli(trained, tmp_path: Path) -> None:
    root, ckpt = trained
    assert main(["validate", *_small(root), "--ckpt_path", str(ckpt)]) == 0
    at16 = runs.last_metric(root)
    assert main(["validate", *_small(root), "--ckpt_path", str(ckpt),
                 "--model.eval_output_stride", "8"]) == 0
    assert runs.last_metric(root) != at16
    assert _saved_model_args(root)["eval_output_stride"] == 8
    # predict too: the labels differ from those at the training stride
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), np.uint8)).save(image)
    outputs = {}
    for stride in ("16", "8"):
        out = tmp_path / stride
        assert main(["predict", *_small(root), "--ckpt_path", str(ckpt),
                     "--model.eval_output_stride", stride, "--data.init_args.predict_path",
                     str(image), "--writer.output_dir", str(out)]) == 0
        outputs[stride] = np.asarray(Image.open(out / "x.png_labels.png"))
    assert not np.array_equal(outputs["16"], outputs["8"])


@pytest.mark.parametrize("name", ["deeplabv3_resnet18", "drnseg_resnet34", "fcn_resnet50"])
def test_dense_evaluation_is_the_coarse_network_sampled_densely(name: str) -> None:
    """À trous: the output-stride-8 backbone map, sampled every 2 pixels, is the stride-16 map
    (float64), for the network rebuilt by with_output_stride from the stride-16 weights."""
    torch.manual_seed(0)
    coarse = drnet.create_model(name, num_classes=3, output_stride=16).double().eval()
    for module in coarse.modules():  # BatchNorm statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    dense = drnet.with_output_stride(coarse, 8)
    assert dense.output_stride == 8
    x = torch.randn(1, 3, 96, 80, dtype=torch.float64)
    with torch.no_grad():
        a = coarse.backbone.forward_features(x)
        b = dense.backbone.forward_features(x)
    assert b.shape[-2:] == (12, 10)
    assert (b[..., ::2, ::2] - a).abs().max() <= 1e-10 * a.abs().max()
    # The same parameters, not a copy; ASPP rates follow the stride.
    assert next(dense.parameters()) is next(coarse.parameters())
    if name.startswith("deeplabv3"):
        rates = [m.dilation[0] for m in dense.head.modules()
                 if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)][:3]
        assert rates == [12, 24, 36]


def test_networks_whose_strides_are_other_functions_are_refused() -> None:
    # A DRN's schedule dilates the first block of a stage too, and the published network has
    # no stride-16 twin: evaluating "at another stride" would silently be another network.
    with pytest.raises(ValueError, match="DRN backbone is another network"):
        drnet.with_output_stride(drnet.create_model("drnseg_d_22", output_stride=16), 8)
    with pytest.raises(ValueError, match="per-stage dilations"):
        drnet.with_output_stride(
            drnet.create_model("resnet18", output_stride=16, dilations=(1, 1, 1, 3)), 8)


def test_a_fit_checkpoint_carries_its_normalisation_to_predict_and_export(
        trained, folder_root: Path, tmp_path: Path, capsys) -> None:
    """The synthetic set normalises with its own statistics; predicting on a folder data set
    (no statistics of its own) with that checkpoint uses them, and so does its export."""
    from drnet.data.segmentation.synthetic import MEAN, STD

    _root, ckpt = trained
    image = tmp_path / "x.png"
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(image)
    assert main(["predict", "--model", "drnet.tasks.SegmentationTask",
                 "--data", "drnet.data.FolderSegmentationDataModule",
                 "--data.root", str(folder_root), "--data.num_classes", "5",
                 "--data.predict_path", str(image), "--ckpt_path", str(ckpt),
                 "--writer.output_dir", str(tmp_path / "out"),
                 "--trainer.default_root_dir", str(tmp_path / "run")]) == 0
    assert "the training data of this checkpoint (SyntheticContextDataModule)" in \
        capsys.readouterr().out
    newest = max((tmp_path / "run").rglob("config.yaml"), key=lambda p: p.stat().st_mtime_ns)
    data = yaml.safe_load(newest.read_text())["data"]["init_args"]
    assert data["mean"] == list(MEAN)
    assert data["std"] == list(STD)

    import onnx

    assert main(["export", str(ckpt), "--format", "onnx", "--input", "32x32",
                 "--output", str(tmp_path / "m.onnx")]) == 0
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert yaml.safe_load(props["drnet.mean"]) == list(MEAN)
