"""``drnet fit/validate/predict`` with the synthetic detection config: checkpoint round trip and
boxes drawn on the predicted images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drnet import create_model
from drnet.cli import main
from drnet.configs import CONFIG_DIR
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def test_fit_validate_predict(tmp_path: Path) -> None:
    run = tmp_path / "run"
    small = ["--config", str(CONFIG_DIR / "detection_synthetic_fasterrcnn_resnet18_dc5.yaml"),
             "--data.init_args.num_train", "2", "--data.init_args.num_val", "2",
             "--data.init_args.image_size", "64", "--data.init_args.object_size", "[4, 24]",
             "--data.init_args.batch_size", "2", "--model.init_args.min_size", "64",
             "--model.init_args.max_size", "96", "--trainer.val_check_interval", "null",
             "--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(run)]
    assert main(["fit", *small, "--trainer.max_steps", "1"]) == 0  # one epoch, then val
    last = runs.checkpoint(run)
    assert last.is_file()
    fitted = runs.metric_rows(run, "val/map")
    assert main(["validate", *small, "--ckpt_path", str(last)]) == 0
    validated = runs.metric_rows(run, "val/map")
    assert float(validated[-1]["val/map"]) == pytest.approx(float(fitted[-1]["val/map"]))

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a", (64, 64)), ("b b", (50, 70))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
            images / f"{name}.png")
    out = tmp_path / "predictions"
    assert main(["predict", *small, "--ckpt_path", str(last), "--data.init_args.predict_path",
                 str(images), "--model.init_args.predict_min_score", "0",
                 "--writer.output_dir", str(out)]) == 0
    assert Image.open(out / "b b.png_boxes.png").size == (70, 50)
    assert Image.open(out / "a.png_boxes.png").mode == "RGB"
    with (out / "detections.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    # The rows are what the checkpoint's network finds on each file read as [0, 1] floats
    # (the detector normalises itself), in the file's own pixels: rebuilt here without
    # Lightning, one image at a time as predict batches them.
    state = torch.load(last, map_location="cpu", weights_only=True)
    hp = state["hyper_parameters"]
    model = create_model(hp["model"], num_classes=hp["num_classes"], min_size=64, max_size=96,
                         **hp["model_kwargs"])
    model.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
    names = ["background", "square", "disc", "triangle"]
    for name in ("a.png", "b b.png"):
        image = torch.from_numpy(np.asarray(Image.open(images / name))).permute(2, 0, 1) / 255
        with torch.no_grad():
            expected = model.eval()([image])[0]
        got = [r for r in rows if Path(r["path"]).name == name]
        assert len(got) == len(expected["boxes"]) > 0, name
        for row, box, score, label in zip(got, expected["boxes"].tolist(),
                                          expected["scores"].tolist(),
                                          expected["labels"].tolist(), strict=True):
            assert (int(row["label"]), row["class"]) == (label, names[label])
            assert float(row["score"]) == pytest.approx(score, abs=1e-4)
            assert [float(row[k]) for k in ("x1", "y1", "x2", "y2")] == pytest.approx(
                box, abs=0.051)
