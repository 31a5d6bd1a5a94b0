"""Paired transforms: image and mask stay aligned under any scale/rotate/crop/flip, and crops pad
masks with the ignore index."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import tv_tensors

from drnet.data.transforms import (
    RandomScale,
    segmentation_eval_transforms,
    segmentation_train_transforms,
)

IGNORE = 255
OFFSET = 1000  # mask value of source pixel (y, x) is OFFSET + y * W + x: never IGNORE


def coordinate_sample(height: int, width: int) -> dict:
    """Image channels 0/1 encode y/x (0..255 over the image), channel 2 is 255 inside the image;
    the mask encodes (y, x) exactly."""
    y, x = np.mgrid[:height, :width]
    image = np.stack([np.round(y * 255 / (height - 1)), np.round(x * 255 / (width - 1)),
                      np.full_like(y, 255)]).astype(np.uint8)
    return {"image": tv_tensors.Image(torch.from_numpy(image)),
            "mask": tv_tensors.Mask(torch.from_numpy(OFFSET + y * width + x)), "path": "p"}


@settings(max_examples=60, deadline=None)
@given(height=st.integers(8, 40), width=st.integers(8, 40),
       crop=st.tuples(st.integers(4, 56), st.integers(4, 56)),
       scale=st.tuples(st.floats(0.5, 2.0), st.floats(0.0, 1.0)),
       rotate=st.sampled_from([0.0, 10.0, 45.0]), flip=st.booleans(),
       seed=st.integers(0, 2**16))
def test_image_and_mask_stay_aligned(height: int, width: int, crop: tuple[int, int],
                                     scale: tuple[float, float], rotate: float, flip: bool,
                                     seed: int) -> None:
    low = scale[0]
    high = low + scale[1] * (2.0 - low)
    transform = segmentation_train_transforms(crop, (low, high), rotate, flip,
                                              mean=(0, 0, 0), std=(1, 1, 1), ignore_index=IGNORE)
    torch.manual_seed(seed)
    out = transform(coordinate_sample(height, width))
    image, mask = out["image"], out["mask"]
    assert (image.shape, image.dtype) == ((3, *crop), torch.float32)
    assert (mask.shape, mask.dtype) == (crop, torch.int64)
    assert out["path"] == "p"

    inside = image[2]  # fraction of the bilinear sample that fell inside the source image
    valid = mask != IGNORE
    # a mask pixel is ignore exactly where its nearest source pixel is outside the image: then
    # the bilinear sample is at most half inside; else that nearest pixel alone weighs >= 1/4
    assert bool((inside[~valid] <= 0.51).all()), "ignore pixels where the image has content"
    assert bool((inside[valid] >= 0.24).all()), "mask labels where the image is padding"

    m = mask[valid] - OFFSET
    assert bool(((m >= 0) & (m < height * width)).all())
    core = inside[valid] > 0.999  # samples not blended with the fill
    if not bool(core.any()):
        return
    mask_y, mask_x = (m // width)[core].double(), (m % width)[core].double()
    image_y = image[0][valid][core].double() * (height - 1)
    image_x = image[1][valid][core].double() * (width - 1)
    # nearest (mask) vs bilinear (image) sampling differ by <= half a pixel per resampling, in
    # source pixels 0.5 / scale; 8-bit coordinates add (size - 1) / 510; the antialiased
    # downscale can shift values near the border by another 0.5 / scale
    tolerance = 0.5 + 1.0 / low + max(height, width) / 510
    assert float((mask_y - image_y).abs().amax()) <= tolerance, "rows misaligned"
    assert float((mask_x - image_x).abs().amax()) <= tolerance, "columns misaligned"


def test_crop_pads_mask_with_ignore_and_image_with_zero() -> None:
    sample = coordinate_sample(10, 12)
    out = segmentation_train_transforms((16, 20), None, 0.0, False, mean=(0, 0, 0),
                                        std=(1, 1, 1), ignore_index=IGNORE)(sample)
    padded = out["mask"] == IGNORE
    assert int(padded.sum()) == 16 * 20 - 10 * 12
    assert bool((out["image"][:, padded] == 0).all())
    # the unpadded 10x12 block is the source, unshifted and whole
    rows, cols = torch.nonzero(~padded, as_tuple=True)
    top, left = int(rows.min()), int(cols.min())
    block = out["mask"][top:top + 10, left:left + 12]
    assert torch.equal(block, sample["mask"].as_subclass(torch.Tensor))


def test_crop_pads_with_a_custom_ignore_index() -> None:
    out = segmentation_train_transforms(8, None, 0.0, False, ignore_index=-1)(
        coordinate_sample(5, 6))
    assert int((out["mask"] == -1).sum()) == 64 - 30


def test_random_scale_sizes_by_hand() -> None:
    sample = coordinate_sample(11, 13)
    assert RandomScale((2.0, 2.0))(sample)["mask"].shape == (22, 26)
    assert RandomScale((0.5, 0.5))(sample)["image"].shape == (3, 6, 6)  # round(5.5), round(6.5)
    with pytest.raises(ValueError, match="scale_range"):
        RandomScale((0.0, 1.0))


def test_mask_resampling_by_hand() -> None:
    """Masks take the source pixel whose centre is nearest to each output pixel's centre
    (nearest-exact): output pixel i of a 12 -> 6 downscale is centred on source coordinate
    2i + 1 (pixel centres at half-integers), so rows and columns 1, 3, 5, ... survive; plain
    nearest (floor(i * 2)) would keep 0, 2, 4, ... and shift labels by one source pixel. A 4 ->
    6 upscale maps output i to source floor((i + 0.5) * 4 / 6): 0, 1, 1, 2, 3, 3 (nearest:
    floor(i * 4 / 6) = 0, 0, 1, 2, 2, 3)."""
    half = RandomScale((0.5, 0.5))(coordinate_sample(12, 12))["mask"] - OFFSET
    odd = torch.arange(1, 12, 2)
    assert torch.equal(half, odd[:, None] * 12 + odd[None, :])
    up = RandomScale((1.5, 1.5))(coordinate_sample(4, 4))["mask"] - OFFSET
    source = torch.tensor([0, 1, 1, 2, 3, 3])
    assert torch.equal(up, source[:, None] * 4 + source[None, :])


def test_eval_transforms_only_normalise() -> None:
    sample = coordinate_sample(9, 7)
    out = segmentation_eval_transforms(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))(sample)
    raw = sample["image"].as_subclass(torch.Tensor).double() / 255
    expected = (raw - torch.tensor([0.5, 0.25, 0.0])[:, None, None].double()) / torch.tensor(
        [0.5, 0.25, 2.0])[:, None, None].double()
    torch.testing.assert_close(out["image"].double(), expected, atol=1e-6, rtol=0)
    assert torch.equal(out["mask"], sample["mask"])


@pytest.mark.parametrize(("kwargs", "match"), [({"crop_size": 0}, "crop_size"),
                                               ({"crop_size": (4, 4, 4)}, "crop_size"),
                                               ({"crop_size": 8, "rotate": -1.0}, "rotate")])
def test_bad_arguments_name_themselves(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        segmentation_train_transforms(**kwargs)
