"""``--model.engine`` and ``--model.val_window_batch`` through the real CLI: validate and predict
with a checkpoint of drnet fit run in the chosen engine and give the PyTorch model's answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drnet.cli import main
from drnet.fast.engines import installed
from tests.fixtures import runs

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning"),
              pytest.mark.skipif(not installed("onnxruntime"), reason="onnxruntime missing")]
_small = runs.small_synthetic_args  # a tiny synthetic run under a root folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fit")
    assert main(["fit", *_small(root), "--trainer.max_steps", "2",
                 "--trainer.max_epochs", "1"]) == 0
    return root, next(root.rglob("last.ckpt"))


def test_validate_in_an_engine_scores_like_pytorch(trained) -> None:
    root, ckpt = trained
    slide = ["--model.val_mode", "slide", "--model.val_crop_size", "[32,32]",
             "--model.val_stride", "[16,16]"]
    assert main(["validate", *_small(root), "--ckpt_path", str(ckpt), *slide,
                 "--model.val_window_batch", "1"]) == 0
    reference = runs.last_metric(root)
    for engine in [e for e in ("onnxruntime", "openvino") if installed(e)]:
        assert main(["validate", *_small(root), "--ckpt_path", str(ckpt), *slide,
                     "--model.engine", engine, "--model.val_window_batch", "3"]) == 0
        assert runs.last_metric(root) == pytest.approx(reference, abs=5e-3)


def test_predict_in_an_engine_writes_the_same_labels(trained, tmp_path: Path) -> None:
    root, ckpt = trained
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 52, 3), dtype=np.uint8)).save(folder / "x.png")
    labels = {}
    for engine in ("torch", "onnxruntime"):
        out = tmp_path / engine
        assert main(["predict", *_small(root), "--ckpt_path", str(ckpt), "--data.init_args."
                     "predict_path", str(folder), "--model.engine", engine,
                     "--writer.output_dir", str(out)]) == 0
        labels[engine] = np.array(Image.open(next(out.rglob("x.png_labels.png"))))
    assert (labels["torch"] == labels["onnxruntime"]).mean() > 0.999


def test_an_unknown_engine_is_refused_by_the_parser(trained,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root, ckpt = trained
    with pytest.raises(SystemExit) as exit_info:  # jsonargparse's usage error, as for any flag
        main(["validate", *_small(root), "--ckpt_path", str(ckpt), "--model.engine",
              "tensorrt"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Expected a typing.Literal['auto', 'torch', 'onnxruntime', 'openvino']" in err
    assert "tensorrt" in err
