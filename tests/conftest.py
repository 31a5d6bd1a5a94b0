"""Shared test settings: deterministic seeds, one thread per xdist worker, data-set fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.fixtures import datasets

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: no oversubscription


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# Tiny data sets in the real on-disk layouts (tests/fixtures/datasets.py), written once per
# session (per xdist worker) and shared: tests must not modify them.
@pytest.fixture(scope="session")
def cityscapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return datasets.make_cityscapes(tmp_path_factory.mktemp("cityscapes"))


@pytest.fixture(scope="session")
def voc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return datasets.make_voc(tmp_path_factory.mktemp("voc"))


@pytest.fixture(scope="session")
def drn_lists_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return datasets.make_drn_lists(tmp_path_factory.mktemp("drn_lists"))


@pytest.fixture(scope="session")
def folder_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return datasets.make_folder(tmp_path_factory.mktemp("folder"))


@pytest.fixture(scope="session")
def imagefolder_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return datasets.make_imagefolder(tmp_path_factory.mktemp("imagefolder"))


@pytest.fixture(scope="session")
def cifar10_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return datasets.make_cifar10(tmp_path_factory.mktemp("cifar10"))
