"""The synthetic "context" segmentation set: classes that need both resolution and context.

Each sample is drawn on the fly from ``(seed, split, index)``; nothing is stored. An image of
``image_size`` (default 128) holds, on a grey background:

* ``num_bands`` (default 1) **bands**: axis-aligned rectangles, 24-48 px thick and 96-126 px long,
  horizontal or vertical, each in its own horizontal (vertical) strip of the image. Every band
  looks the same — mid-grey with the same noise — whatever its class;
* one **tag** per band: the band's last ``tag_size`` (6) px at one of its two ends (chosen at
  random), across its whole thickness, in saturated red, green or blue. Tags are the only
  coloured pixels;
* 2-4 **lines**: straight strokes, 2 or 3 px wide, bright grey, across the image and *under* the
  bands (a band hides the part of a line it covers).

A pixel's class (:data:`CLASS_NAMES`) is determined, in this order, by:

1. inside a band (tag included): ``1 + c``, where ``c`` = 0, 1, 2 is the colour of *that band's*
   tag (red, green, blue);
2. else on a line: 4 (``line``);
3. else: 0 (``background``).

Why it needs both. *Context*: the band's class is written only in its tag. A pixel at Chebyshev
distance ``d`` from its tag (``tag_distance``, up to ``MAX_TAG_DISTANCE`` = 120 px at size 128)
can only be classified by a network whose receptive field — a square of side ``r`` centred on the
pixel — reaches the tag, i.e. ``r >= 2 d + 1``. Beyond it nothing in view depends on the class
(band appearance, shape and position, and any other band, are drawn independently of it), so
the best such a network can do is guess one of three classes. All pixels need ``r >= 241``; about
a third of the band pixels lie beyond the 70 px half-width of a ResNet-18-sized net without
dilation (``r`` ~ 141), none beyond a dilated one (``r`` ~ 285). *Resolution*: the lines are 2-3
px and the band edges are sharp; a network with output stride 32 computes its scores on a grid
32 px apart (4 x 4 at size 128) and upsamples them, so it cannot place a line, or an edge, to
within a pixel. Lines are not 1 px: scores computed 8 px apart and upsampled bilinearly cannot
mark a region much narrower than the grid between two of its points, so with 1-2 px lines every
output-stride-8 network, dilated or not, stalled at ~29 % line IoU (measured) and the class
measured the upsampling rather than the network; at 2-3 px the dilated DRN reaches ~42 %.
With ``num_bands=2`` a network must also tell which tag belongs to which band (harder to learn;
the receptive-field argument is unchanged).

Lines cover ~4.5 % of the pixels, so :data:`CLASS_WEIGHTS` weights them up for the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from drnet.data.transforms import Transform, finish_sample
from drnet.errors import DrnetValueError

CLASS_NAMES: list[str] = ["background", "red-tagged band", "green-tagged band",
                          "blue-tagged band", "line"]
PALETTE: list[tuple[int, int, int]] = [(0, 0, 0), (220, 40, 40), (40, 180, 40), (50, 80, 230),
                                       (255, 255, 255)]
CLASS_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 5.0)
LINE = 4
LINES_PER_IMAGE = (2, 4)  # inclusive
LINE_WIDTH = (2, 3)  # px, inclusive
MAX_TAG_DISTANCE = 120  # at image_size 128: band_length <= 126 with a 6 px tag at one end
SPLITS = ("train", "val", "test")

# Appearance: grey levels in [0, 1] and the tags' colours; noise is uniform in +-NOISE, the same
# on all three channels, so only tags carry colour.
BACKGROUND_GREY, BAND_GREY, LINE_GREY, NOISE = 0.3, 0.6, 0.9, 0.08
TAG_COLOURS = np.array([[0.9, 0.15, 0.15], [0.15, 0.85, 0.15], [0.15, 0.25, 0.95]])
MEAN = (0.45, 0.45, 0.45)
STD = (0.2, 0.2, 0.2)


@dataclass(frozen=True)
class ContextSample:
    """One generated sample with the geometry the label rule used."""

    image: np.ndarray  # float32 (3, H, W) in [0, 1]
    mask: np.ndarray  # int64 (H, W)
    tag_distance: np.ndarray  # int64 (H, W): Chebyshev distance to the own tag, -1 off bands


class ContextSegmentationDataset(Dataset):
    """``num_samples`` samples ``{"image", "mask", "path"}``, deterministic by
    ``(seed, split, index)`` (see the module docstring for the rule).

    Geometry at ``image_size`` 128 as in the module docstring; at other sizes the bands scale
    with the image (the tag does not).
    """

    num_classes = len(CLASS_NAMES)
    class_names = CLASS_NAMES
    palette = PALETTE
    class_weights = CLASS_WEIGHTS

    def __init__(self, num_samples: int, image_size: int = 128, seed: int = 0,
                 split: str = "train", *, num_bands: int = 1, tag_size: int = 6,
                 transforms: Transform | None = None) -> None:
        if num_samples < 1:
            raise DrnetValueError(f"num_samples must be >= 1, got {num_samples}")
        if image_size < 48:
            raise DrnetValueError("image_size must be >= 48 (bands and their tags), got "
                                  f"{image_size}")
        if split not in SPLITS:
            raise DrnetValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not 1 <= tag_size <= image_size // 8:
            raise DrnetValueError(f"tag_size must be in [1, {image_size // 8}], got {tag_size}")
        self.num_samples, self.image_size, self.seed, self.split = (
            num_samples, image_size, seed, split)
        self.tag_size = tag_size
        self.transforms = transforms
        scale = image_size / 128
        self.band_thickness = (round(24 * scale), round(48 * scale))
        self.band_length = (round(96 * scale), image_size - 2)
        if num_bands < 1 or image_size // num_bands < self.band_thickness[1] + 4:
            raise DrnetValueError("num_bands must be >= 1 and leave each band a strip of at least "
                                  f"{self.band_thickness[1] + 4} px, got {num_bands}")
        self.num_bands = num_bands
        self._coords = np.arange(image_size)

    def __len__(self) -> int:
        return self.num_samples

    def generate(self, index: int) -> ContextSample:
        """The sample at ``index`` as arrays, with its tag distances (for analysis)."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index])
        size, coords = self.image_size, self._coords
        grey = np.full((size, size), BACKGROUND_GREY)
        mask = np.zeros((size, size), dtype=np.int64)

        on_line = np.zeros((size, size), dtype=bool)
        for _ in range(rng.integers(LINES_PER_IMAGE[0], LINES_PER_IMAGE[1] + 1)):
            py, px = rng.uniform(0, size, 2)
            angle = rng.uniform(0, np.pi)
            width = rng.integers(LINE_WIDTH[0], LINE_WIDTH[1] + 1)
            offset = (coords[None, :] - px) * np.sin(angle) - (coords[:, None] - py) * np.cos(angle)
            on_line |= np.abs(offset) < width / 2
        grey[on_line] = LINE_GREY
        mask[on_line] = LINE

        colour = np.zeros((3, size, size))
        tag_distance = np.full((size, size), -1, dtype=np.int64)
        strip = size // self.num_bands  # each band in its own strip: bands never touch
        for top in range(0, strip * self.num_bands, strip):
            thickness = rng.integers(self.band_thickness[0], self.band_thickness[1] + 1)
            y0 = top + rng.integers(1, strip - thickness)
            length = rng.integers(self.band_length[0], self.band_length[1] + 1)
            x0 = rng.integers(1, size - length)
            cls = rng.integers(3)
            tx0 = x0 if rng.integers(2) == 0 else x0 + length - self.tag_size
            rows = (coords >= y0) & (coords < y0 + thickness)
            cols = (coords >= x0) & (coords < x0 + length)
            band = rows[:, None] & cols[None, :]
            grey[band] = BAND_GREY
            mask[band] = 1 + cls
            # the tag spans the band's thickness: the distance runs along the band only
            dx = np.maximum(np.maximum(tx0 - coords, coords - (tx0 + self.tag_size - 1)), 0)
            tag_distance[band] = np.broadcast_to(dx[None, :], band.shape)[band]
            colour[:, y0:y0 + thickness, tx0:tx0 + self.tag_size] = (
                TAG_COLOURS[cls][:, None, None])

        noisy = grey + rng.uniform(-NOISE, NOISE, (size, size))
        is_tag = tag_distance == 0
        image = np.where(is_tag[None], colour, noisy[None]).astype(np.float32)
        if rng.integers(2):  # vertical bands: the same picture transposed
            image, mask, tag_distance = (image.transpose(0, 2, 1), mask.T, tag_distance.T)
        return ContextSample(np.ascontiguousarray(image), np.ascontiguousarray(mask),
                             np.ascontiguousarray(tag_distance))

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.generate(index)
        out: dict[str, Any] = {
            "image": tv_tensors.Image(torch.from_numpy(sample.image)),
            "mask": tv_tensors.Mask(torch.from_numpy(sample.mask)),
            "path": f"synthetic-context/{self.split}/seed{self.seed}/{index:06d}.png",
        }
        if self.transforms is not None:
            out = self.transforms(out)
        return finish_sample(out)
