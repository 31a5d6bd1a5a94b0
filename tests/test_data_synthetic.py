"""The synthetic sets: deterministic by seed, fast, and labelled by their documented rule
(recomputed here from the image alone)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from drnet.data import ContextSegmentationDataset, GratingClassification

# Grey levels documented in drnet.data.segmentation.synthetic: background 0.3, band 0.6,
# line 0.9 (+-0.08).
BACKGROUND, BAND, LINE = 0, 1, 2


def components(region: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a boolean image, as boolean masks: every pixel takes the
    largest index among its neighbours in the region until nothing changes."""
    label = np.where(region, np.arange(region.size).reshape(region.shape) + 1, 0)
    while True:
        grown = label.copy()
        grown[1:] = np.maximum(grown[1:], label[:-1])
        grown[:-1] = np.maximum(grown[:-1], label[1:])
        grown[:, 1:] = np.maximum(grown[:, 1:], label[:, :-1])
        grown[:, :-1] = np.maximum(grown[:, :-1], label[:, 1:])
        grown[~region] = 0
        if np.array_equal(grown, label):
            return [label == value for value in np.unique(label[region])]
        label = grown


def labels_from_image(image: np.ndarray, num_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """The documented rule applied to the picture: (expected mask, Chebyshev tag distance)."""
    chroma = image.max(0) - image.min(0)
    tag = chroma > 0.3
    grey = np.digitize(image[0], [0.45, 0.75])  # BACKGROUND, BAND, LINE
    mask = np.where(grey == LINE, 4, 0)
    distance = np.full(mask.shape, -1)
    bands = components(tag | ((grey == BAND) & ~tag))
    assert len(bands) == num_bands
    ys, xs = np.mgrid[:mask.shape[0], :mask.shape[1]]
    for band in bands:
        rows, cols = np.nonzero(band)
        assert band[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all(), "a rectangle"
        tag_colours = np.unique(image[:, band & tag].argmax(0))
        assert len(tag_colours) == 1, "one tag colour per band"
        mask[band] = 1 + tag_colours[0]
        ty, tx = np.nonzero(band & tag)
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        caps = [(top, bottom, left, left + 5), (top, bottom, right - 5, right),  # horizontal
                (top, top + 5, left, right), (bottom - 5, bottom, left, right)]  # vertical
        assert (ty.min(), ty.max(), tx.min(), tx.max()) in caps, "a 6 px cap at one end"
        assert len(ty) == (ty.max() - ty.min() + 1) * (tx.max() - tx.min() + 1), "a solid cap"
        dy = np.maximum(np.maximum(ty.min() - ys, ys - ty.max()), 0)
        dx = np.maximum(np.maximum(tx.min() - xs, xs - tx.max()), 0)
        distance[band] = np.maximum(dy, dx)[band]
    return mask, distance


@pytest.mark.parametrize("num_bands", [1, 2])
def test_labels_follow_the_documented_rule(num_bands: int) -> None:
    ds = ContextSegmentationDataset(40, seed=3, num_bands=num_bands)
    far, band_pixels = 0, 0
    for index in range(len(ds)):
        sample = ds.generate(index)
        mask, distance = labels_from_image(sample.image, num_bands)
        np.testing.assert_array_equal(sample.mask, mask)
        np.testing.assert_array_equal(sample.tag_distance, distance)
        assert distance.max() <= 120
        far += int((distance > 70).sum())
        band_pixels += int((distance >= 0).sum())
    # "about a third of the band pixels lie beyond 70 px" of their tag (module docstring)
    assert 0.25 < far / band_pixels < 0.4


def test_thin_lines_and_context_are_both_present() -> None:
    ds = ContextSegmentationDataset(30, seed=1)
    masks = np.stack([ds.generate(i).mask for i in range(len(ds))])
    frequency = np.bincount(masks.ravel(), minlength=5) / masks.size
    assert frequency[4] == frequency.min()
    assert 0.005 < frequency[4] < 0.05
    assert np.argmax(ds.class_weights) == 4
    # a line is 2-3 px: most line pixels lie in a 2x2 block of line pixels (a 1 px line has
    # none off crossings), none in a 4x4 block away from crossings
    lines = masks == 4
    assert _in_block(lines, 2).sum() > 0.9 * lines.sum()
    assert _in_block(lines, 4).sum() < 0.05 * lines.sum()  # only where two lines cross


def _in_block(mask: np.ndarray, k: int) -> np.ndarray:
    """Pixels of ``mask`` (N, H, W) that lie in some k x k block of True pixels."""
    n, h, w = mask.shape
    full = np.ones((n, h - k + 1, w - k + 1), dtype=bool)  # block with top-left corner here
    for dy in range(k):
        for dx in range(k):
            full &= mask[:, dy:h - k + 1 + dy, dx:w - k + 1 + dx]
    covered = np.zeros_like(mask)
    for dy in range(k):
        for dx in range(k):
            covered[:, dy:h - k + 1 + dy, dx:w - k + 1 + dx] |= full
    return covered


def test_deterministic_by_seed_split_and_index() -> None:
    a = ContextSegmentationDataset(10, seed=7)
    b = ContextSegmentationDataset(10, seed=7)
    first = a[4]
    for i in (9, 0, 4):  # access order does not matter
        b[i]
    assert torch.equal(b[4]["image"], first["image"])
    assert torch.equal(b[4]["mask"], first["mask"])
    assert not torch.equal(ContextSegmentationDataset(10, seed=8)[4]["mask"], first["mask"])
    assert not torch.equal(ContextSegmentationDataset(10, seed=7, split="val")[4]["mask"],
                           first["mask"])
    assert first["path"] == "synthetic-context/train/seed7/000004.png"
    assert (first["image"].shape, first["image"].dtype) == ((3, 128, 128), torch.float32)
    assert (first["mask"].shape, first["mask"].dtype) == ((128, 128), torch.int64)


def test_generation_is_fast() -> None:
    ds = ContextSegmentationDataset(100)
    ds[0]
    rounds = []
    for start in range(0, 100, 20):  # the best of 5 rounds: robust to a busy machine
        begin = time.perf_counter()
        for i in range(start, start + 20):
            ds[i]
        rounds.append((time.perf_counter() - begin) / 20)
    assert min(rounds) < 0.005  # < 5 ms per 128x128 sample


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"num_samples": 0}, "num_samples"), ({"num_samples": 1, "image_size": 32}, "image_size"),
    ({"num_samples": 1, "split": "dev"}, "split"), ({"num_samples": 1, "tag_size": 40}, "tag"),
    ({"num_samples": 1, "num_bands": 3}, "num_bands"),
])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ContextSegmentationDataset(**kwargs)
    with pytest.raises(IndexError):
        ContextSegmentationDataset(3)[3]


def test_other_image_sizes_keep_the_rule() -> None:
    ds = ContextSegmentationDataset(5, image_size=64, seed=2)
    for i in range(5):
        sample = ds.generate(i)
        assert sample.mask.shape == (64, 64)
        np.testing.assert_array_equal(sample.mask, labels_from_image(sample.image, 1)[0])


def test_gratings_encode_the_class_in_their_orientation() -> None:
    ds = GratingClassification(8, num_classes=4, image_size=32, seed=0)
    assert [ds[i]["target"] for i in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert torch.equal(ds[5]["image"], GratingClassification(8, 4, 32, seed=0)[5]["image"])
    for i in range(4):
        image = ds[i]["image"].mean(0).numpy()
        # the dominant spatial frequency points along the class angle k * 45 degrees
        spectrum = np.abs(np.fft.fftshift(np.fft.fft2(image - image.mean())))
        fy, fx = np.unravel_index(spectrum.argmax(), spectrum.shape)
        angle = np.degrees(np.arctan2(fy - 16, fx - 16)) % 180
        assert min(abs(angle - 45 * i), 180 - abs(angle - 45 * i)) < 12
