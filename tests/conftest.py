"""Shared test settings: deterministic seeds, one thread per xdist worker, data-set fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from tests.fixtures import coco, datasets

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: no oversubscription


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _help_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``drnet fit --help`` run by a test caches its text in a scratch folder, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRNET_CACHE_DIR", str(tmp_path_factory.mktemp("drnet-cache")))
        yield


# Tiny data sets in the real on-disk layouts (tests/fixtures/datasets.py), written once per
# session (per xdist worker) and shared: tests must not modify them. Fixture names:
# cityscapes_root, voc_root, drn_lists_root, folder_root, imagefolder_root, cifar10_root,
# coco_root (tests/fixtures/coco.py).
def _dataset_root(name: str, make: Callable[[Path], Path]) -> Callable[..., Path]:
    @pytest.fixture(scope="session", name=f"{name}_root")
    def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return make(tmp_path_factory.mktemp(name))
    return root


cityscapes_root = _dataset_root("cityscapes", datasets.make_cityscapes)
voc_root = _dataset_root("voc", datasets.make_voc)
drn_lists_root = _dataset_root("drn_lists", datasets.make_drn_lists)
folder_root = _dataset_root("folder", datasets.make_folder)
imagefolder_root = _dataset_root("imagefolder", datasets.make_imagefolder)
cifar10_root = _dataset_root("cifar10", datasets.make_cifar10)
coco_root = _dataset_root("coco", coco.make_coco)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, offline Hugging Face hub cache (fill it with tests/fixtures/weights.py's
    make_hub_cache): HF_HUB_CACHE/HF_HUB_OFFLINE as a user sets them; huggingface_hub reads
    both at import, so its constants are set too."""
    constants = pytest.importorskip("huggingface_hub.constants")
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache
