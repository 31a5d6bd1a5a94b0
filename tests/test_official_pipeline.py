"""Official weights reproduce the official pipeline (issue 17), through the real CLI.

The reference is written here from the official recipe (fyu/drn ``segment.py test``): PIL image
-> ``ToTensor`` -> ``Normalize`` with the official Cityscapes ``info.json`` statistics -> DRNSeg
forward (transposed-conv upsampling, LogSoftmax) -> argmax -> 8-bit PNG. The checkpoint is a
random one in the official layout, placed where ``torch.hub`` caches the official download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from drnet.cli import main
from tests.official_drn_layout import (
    official_drnseg_d_22_forward,
    official_state_dict,
    to_drnseg_layout,
    trained_like,
)

# fyu/drn datasets/cityscapes/info.json, as published (not drnet's copy).
OFFICIAL_INFO = {"mean": [0.29010095242892997, 0.32808144844279574, 0.28696394422942517],
                 "std": [0.1829540508368939, 0.18656561047509476, 0.18447508988480435]}
CPU = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.strategy", "auto",
       "--trainer.precision", "32-true", "--trainer.sync_batchnorm", "false",
       "--data.num_workers", "0"]
CONFIG = str(Path(__file__).parents[1] / "configs" / "cityscapes_drn_d_22.yaml")


@pytest.fixture(scope="module")
def official_cityscapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """TORCH_HOME whose hub cache holds a random drn_d_22_cityscapes.pth (official layout)."""
    home = tmp_path_factory.mktemp("torch_home")
    state = trained_like(to_drnseg_layout(official_state_dict("drn_d_22", seed=3), "drn_d_22",
                                          num_classes=19, seed=4))
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(state, folder / "drn_d_22_cityscapes.pth")
    return home, state


def _photos(folder: Path) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(7)
    paths = []
    for name, (h, w) in (("frankfurt_000000", (64, 96)), ("lindau_000001", (48, 80)),
                         ("munster_000002", (40, 56))):
        y, x = np.mgrid[:h, :w]
        smooth = np.stack([(x * 3 + y) % 256, (y * 5) % 256, (x * y) % 256], -1)
        pixels = (0.7 * smooth + 0.3 * rng.integers(0, 256, (h, w, 3))).astype(np.uint8)
        paths.append(folder / f"{name}_leftImg8bit.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def saved_config(root: Path) -> str:
    """The config.yaml the last drnet run under ``root`` saved."""
    return max(root.rglob("config.yaml"), key=lambda p: p.stat().st_mtime_ns).read_text()


def official_labels(state: dict, image: Path) -> np.ndarray:
    """The official test path for one image, written from the recipe."""
    transform = T.Compose([T.ToTensor(), T.Normalize(OFFICIAL_INFO["mean"], OFFICIAL_INFO["std"])])
    x = transform(Image.open(image).convert("RGB"))[None]
    log_probs = official_drnseg_d_22_forward(state, x)
    return log_probs.argmax(dim=1)[0].numpy().astype(np.uint8)


def test_drnet_predict_with_cityscapes_weights_gives_the_official_labels(
        official_cityscapes: tuple[Path, dict], cityscapes_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home, state = official_cityscapes
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("DRNET_WEIGHTS_DIR", raising=False)
    images = _photos(tmp_path / "photos")
    out = tmp_path / "predictions"
    code = main(["predict", "--config", CONFIG, *CPU, "--data.root", str(cityscapes_root),
                 "--model.pretrained", "cityscapes", "--data.predict_path", str(images[0].parent),
                 "--writer.output_dir", str(out),
                 "--trainer.default_root_dir", str(tmp_path / "run")])
    assert code == 0
    for image in images:
        expected = official_labels(state, image)
        assert len(np.unique(expected)) > 3  # a picture with several classes, not a blank one
        got = np.asarray(Image.open(out / f"{image.name}_labels.png"))
        assert got.shape == expected.shape
        assert np.array_equal(got, expected), f"{image.name}: {np.mean(got != expected):.2%} differ"
    # The saved config says which statistics were used.
    assert "0.29010095242892997" in saved_config(tmp_path / "run")


def test_imagenet_statistics_would_not_give_the_official_labels(
        official_cityscapes: tuple[Path, dict], cityscapes_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug this guards against: the same run normalising with ImageNet statistics (given
    explicitly, so drnet obeys with a warning) disagrees with the official labels."""
    home, state = official_cityscapes
    monkeypatch.setenv("TORCH_HOME", str(home))
    images = _photos(tmp_path / "photos")
    out = tmp_path / "predictions"
    with pytest.warns(UserWarning, match="expect mean"):
        code = main(["predict", "--config", CONFIG, *CPU, "--data.root", str(cityscapes_root),
                     "--model.pretrained", "cityscapes", "--data.predict_path", str(images[0]),
                     "--data.mean", "[0.485,0.456,0.406]", "--data.std", "[0.229,0.224,0.225]",
                     "--writer.output_dir", str(out),
                     "--trainer.default_root_dir", str(tmp_path / "run")])
    assert code == 0
    got = np.asarray(Image.open(out / f"{images[0].name}_labels.png"))
    assert np.mean(got != official_labels(state, images[0])) > 0.05


def test_a_data_set_with_other_statistics_is_refused_when_predicting(
        official_cityscapes: tuple[Path, dict], drn_lists_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home, _ = official_cityscapes
    monkeypatch.setenv("TORCH_HOME", str(home))
    other = tmp_path / "lists"
    other.mkdir()
    for path in drn_lists_root.iterdir():
        (other / path.name).symlink_to(path)
    (other / "info.json").unlink()
    (other / "info.json").write_text('{"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}')
    args = ["predict", "--model", "drnet.tasks.SegmentationTask", "--model.model", "drnseg_d_22",
            "--model.pretrained", "cityscapes", "--data", "drnet.data.DRNListDataModule",
            "--data.root", str(other), *CPU, "--writer.output_dir", str(tmp_path / "out"),
            "--trainer.default_root_dir", str(tmp_path / "run")]
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[0]
    assert "DRNListDataModule normalises with mean (0.5000, 0.5000, 0.5000)" in error
    assert "drnseg_d_22 cityscapes weights" in error
    assert "--data.mean" in error
    # The official list layout (info.json = the Cityscapes statistics) is accepted as it is.
    args[args.index(str(other))] = str(drn_lists_root)
    assert main(args) == 0
