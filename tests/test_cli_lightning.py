"""``drnet fit|validate|test|predict`` (LightningCLI) with every shipped config family on
fixtures in the real on-disk layouts, and the checkpoint round trip on the synthetic set."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drnet.cli import main
from drnet.configs import CONFIG_DIR, list_configs
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

ON_CPU = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.strategy", "auto",
          "--trainer.precision", "32-true", "--trainer.sync_batchnorm", "false"]
NO_DOWNLOAD = ["--model.init_args.pretrained_backbone", "null"]
SMALL_CROP = ["--data.init_args.crop_size", "32", "--data.init_args.num_workers", "0"]

# config -> (fixture holding the data root or None, extra arguments keeping it small and offline)
CASES = {
    "cityscapes_drn_d_22": ("cityscapes_root", NO_DOWNLOAD + SMALL_CROP),
    "voc_deeplabv3_resnet101_os16": ("voc_root", NO_DOWNLOAD + SMALL_CROP),
    "drn_lists_drn_d_38": ("drn_lists_root", NO_DOWNLOAD + SMALL_CROP),
    "folder_deeplabv3_resnet50": ("folder_root", [*NO_DOWNLOAD, *SMALL_CROP,
                                                  "--data.init_args.num_classes", "3"]),
    "imagenet_drn_c_26": ("imagefolder_root", ["--data.init_args.image_size", "32",
                                               "--data.init_args.resize_size", "36",
                                               "--data.init_args.num_workers", "0"]),
    "cifar10_resnet18_os8": ("cifar10_root", ["--data.init_args.num_workers", "0"]),
    "synthetic_context": (None, ["--data.init_args.num_train", "8",
                                 "--data.init_args.num_val", "4",
                                 "--data.init_args.image_size", "64"]),
    "synthetic_classification": (None, []),
    "detection_synthetic_fasterrcnn_resnet18_dc5": (None, ["--data.init_args.num_train", "4",
                                                           "--data.init_args.num_val", "2",
                                                           "--data.init_args.batch_size", "2"]),
    "detection_coco_fasterrcnn_resnet50_dc5": ("coco_root", [
        *NO_DOWNLOAD, "--model.init_args.min_size", "64", "--model.init_args.max_size", "96",
        "--data.init_args.num_workers", "0", "--model.init_args.model_kwargs",
        '{"representation_size": 64, "detector_kwargs": {"box_batch_size_per_image": 16, '
        '"rpn_post_nms_top_n_test": 50}}']),
}


CLASSIFICATION = {"imagenet_drn_c_26", "cifar10_resnet18_os8", "synthetic_classification"}


def test_every_shipped_config_is_exercised() -> None:
    assert set(CASES) == set(list_configs())


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_dev_run(name: str, tmp_path: Path, request: pytest.FixtureRequest,
                      capsys: pytest.CaptureFixture[str]) -> None:
    fixture, extra = CASES[name]
    root = ["--data.init_args.root", str(request.getfixturevalue(fixture))] if fixture else []
    argv = ["fit", "--config", str(CONFIG_DIR / f"{name}.yaml"), *ON_CPU, *root, *extra,
            "--trainer.fast_dev_run", "true", "--trainer.default_root_dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # one optimiser step ran (plain progress: stdout is not a tty) with a finite, positive loss
    loss = re.search(r"^step 1/1 .* loss (\S+)", out, re.MULTILINE)
    assert loss, out
    assert 0 < float(loss[1]) < math.inf
    # and one validation batch was scored with the task's own metric (segmentation: in the
    # class table's last line, in percent; the others: in the progress line)
    if name.startswith("detection") or name in CLASSIFICATION:
        monitor = "val/map" if name.startswith("detection") else "val/top1"
        value = re.search(rf"^epoch 0 validation: .*{monitor} (\S+)", out, re.MULTILINE)
        scale = 1.0
    else:
        value, scale = re.search(r"^mIoU (\S+)  pixel acc", out, re.MULTILINE), 100.0
    assert value, out
    assert 0 <= float(value[1]) <= scale


def _metrics(root: Path) -> list[dict[str, str]]:
    files = sorted(root.rglob("metrics.csv"), key=lambda p: p.stat().st_mtime_ns)
    assert files, f"no CSV log under {root}"
    with files[-1].open() as handle:
        return list(csv.DictReader(handle))


def test_fit_checkpoint_validate_resume_and_predict(tmp_path: Path) -> None:
    run = tmp_path / "run"
    small = ["--data.init_args.num_train", "16", "--data.init_args.num_val", "4",
             "--data.init_args.image_size", "64", "--data.init_args.batch_size", "4",
             "--trainer.val_check_interval", "null", "--trainer.default_root_dir", str(run)]
    assert main(["fit", *small, "--trainer.max_steps", "4", "--trainer.max_epochs", "1"]) == 0
    best, last = runs.checkpoint(run, "best"), runs.checkpoint(run, "last")
    assert best.is_file()
    assert last.is_file()
    fitted = [r for r in _metrics(run) if r.get("val/mIoU")]
    assert fitted

    # Evaluating the checkpoint in a fresh run reports the mIoU the fit logged.
    assert main(["validate", *small, "--ckpt_path", str(last)]) == 0
    validated = [r for r in _metrics(run) if r.get("val/mIoU")]
    assert float(validated[-1]["val/mIoU"]) == pytest.approx(float(fitted[-1]["val/mIoU"]),
                                                             abs=1e-6)

    # --ckpt_path last resumes: one more epoch continues the step count.
    assert main(["fit", *small, "--trainer.max_epochs", "2", "--trainer.max_steps", "-1",
                 "--ckpt_path", "last"]) == 0
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["global_step"] == 8  # 2 epochs x 4 steps: the second epoch ran, once

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a", (64, 64)), ("b b", (50, 70))):  # odd size, a space in the name
        pixels = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{name}.png")
    out = tmp_path / "predictions"
    assert main(["predict", *small, "--ckpt_path", str(last), "--data.init_args.predict_path",
                 str(images), "--writer.output_dir", str(out)]) == 0
    labels = Image.open(out / "b b.png_labels.png")
    assert labels.size == (70, 50)
    assert max(np.asarray(labels).ravel()) < 5
    assert Image.open(out / "a.png_overlay.png").mode == "RGB"
